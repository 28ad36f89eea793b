"""ClaimVault: medical billing built so that patient data cannot leak."""

__version__ = "0.1.0"
