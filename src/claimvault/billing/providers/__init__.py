"""Providers (billing, rendering, referring) and service facilities of an organization."""
