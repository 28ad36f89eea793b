"""Claims: the claim document, its lifecycle, the scrubber and the 837P release."""
