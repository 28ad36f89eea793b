"""Encounters: a visit's service lines and diagnoses, the clinical input of a claim."""
