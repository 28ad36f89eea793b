"""Break-the-glass: time-boxed, justified, audited and reviewed emergency access to a patient's record."""
