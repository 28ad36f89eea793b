"""Remittance posting: 835 files matched to claims and posted per service line into a two-bucket ledger
(insurance and patient balances), with manual (paper EOB) postings, patient payments and a denial work queue."""
