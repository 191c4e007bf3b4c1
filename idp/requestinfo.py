"""Facts about the incoming request: the client's real IP and a correlation id."""

from __future__ import annotations

import ipaddress
import re
import uuid
from functools import lru_cache

from flask import g, request

from .services import services

# Endpoints whose callers are programs: their errors are JSON, never HTML pages, and their
# text (errors, the admin API's documents) stays English.
PROGRAM_PATHS = (
    "/token",
    "/userinfo",
    "/revoke",
    "/jwks.json",
    "/.well-known/",
    "/api/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/register",
    "/introspect",
)


def from_a_program() -> bool:
    """Whether this request is to one of PROGRAM_PATHS."""
    return request.path.startswith(PROGRAM_PATHS)


@lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip() -> str:
    """The client's address: X-Forwarded-For is honoured only through trusted proxies."""
    if "client_ip" in g:
        return str(g.client_ip)
    trusted = _networks(services().settings.trusted_proxies)
    peer = _parse(request.remote_addr or "") or ipaddress.ip_address("0.0.0.0")
    chain = [peer]
    if any(peer in net for net in trusted):
        for part in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            hop = _parse(part)
            if hop is None:
                break  # a malformed hop: stop trusting the rest of the header
            chain.append(hop)
            if not any(hop in net for net in trusted):
                break
    # The first address not inside a trusted proxy is the client.
    ip = next((a for a in chain if not any(a in net for net in trusted)), chain[-1])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    g.client_ip = str(ip)
    return str(ip)


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:1000]


def request_id() -> str:
    """A fresh id for this HTTP request, shown on error pages."""
    if "request_id" not in g:
        g.request_id = str(uuid.uuid4())
    return str(g.request_id)


def device_cookie_name() -> str:
    """The device cookie's name (with the __Host- prefix when the issuer is https)."""
    issuer: str = services().settings.issuer
    return "__Host-idp_device" if issuer.startswith("https://") else "idp_device"


_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def device_id() -> str | None:
    """This browser's device id from its cookie, if it has the form we give them (anything
    else, a NUL byte say, is no device id)."""
    value = request.cookies.get(device_cookie_name(), "")
    return value if _DEVICE_ID.fullmatch(value) else None
