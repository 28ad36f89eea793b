"""Tables of this wing (filled in by its implementation)."""
