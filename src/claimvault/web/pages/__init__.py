"""Server-rendered pages (strict CSP, no inline script): login, MFA enrolment and challenge, password change,
security history."""
