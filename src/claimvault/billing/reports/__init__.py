"""A/R reports: aging by payer and by patient, denials by reason and payer, collections and days in A/R, as of a
date, rendered as formula-safe CSV or as PDF with charts."""
