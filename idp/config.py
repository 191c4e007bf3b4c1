"""One validated settings object, built once at start-up from TOML and the environment."""

from __future__ import annotations

import ipaddress
import os
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from risk.errors import RiskConfigError
from risk.policy import STRENGTHS
from risk.settings import RiskSettings

from .errors import ConfigError

LEVELS = ("low", "medium", "high")
THRESHOLDS = (*LEVELS, "never")
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev", "secret", "development"})
ENV_PREFIX = "IDP_"


def _opt(
    default: Any = None,
    *,
    choices: tuple[str, ...] = (),
    low: float | None = None,
    high: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare a settings field with the constraints the loader enforces."""
    meta = {"choices": choices, "low": low, "high": high, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _check_cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IP network in CIDR form (e.g. 10.0.0.0/8)"
    return None


def _check_url(value: str) -> str | None:
    parts = urlparse(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return f"{value!r} must be an http(s) URL without query or fragment"
    return None


def _check_database_url(value: str) -> str | None:
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        return f"{value!r} must start with sqlite:/// or postgresql+psycopg://"
    return None


@dataclass(frozen=True)
class MfaSettings:
    totp_issuer: str = "Example IdP"


@dataclass(frozen=True)
class RegistrationPolicy:
    state: str = _opt("on", choices=("on", "off"))
    grace_period_days: int = _opt(14, low=0, high=30)
    include_groups: tuple[str, ...] = _opt(factory=lambda: ("*",))
    exclude_groups: tuple[str, ...] = _opt(factory=tuple)


@dataclass(frozen=True)
class SignInRiskPolicy:
    state: str = _opt("on", choices=("on", "off", "report-only"))
    mfa_at: str = _opt("medium", choices=THRESHOLDS)
    block_at: str = _opt("never", choices=THRESHOLDS)
    # The second factor the step-up must use: any, or a passkey ("phishing-resistant").
    mfa_strength: str = _opt("any", choices=STRENGTHS)
    include_groups: tuple[str, ...] = _opt(factory=lambda: ("*",))
    exclude_groups: tuple[str, ...] = _opt(factory=tuple)


@dataclass(frozen=True)
class UserRiskPolicy:
    state: str = _opt("on", choices=("on", "off", "report-only"))
    password_change_at: str = _opt("high", choices=THRESHOLDS)
    block_at: str = _opt("never", choices=THRESHOLDS)
    # The second factor that must come before the remediation: any, or a passkey.
    mfa_strength: str = _opt("any", choices=STRENGTHS)
    include_groups: tuple[str, ...] = _opt(factory=lambda: ("*",))
    exclude_groups: tuple[str, ...] = _opt(factory=tuple)


@dataclass(frozen=True)
class Policies:
    mfa_registration: RegistrationPolicy = field(default_factory=RegistrationPolicy)
    sign_in_risk: SignInRiskPolicy = field(default_factory=SignInRiskPolicy)
    user_risk: UserRiskPolicy = field(default_factory=UserRiskPolicy)


@dataclass(frozen=True)
class PasswordSettings:
    # RFC 9106's second recommended option; tests lower these to keep the suite fast.
    argon2_memory_kib: int = _opt(65536, low=8, high=4_194_304)
    argon2_time_cost: int = _opt(3, low=1, high=20)
    argon2_parallelism: int = _opt(4, low=1, high=64)
    min_length: int = _opt(8, low=1, high=128)


@dataclass(frozen=True)
class TokenSettings:
    code_lifetime_seconds: int = _opt(60, low=10, high=600)
    access_token_lifetime_seconds: int = _opt(3600, low=60, high=86400)
    id_token_lifetime_seconds: int = _opt(3600, low=60, high=86400)
    refresh_token_lifetime_days: int = _opt(30, low=1, high=365)
    session_lifetime_hours: int = _opt(12, low=1, high=720)


def _check_email(value: str) -> str | None:
    if "@" not in value or any(c.isspace() for c in value):
        return f"{value!r} is not an email address"
    return None


@dataclass(frozen=True)
class NotificationSettings:
    # An empty smtp_host turns email notifications off.
    smtp_host: str = ""
    smtp_port: int = _opt(25, low=1, high=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    from_address: str = _opt("idp@localhost", check=_check_email)
    # Empty: the email addresses of the admin group's members.
    admin_emails: tuple[str, ...] = _opt(factory=tuple, check=_check_email)
    notify_at: str = _opt("high", choices=THRESHOLDS)


@dataclass(frozen=True)
class LockoutSettings:
    """Smart lockout, per account (SPEC "Attack protection")."""

    threshold: int = _opt(10, low=1, high=1000)
    duration_seconds: int = _opt(60, low=1, high=86400)
    familiar_separate: bool = True


@dataclass(frozen=True)
class ThrottleSettings:
    failed_per_ip_per_hour: int = _opt(100, low=1, high=1_000_000)


def _check_redis_url(value: str) -> str | None:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        return f"{value!r} must be a redis:// (or rediss://, unix://) URL, or empty"
    return None


@dataclass(frozen=True)
class ServerSettings:
    """`idp serve`; command-line options override these."""

    # gunicorn (threaded workers; a stalled request body gives its thread back after the
    # read timeout) or granian (HTTP in Rust, far less CPU a request; a stalled request body
    # holds its thread until the client leaves, so it belongs behind a buffering proxy).
    engine: str = _opt("gunicorn", choices=("gunicorn", "granian"))
    workers: int = _opt(2, low=1, high=64)
    threads: int = _opt(8, low=1, high=256)
    timeout_seconds: int = _opt(60, low=1, high=3600)
    graceful_timeout_seconds: int = _opt(30, low=1, high=3600)
    keepalive_seconds: int = _opt(5, low=0, high=300)
    # Any other gunicorn setting by its name (e.g. max_requests = 10000).
    gunicorn: Mapping[str, Any] = field(default_factory=dict)


def _check_sha256(value: str) -> str | None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        return "must be 64 hex digits, the SHA-256 of an initial access token"
    return None


@dataclass(frozen=True)
class RegistrationSettings:
    """Dynamic client registration (RFC 7591/7592); off unless the operator turns it on."""

    enabled: bool = False
    # Anyone may register, with no initial access token: only for closed networks and tests.
    open: bool = False
    # Hex SHA-256 digests of the accepted initial access tokens, so the file holds no secret.
    initial_access_token_sha256: tuple[str, ...] = _opt(factory=tuple, check=_check_sha256)
    # Registration attempts (good or bad) one client address may make per hour.
    per_ip_per_hour: int = _opt(20, low=1, high=100_000)


@dataclass(frozen=True)
class LoggingSettings:
    format: str = _opt("json", choices=("json", "text"))
    level: str = _opt("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Settings:
    issuer: str = _opt("http://127.0.0.1:5000", check=_check_url)
    secret_key: str = ""
    # Former secret_keys, still accepted to open sealed secrets and session cookies while
    # `idp keys reseal` moves everything to the current one.
    old_secret_keys: tuple[str, ...] = _opt(factory=tuple)
    database_url: str = _opt("sqlite:///instance/idp.db", check=_check_database_url)
    trusted_proxies: tuple[str, ...] = _opt(factory=lambda: ("127.0.0.1/32",), check=_check_cidr)
    mfa: MfaSettings = field(default_factory=MfaSettings)
    policies: Policies = field(default_factory=Policies)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    tokens: TokenSettings = field(default_factory=TokenSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    registration: RegistrationSettings = field(default_factory=RegistrationSettings)
    # Attack-protection counters live in the database unless a Redis URL is given.
    redis_url: str = _opt("", check=_check_redis_url)
    # Who may read /metrics (judged on the client address the server trusts).
    metrics_allow: tuple[str, ...] = _opt(factory=lambda: ("127.0.0.1/32", "::1/128"),
                                          check=_check_cidr)
    # Members of this group reach /admin (after TOTP on every sign-in to it).
    admin_group: str = "admins"
    # Validated by the risk package itself, which owns its keys and their ranges.
    risk: Mapping[str, Any] = field(default_factory=dict)
    # Only `idp demo` and the tests set this; it allows a generated secret key.
    demo: bool = False


def _type_name(hint: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        hint, "a list of strings"
    )


def _coerce(value: Any, hint: Any, meta: Mapping[str, Any], key: str) -> Any:
    """Check one leaf value against its declared type and constraints."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if (
            isinstance(value, str)
            or not isinstance(value, (list, tuple))
            or not all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(f"{key}: must be a list of strings, got {value!r}")
        items = tuple(value)
        if meta.get("check"):
            for item in items:
                if problem := meta["check"](item):
                    raise ConfigError(f"{key}: {problem}")
        return items
    ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{key}: must be {_type_name(hint)}, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key}: must be one of {' | '.join(meta['choices'])}, got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None and not low <= value <= high:
        raise ConfigError(f"{key}: must be between {low:g} and {high:g}, got {value!r}")
    if meta.get("check") and (problem := meta["check"](value)):
        raise ConfigError(f"{key}: {problem}")
    return value


