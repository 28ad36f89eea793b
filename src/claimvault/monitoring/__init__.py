"""Monitoring: alerts and their delivery; insider-threat detection builds on it."""
