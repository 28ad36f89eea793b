"""FHIR R4/R4B for ClaimVault: reading bundles into import plans, and building Patient, Coverage and Claim views."""
