"""Code sets (ICD-10-CM, HCPCS Level II, CPT by format or licensed file, NCCI PTP and MUE), versioned by effective
date."""
