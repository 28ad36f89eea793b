"""Eligibility checks: a 270 inquiry per coverage through a clearinghouse transport, the 271 answer summarised
(active or not, copay, deductible, coinsurance, out-of-pocket) and kept, encrypted, with the coverage."""
