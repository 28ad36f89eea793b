"""The organization's fee schedule: the charge of each procedure (and modifier), by effective date."""
