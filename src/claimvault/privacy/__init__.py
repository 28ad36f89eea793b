"""Privacy: retention holds (minimal here; the privacy wing extends them)."""
