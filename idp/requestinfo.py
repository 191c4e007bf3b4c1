"""Facts about the incoming request: the client's real IP and a correlation id."""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from dataclasses import dataclass
from functools import lru_cache

from flask import g, request
from werkzeug.http import dump_cookie

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


# The longest user agent kept (the sign-in log's column).
USER_AGENT_CHARS = 1000


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
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A zone ("fe80::1%eth0") names a link on the sender's host, is any text it likes (a
    # NUL, hundreds of characters) and no column or detector takes it: the address alone.
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return ipaddress.IPv6Address(int(address))
    return address


def client_ip() -> str:
    """The client's address: X-Forwarded-For is honoured only through trusted proxies."""
    if "client_ip" in g:
        return str(g.client_ip)
    g.client_ip = address_of(
        request.remote_addr or "",
        request.headers.get("X-Forwarded-For", ""),
        services().settings.trusted_proxies,
    )
    return str(g.client_ip)


def address_of(peer_address: str, forwarded_for: str, trusted_proxies: tuple[str, ...]) -> str:
    """The client's address, given the peer's and its X-Forwarded-For header: the first
    address, from the nearest, that is not inside a trusted proxy."""
    trusted = _networks(trusted_proxies)
    peer = _parse(peer_address) or ipaddress.ip_address("0.0.0.0")
    chain = [peer]
    if any(peer in net for net in trusted):
        for part in reversed(forwarded_for.split(",")):
            hop = _parse(part)
            if hop is None:
                break  # a malformed hop: stop trusting the rest of the header
            chain.append(hop)
            if not any(hop in net for net in trusted):
                break
    ip = next((a for a in chain if not any(a in net for net in trusted)), chain[-1])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


@dataclass(frozen=True)
class Browser:
    """Where a request comes from, as the sign-in log and attack protection see it: the
    client's address, the device cookie's id and the user agent."""

    ip: str
    device_id: str | None
    user_agent: str

    @classmethod
    def of_request(cls) -> Browser:
        return cls(client_ip(), device_id(), user_agent())


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:USER_AGENT_CHARS]


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


def new_device_cookie() -> str:
    """A Set-Cookie value giving this browser a new device id (for 400 days)."""
    return dump_cookie(
        device_cookie_name(),
        secrets.token_urlsafe(24),
        max_age=400 * 86400,
        httponly=True,
        samesite="Lax",
        secure=services().settings.issuer.startswith("https://"),
    )


def device_id() -> str | None:
    """This browser's device id from its cookie, if it has the form we give them (anything
    else, a NUL byte say, is no device id)."""
    return valid_device_id(request.cookies.get(device_cookie_name(), ""))


def valid_device_id(value: str) -> str | None:
    return value if _DEVICE_ID.fullmatch(value) else None
