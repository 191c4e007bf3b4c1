"""TOTP secrets, provisioning URIs, QR codes and replay-safe verification (RFC 6238)."""

from __future__ import annotations

import base64
import hmac
import html
import re
import secrets
from datetime import datetime

import pyotp
import segno

from mfa.errors import InvalidCode, ReplayedCode

# Authenticator apps assume SHA1, 6 digits and 30 s; anything else breaks some of them.
PERIOD_SECONDS = 30
DIGITS = 6
# One step either side tolerates clock drift and a code typed just as it rolled over.
VALID_WINDOW_STEPS = 1

_SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block recommended by RFC 4226 §4
_CODE_RE = re.compile(rf"[0-9]{{{DIGITS}}}")  # ASCII only: str.isdigit() also accepts "٣"


def new_secret() -> str:
    """Return a fresh 160-bit TOTP secret as 32 base32 characters without padding."""
    # 20 bytes encode to exactly 32 base32 characters, so there is never padding to strip.
    return base64.b32encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """Return the ``otpauth://totp/Issuer:account`` URI an authenticator app enrols from."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str, *, label: str = "QR code to scan with your authenticator app") -> str:
    """Return ``uri`` as an inline SVG QR code, rendered locally, ready to embed in HTML."""
    # Rendered here rather than by a chart service: the URI carries the secret.
    # An opaque light colour keeps the code scannable on dark page themes.
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title=label, svgclass="totp-qr"
    )
    escaped = html.escape(label, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escaped}" ', 1)


def verify(secret: str, code: str, *, now: datetime, last_used_step: int | None) -> int:
    """Return the time step ``code`` belongs to, or raise InvalidCode / ReplayedCode."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    candidate = "".join(code.split())  # apps show "123 456"; users paste it that way
    if not _CODE_RE.fullmatch(candidate):
        raise InvalidCode()

    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
    current = int(now.timestamp()) // PERIOD_SECONDS
    matched: list[int] = []
    # Compare against every step in the window without stopping early, so timing
    # does not reveal which step (if any) matched.
    for step in range(current - VALID_WINDOW_STEPS, current + VALID_WINDOW_STEPS + 1):
        if hmac.compare_digest(candidate.encode(), totp.generate_otp(step).encode()):
            matched.append(step)
    if not matched:
        raise InvalidCode()
    # RFC 6238 §5.2: a step at or before the last accepted one is a replay, even
    # if it is still inside the window.
    fresh = [step for step in matched if last_used_step is None or step > last_used_step]
    if not fresh:
        raise ReplayedCode()
    # The earliest fresh step: burning a later one would refuse the user's next code.
    return fresh[0]
