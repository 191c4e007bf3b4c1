"""The security headers of our answers: those every answer carries, and an HTML page's.

Flask's answers get them from an `after_request` hook (idp.app); the answers made in front
of Flask (idp.fastpath, idp.refusals) add the same lists themselves.
"""

from __future__ import annotations

from collections.abc import Iterable


def every_answer(https: bool) -> list[tuple[str, str]]:
    headers = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
    if https:
        headers.append(("Strict-Transport-Security", "max-age=63072000"))
    return headers


def html_page(
    form_targets: Iterable[str] = (), image_sources: Iterable[str] = (), scripts: bool = False
) -> list[tuple[str, str]]:
    """A page's: its forms post here, or (a page of a sign-in) lead on to its client; only
    the passkey pages run a script, this origin's file, never an inline one."""
    targets = " ".join(["'self'", *form_targets])
    images = " ".join(["'self'", "data:", *image_sources])
    script_src = "script-src 'self'; " if scripts else ""
    return [
        ("X-Frame-Options", "DENY"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; "
            f"{script_src}img-src {images}; "
            f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("Cache-Control", "no-store"),
    ]
