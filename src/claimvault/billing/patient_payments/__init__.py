"""Patient payments: cash, check and card payments applied to claims, account credit, refunds, approved
write-offs and payment plans."""