def _build(cls: type, data: Any, path: str) -> Any:
    """Build a settings dataclass from a mapping, refusing unknown keys and bad values."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path.rstrip('.') or 'config'}: must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known or key == "demo":
            allowed = ", ".join(k for k in known if k != "demo")
            raise ConfigError(f"{path}{key}: unknown key (allowed here: {allowed})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint, key = hints[name], f"{path}{name}"
        if is_dataclass(hint):
            kwargs[name] = _build(hint, value, key + ".")  # type: ignore[arg-type]
        elif name in ("risk", "gunicorn"):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: must be a table")
            kwargs[name] = dict(value)
        else:
            kwargs[name] = _coerce(value, hint, known[name].metadata, key)
    return cls(**kwargs)


def _env_value(raw: str, hint: Any) -> Any:
    """Read an environment string as the type its key expects (TOML syntax for non-strings)."""
    if hint is str:
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if typing.get_origin(hint) is tuple:
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


def _leaf_paths(cls: type, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    paths: dict[tuple[str, ...], Any] = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name == "demo":
            continue
        hint = hints[f.name]
        if is_dataclass(hint):
            paths.update(_leaf_paths(hint, (*prefix, f.name)))  # type: ignore[arg-type]
        else:
            paths[(*prefix, f.name)] = hint
    return paths


def _merge_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay IDP_SECTION__KEY variables onto the file's data."""
    leaves = _leaf_paths(Settings)
    by_env = {ENV_PREFIX + "__".join(p).upper(): (p, h) for p, h in leaves.items()}
    sections = {
        ENV_PREFIX + name.upper() + "__"
        for name in ("mfa", "policies", "passwords", "tokens", "notifications", "lockout",
                     "throttle", "logging", "server", "risk", "registration")
    }
    for name, raw in environ.items():
        if name in by_env:
            path, hint = by_env[name]
        elif name.startswith(ENV_PREFIX + "RISK__"):
            path, hint = ("risk", name[len(ENV_PREFIX + "RISK__") :].lower()), Any
        elif any(name.startswith(s) for s in sections):
            raise ConfigError(f"{name}: unknown setting in the environment")
        else:
            continue
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{'.'.join(path[:-1])}: must be a table")
        node[path[-1]] = _env_value(raw, hint)
    return data


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    demo: bool = False,
) -> Settings:
    """Read the TOML file (if any) and the environment into validated Settings."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("IDP_CONFIG") or None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found") from None
        except OSError as exc:
            raise ConfigError(f"config file {path}: cannot read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    settings = _build(Settings, _merge_environment(data, environ), "")
    return validate(replace(settings, demo=demo))


def validate(settings: Settings) -> Settings:
    """Checks that span keys, or that production must pass and demo may skip."""
    try:
        RiskSettings.from_mapping(settings.risk)
    except RiskConfigError as exc:
        raise ConfigError(str(exc)) from None
    hashing = settings.passwords
    if hashing.argon2_memory_kib < 8 * hashing.argon2_parallelism:
        raise ConfigError(
            f"passwords.argon2_memory_kib: must be at least 8 x argon2_parallelism "
            f"({8 * hashing.argon2_parallelism}), got {hashing.argon2_memory_kib}")
    registration = settings.registration
    if registration.enabled and not registration.open \
            and not registration.initial_access_token_sha256:
        raise ConfigError(
            "registration.initial_access_token_sha256: must list at least one digest while "
            "registration is enabled (or set registration.open = true to need no token)")
    if not settings.demo:
        if settings.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ConfigError(
                "secret_key: must be set to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if len(settings.secret_key) < 16:
            raise ConfigError("secret_key: must be at least 16 characters of random text")
    return replace(settings, issuer=settings.issuer.rstrip("/"),
                   database_url=absolute_sqlite_url(settings.database_url))


def too_wide_proxies(trusted_proxies: tuple[str, ...]) -> list[str]:
    """The trusted_proxies CIDRs so wide (shorter than /8, or /32 for IPv6) that anyone on a
    large part of the internet can set the client IP with X-Forwarded-For."""
    wide = []
    for cidr in trusted_proxies:
        network = ipaddress.ip_network(cidr, strict=False)
        if network.prefixlen < (8 if network.version == 4 else 32):
            wide.append(cidr)
    return wide


def warnings_for(settings: Settings) -> list[str]:
    """Settings that work but weaken the provider: said once at start-up."""
    found = []
    for cidr in too_wide_proxies(settings.trusted_proxies):
        found.append(f"trusted_proxies: {cidr} trusts X-Forwarded-For from a large part of "
                     "the internet; client IPs (and so risk and throttling) are guesswork")
    if settings.registration.enabled and settings.registration.open:
        found.append("registration.open: anyone who reaches /register may register clients "
                     "(throttled per address); use initial access tokens on a public network")
    host = urlparse(settings.issuer).hostname or ""
    if settings.issuer.startswith("http://") and not _is_local(host):
        found.append(f"issuer: {settings.issuer} is plain http on a public name; cookies and "
                     "tokens travel unencrypted (serve it over https behind a TLS proxy)")
    return found


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".test", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def absolute_sqlite_url(url: str) -> str:
    """A relative SQLite path made absolute against the working directory.

    Flask-SQLAlchemy would read it against the instance folder and Alembic against the
    working directory; resolving it once makes every command open the same file.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/"):
        return url
    path, sep, query = url[len(prefix):].partition("?")
    if path in ("", ":memory:"):
        return url
    return f"{prefix}{os.path.abspath(path)}{sep}{query}"


def demo_settings(instance_path: str, **overrides: Any) -> Settings:
    """Settings for `idp demo` and the tests: SQLite in the instance folder, a throwaway key."""
    import secrets

    base = Settings(
        secret_key=secrets.token_urlsafe(32),
        database_url=f"sqlite:///{os.path.join(instance_path, 'idp.db')}",
        demo=True,
    )
    return validate(replace(base, **overrides))


__all__ = ["ConfigError", "Settings", "demo_settings", "load_settings"]
