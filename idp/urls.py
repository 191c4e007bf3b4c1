"""URL checks shared by client metadata, registration and profile claims."""

from __future__ import annotations

from urllib.parse import ParseResult, urlparse


def url_parts(uri: str) -> ParseResult | None:
    """`uri` split into its parts; None when Python's parser refuses it outright (an
    unclosed IPv6 bracket, a host that NFKC normalisation maps onto '/?#@:')."""
    try:
        return urlparse(uri)
    except ValueError:
        return None


def bad_port(parts: ParseResult) -> bool:
    """True when the URL names a port nobody can reach: not a number, 0, or above 65535."""
    try:
        return parts.port == 0
    except ValueError:
        return True
