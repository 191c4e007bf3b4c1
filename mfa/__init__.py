"""TOTP enrolment and verification (pure library)."""
