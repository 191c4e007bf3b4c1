"""The app's services: one typed container made by `create_app`, read through `services()`.

Every module reaches settings, the clock, keys, the password hasher, the risk engine, the
sealing box and the hooks here, instead of through `app.extensions` string keys. Types are
imported for checking only, so this module imports nothing of the project at run time and
any module may import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from risk.engine import RiskEngine
    from risk.levels import Level

    from .backchannel import Dispatcher
    from .clock import Clock
    from .config import Settings
    from .counters import Counters
    from .keys import KeyStore
    from .models import Token
    from .passwords import PasswordHasher

EXTENSION = "idp"


@dataclass
class Caches:
    """Per-app state made on first use: the discovery document (body, ETag), the
    back-channel logout dispatcher, and the refused-guess pages (idp.refusals)."""

    discovery: tuple[bytes, str] | None = None
    backchannel: Dispatcher | None = None
    refusal_pages: dict[tuple[str, str, str], Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    keys: KeyStore
    passwords: PasswordHasher
    counters: Counters
    risk: RiskEngine
    # Seals TOTP secrets and signing keys (idp/secretbox.py).
    box: MultiFernet
    # A rotated refresh token came back (gets the token row).
    on_refresh_reuse: Callable[[Token], None] | None = None
    # A user's risk level rose: (user id, previous level, new level).
    on_user_risk_raised: Callable[[str, Level, Level], None] | None = None
    caches: Caches = field(default_factory=Caches)


def services(app: Flask | None = None) -> Services:
    """The services of `app`, or of the current app when none is given."""
    found: Services = (app or current_app).extensions[EXTENSION]
    return found


def now_ts() -> int:
    """The app clock's time in whole seconds since the epoch, as the token, code and session
    rows store them."""
    return int(services().clock.now().timestamp())
