"""Payments: a tokenizing processor interface, stored payment methods (no card numbers), bank accounts."""
