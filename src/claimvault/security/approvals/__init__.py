"""The two-person rule: requests that a different user must approve."""
