"""X12 005010 interchanges: the 837P writer, the pyx12 validation gate, 999 and 277CA acknowledgements."""
