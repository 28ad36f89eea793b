"""Accounts: organizations (practices and billing companies), users, role memberships and login sessions."""
