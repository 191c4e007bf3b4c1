"""One validated settings object, built once at start-up from TOML and the environment.

The sections are frozen pydantic dataclasses: their types carry the ranges and the allowed
values, `dataclasses.replace()` on them validates again, and `risk/` keeps its own frozen
dataclass (`risk.settings.RiskSettings`), parsed once here into `Settings.risk`.
pydantic-settings reads the TOML file and the `IDP_` environment (`__` for the dots) into
them; every error becomes one line naming the key, what is allowed and the value given.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import tomllib
import typing
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import is_dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from risk.errors import RiskConfigError
from risk.settings import RiskSettings

from .errors import ConfigError

Threshold = Literal["low", "medium", "high", "never"]
Strength = Literal["any", "phishing-resistant"]  # risk.policy.STRENGTHS (a test holds them equal)
LEVELS = ("low", "medium", "high")
THRESHOLDS: tuple[str, ...] = typing.get_args(Threshold)
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev", "secret", "development"})
ENV_PREFIX = "IDP_"
ENV_DELIMITER = "__"
T = TypeVar("T")

# Unknown keys are refused; the leaf types are strict (TOML has real types, so "14" is not
# an integer and 1 is not a string), while a TOML array is taken for a tuple.
SECTION = ConfigDict(extra="forbid")


def _checked(check: typing.Callable[[str], str | None]) -> AfterValidator:
    """A validator from a function that names the problem with a value, or returns None."""

    def run(value: str) -> str:
        if problem := check(value):
            raise ValueError(problem)
        return value

    return AfterValidator(run)


def _between(low: int, high: int) -> Any:
    return Field(ge=low, le=high)


def _cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IP network in CIDR form (e.g. 10.0.0.0/8)"
    return None


def _url(value: str) -> str | None:
    parts = urlparse(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return f"{value!r} must be an http(s) URL without query or fragment"
    return None


def _database_url(value: str) -> str | None:
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        return f"{value!r} must start with sqlite:/// or postgresql+psycopg://"
    return None


def _email(value: str) -> str | None:
    if "@" not in value or any(c.isspace() for c in value):
        return f"{value!r} is not an email address"
    return None


def _redis_url(value: str) -> str | None:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        return f"{value!r} must be a redis:// (or rediss://, unix://) URL, or empty"
    return None


def _sha256(value: str) -> str | None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        return "must be 64 hex digits, the SHA-256 of an initial access token"
    return None


def _risk_table(value: object) -> RiskSettings:
    """The `[risk]` table, validated by the risk package itself (which owns its keys)."""
    if isinstance(value, RiskSettings):
        return value
    if not isinstance(value, Mapping):
        raise ValueError("must be a table")
    return RiskSettings.from_mapping(value)  # RiskConfigError passes through pydantic


def _string_list(value: object) -> object:
    if (
        isinstance(value, str)
        or not isinstance(value, list | tuple)
        or not all(isinstance(item, str) for item in value)
    ):
        raise ValueError(f"must be a list of strings, got {value!r}")
    return value


_LIST = BeforeValidator(_string_list)
Strings = Annotated[tuple[StrictStr, ...], _LIST]
Cidrs = Annotated[tuple[Annotated[StrictStr, _checked(_cidr)], ...], _LIST]
Emails = Annotated[tuple[Annotated[StrictStr, _checked(_email)], ...], _LIST]
Digests = Annotated[tuple[Annotated[StrictStr, _checked(_sha256)], ...], _LIST]
Table = dict[StrictStr, Any]
RiskTable = Annotated[RiskSettings, PlainValidator(_risk_table)]


@dataclass(frozen=True, config=SECTION)
class MfaSettings:
    totp_issuer: StrictStr = "Example IdP"


@dataclass(frozen=True, config=SECTION)
class RegistrationPolicy:
    state: Literal["on", "off"] = "on"
    grace_period_days: Annotated[StrictInt, _between(0, 30)] = 14
    include_groups: Strings = ("*",)
    exclude_groups: Strings = ()


@dataclass(frozen=True, config=SECTION)
class SignInRiskPolicy:
    state: Literal["on", "off", "report-only"] = "on"
    mfa_at: Threshold = "medium"
    block_at: Threshold = "never"
    # The second factor the step-up must use: any, or a passkey ("phishing-resistant").
    mfa_strength: Strength = "any"
    include_groups: Strings = ("*",)
    exclude_groups: Strings = ()


@dataclass(frozen=True, config=SECTION)
class UserRiskPolicy:
    state: Literal["on", "off", "report-only"] = "on"
    password_change_at: Threshold = "high"
    block_at: Threshold = "never"
    # The second factor that must come before the remediation: any, or a passkey.
    mfa_strength: Strength = "any"
    include_groups: Strings = ("*",)
    exclude_groups: Strings = ()


@dataclass(frozen=True, config=SECTION)
class Policies:
    mfa_registration: RegistrationPolicy = RegistrationPolicy()
    sign_in_risk: SignInRiskPolicy = SignInRiskPolicy()
    user_risk: UserRiskPolicy = UserRiskPolicy()


@dataclass(frozen=True, config=SECTION)
class PasswordSettings:
    # RFC 9106's second recommended option; tests lower these to keep the suite fast.
    argon2_memory_kib: Annotated[StrictInt, _between(8, 4_194_304)] = 65536
    argon2_time_cost: Annotated[StrictInt, _between(1, 20)] = 3
    argon2_parallelism: Annotated[StrictInt, _between(1, 64)] = 4
    min_length: Annotated[StrictInt, _between(1, 128)] = 8


@dataclass(frozen=True, config=SECTION)
class TokenSettings:
    code_lifetime_seconds: Annotated[StrictInt, _between(10, 600)] = 60
    access_token_lifetime_seconds: Annotated[StrictInt, _between(60, 86400)] = 3600
    id_token_lifetime_seconds: Annotated[StrictInt, _between(60, 86400)] = 3600
    refresh_token_lifetime_days: Annotated[StrictInt, _between(1, 365)] = 30
    session_lifetime_hours: Annotated[StrictInt, _between(1, 720)] = 12


@dataclass(frozen=True, config=SECTION)
class NotificationSettings:
    # An empty smtp_host turns email notifications off.
    smtp_host: StrictStr = ""
    smtp_port: Annotated[StrictInt, _between(1, 65535)] = 25
    smtp_starttls: StrictBool = False
    smtp_username: StrictStr = ""
    smtp_password: StrictStr = ""
    from_address: Annotated[StrictStr, _checked(_email)] = "idp@localhost"
    # Empty: the email addresses of the admin group's members.
    admin_emails: Emails = ()
    notify_at: Threshold = "high"


@dataclass(frozen=True, config=SECTION)
class LockoutSettings:
    """Smart lockout, per account (SPEC "Attack protection")."""

    threshold: Annotated[StrictInt, _between(1, 1000)] = 10
    duration_seconds: Annotated[StrictInt, _between(1, 86400)] = 60
    familiar_separate: StrictBool = True


@dataclass(frozen=True, config=SECTION)
class ThrottleSettings:
    failed_per_ip_per_hour: Annotated[StrictInt, _between(1, 1_000_000)] = 100


@dataclass(frozen=True, config=SECTION)
class ServerSettings:
    """`idp serve`; command-line options override these."""

    # gunicorn (threaded workers; a stalled request body gives its thread back after the
    # read timeout) or granian (HTTP in Rust, far less CPU a request; a stalled request body
    # holds its thread until the client leaves, so it belongs behind a buffering proxy).
    engine: Literal["gunicorn", "granian"] = "gunicorn"
    workers: Annotated[StrictInt, _between(1, 64)] = 2
    threads: Annotated[StrictInt, _between(1, 256)] = 8
    timeout_seconds: Annotated[StrictInt, _between(1, 3600)] = 60
    graceful_timeout_seconds: Annotated[StrictInt, _between(1, 3600)] = 30
    keepalive_seconds: Annotated[StrictInt, _between(0, 300)] = 5
    # Any other gunicorn setting by its name (e.g. max_requests = 10000).
    gunicorn: Table = Field(default_factory=dict)


@dataclass(frozen=True, config=SECTION)
class RegistrationSettings:
    """Dynamic client registration (RFC 7591/7592); off unless the operator turns it on."""

    enabled: StrictBool = False
    # Anyone may register, with no initial access token: only for closed networks and tests.
    open: StrictBool = False
    # Hex SHA-256 digests of the accepted initial access tokens, so the file holds no secret.
    initial_access_token_sha256: Digests = ()
    # Registration attempts (good or bad) one client address may make per hour.
    per_ip_per_hour: Annotated[StrictInt, _between(1, 100_000)] = 20


@dataclass(frozen=True, config=SECTION)
class LoggingSettings:
    format: Literal["json", "text"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True, config=SECTION)
class Settings:
    issuer: Annotated[StrictStr, _checked(_url)] = "http://127.0.0.1:5000"
    secret_key: StrictStr = ""
    # Former secret_keys, still accepted to open sealed secrets and session cookies while
    # `idp keys reseal` moves everything to the current one.
    old_secret_keys: Strings = ()
    database_url: Annotated[StrictStr, _checked(_database_url)] = "sqlite:///instance/idp.db"
    trusted_proxies: Cidrs = ("127.0.0.1/32",)
    mfa: MfaSettings = MfaSettings()
    policies: Policies = Policies()
    passwords: PasswordSettings = PasswordSettings()
    tokens: TokenSettings = TokenSettings()
    notifications: NotificationSettings = NotificationSettings()
    lockout: LockoutSettings = LockoutSettings()
    logging: LoggingSettings = LoggingSettings()
    server: ServerSettings = ServerSettings()
    throttle: ThrottleSettings = ThrottleSettings()
    registration: RegistrationSettings = RegistrationSettings()
    # Attack-protection counters live in the database unless a Redis URL is given.
    redis_url: Annotated[StrictStr, _checked(_redis_url)] = ""
    # Who may read /metrics (judged on the client address the server trusts).
    metrics_allow: Cidrs = ("127.0.0.1/32", "::1/128")
    # Members of this group reach /admin (after TOTP on every sign-in to it).
    admin_group: StrictStr = "admins"
    # The [risk] table, parsed once by the risk package, which owns its keys and ranges.
    risk: RiskTable = RiskSettings()
    # Only `idp demo` and the tests set this; it allows a generated secret key.
    demo: StrictBool = False


def _fields_of(cls: Any) -> dict[str, FieldInfo]:
    """A pydantic dataclass's or model's fields, by name ({} for anything else)."""
    # Models keep them in __pydantic_fields__ from pydantic 2.10 on, model_fields before.
    found = getattr(cls, "__pydantic_fields__", None) or getattr(cls, "model_fields", None)
    return dict(found) if found else {}


# --- Sources: the TOML file and the environment, read by pydantic-settings ---------------

_SOURCES: ContextVar[tuple[str | os.PathLike[str] | None, Mapping[str, str]]] = ContextVar(
    "idp_config_sources"
)


class _TomlFile(TomlConfigSettingsSource):
    """The configuration file; a missing or unreadable one is an error, never an empty one."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | os.PathLike[str]) -> None:
        self.shown = os.fspath(path)
        if not Path(path).is_file():  # pydantic-settings would skip it without a word
            self._read_file(Path(path))
        super().__init__(settings_cls, toml_file=Path(path))

    def _read_file(self, path: Any) -> dict[str, Any]:
        try:
            return tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise ConfigError(f"config file {self.shown}: not found") from None
        except OSError as exc:
            raise ConfigError(f"config file {self.shown}: cannot read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {self.shown}: not valid TOML: {exc}") from None


def _kind(annotation: Any) -> Any:
    """What an environment string is read as: str (as it is), tuple, or anything TOML."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation is str or typing.get_origin(annotation) is Literal:
        return str
    return tuple if typing.get_origin(annotation) is tuple else Any


def _leaves(cls: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, info in _fields_of(cls).items():
        if name == "demo":
            continue
        if is_dataclass(info.annotation):
            yield from _leaves(info.annotation, (*prefix, name))
        else:
            yield (*prefix, name), _kind(info.annotation)


def _env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(path).upper()


@functools.cache
def _environment_names() -> tuple[dict[str, tuple[tuple[str, ...], Any]], tuple[str, ...]]:
    """Every key's variable name (with its path and kind), and the tables' name prefixes."""
    known = {_env_name(path): (path, kind) for path, kind in _leaves(Settings)}
    tables = tuple(
        _env_name((name,)) + ENV_DELIMITER
        for name, info in _fields_of(Settings).items()
        if is_dataclass(info.annotation) or name == "risk"
    )
    return known, tables


class _Environment(PydanticBaseSettingsSource):
    """`IDP_` + the dotted path in upper case with `__` for the dots; a non-string value in
    TOML syntax (`7`, `true`, `["a", "b"]`), a list also comma-separated. A variable naming
    an unknown key of a known table is an error rather than silently ignored."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        known, tables = _environment_names()
        risk = _env_name(("risk",)) + ENV_DELIMITER
        data: dict[str, Any] = {}
        for variable, raw in self.environ.items():
            if variable in known:
                path, kind = known[variable]
            elif variable.startswith(risk):
                path, kind = ("risk", variable[len(risk) :].lower()), Any
            elif variable.startswith(tables):
                raise ConfigError(f"{variable}: unknown setting in the environment")
            else:
                continue
            node = data
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = _env_value(raw, kind)
        return data


def _env_value(raw: str, kind: Any) -> Any:
    if kind is str:
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if kind is tuple:
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


class _FileAndEnvironment(BaseSettings):
    """Settings' fields (all but `demo`) as pydantic-settings reads them: the environment over
    the TOML file over the defaults."""

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path, environ = _SOURCES.get()
        file = () if path is None else (_TomlFile(settings_cls, path),)
        return (_Environment(settings_cls, environ), *file)


_Loader: type[BaseSettings] = create_model(  # type: ignore[call-overload]
    "Settings",
    __base__=_FileAndEnvironment,
    **{
        name: (info.annotation, info)
        for name, info in _fields_of(Settings).items()
        if name != "demo"
    },
)


# --- Errors: one line naming the key, what is allowed, and the value given -------------

_TYPE_NAMES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "float_type": "a number",
}
_TABLE_ERRORS = {
    "dataclass_type",
    "dataclass_exact_type",
    "model_type",
    "dict_type",
    "model_attributes_type",
    "dataclass_args_type",
}
_UNKNOWN_ERRORS = {"extra_forbidden", "unexpected_keyword_argument"}


def _field_names(cls: Any) -> list[str]:
    return [name for name in _fields_of(cls) if name != "demo"]


def _section(root: Any, names: list[str]) -> Any:
    cls = root
    for name in names:
        info = _fields_of(cls).get(name)
        if info is None:
            return None
        cls = info.annotation
    return cls


def _field(root: Any, names: list[str]) -> FieldInfo | None:
    return _fields_of(_section(root, names[:-1])).get(names[-1]) if names else None


def _bounds(info: FieldInfo | None) -> tuple[Any, Any]:
    low = high = None
    for item in info.metadata if info else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _one_line(exc: ValidationError, root: Any, prefix: str = "") -> str:
    """Today's message for the first problem pydantic found."""
    error = exc.errors(include_url=False)[0]
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    names = [str(part) for part in loc if not isinstance(part, int)]
    key = prefix + ".".join(names)
    if kind in _UNKNOWN_ERRORS:
        allowed = ", ".join(_field_names(_section(root, names[:-1])))
        return f"{key}: unknown key (allowed here: {allowed})"
    if kind in _TABLE_ERRORS:
        return f"{key or 'config'}: must be a table"
    info = _field(root, names)
    if kind == "literal_error":
        if not isinstance(value, str):
            return f"{key}: must be a string, got {value!r}"
        choices = typing.get_args(info.annotation) if info else ()
        return f"{key}: must be one of {' | '.join(choices)}, got {value!r}"
    if kind in _TYPE_NAMES:
        return f"{key}: must be {_TYPE_NAMES[kind]}, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(info)
        return f"{key}: must be between {low:g} and {high:g}, got {value!r}"
    if kind == "value_error":
        return f"{key}: {error['ctx']['error']}"
    return f"{key}: {error['msg']}, got {value!r}"


def _validated(run: typing.Callable[[], T], root: Any, prefix: str = "") -> T:
    """Run a pydantic validation; any problem becomes a one-line ConfigError."""
    try:
        return run()
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, root, prefix)) from None
    except RiskConfigError as exc:
        raise ConfigError(str(exc)) from None


def section_from_mapping(cls: type[T], data: Any, prefix: str = "") -> T:
    """A settings section (e.g. Policies) from a mapping, with load_settings' messages; the
    keys in them start with `prefix` (e.g. "policies.")."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: must be a table")
    return _validated(lambda: TypeAdapter(cls).validate_python(dict(data)), cls, prefix)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    demo: bool = False,
) -> Settings:
    """Read the TOML file (if any) and the environment into validated Settings."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("IDP_CONFIG") or None
    token = _SOURCES.set((path, environ))
    try:
        loaded = _validated(_Loader, _Loader)
    finally:
        _SOURCES.reset(token)
    settings = Settings(
        **{name: getattr(loaded, name) for name in _field_names(Settings)}, demo=demo
    )
    return validate(settings)


def validate(settings: Settings) -> Settings:
    """Checks that span keys, or that production must pass and demo may skip."""
    hashing = settings.passwords
    if hashing.argon2_memory_kib < 8 * hashing.argon2_parallelism:
        raise ConfigError(
            f"passwords.argon2_memory_kib: must be at least 8 x argon2_parallelism "
            f"({8 * hashing.argon2_parallelism}), got {hashing.argon2_memory_kib}"
        )
    registration = settings.registration
    if (
        registration.enabled
        and not registration.open
        and not registration.initial_access_token_sha256
    ):
        raise ConfigError(
            "registration.initial_access_token_sha256: must list at least one digest while "
            "registration is enabled (or set registration.open = true to need no token)"
        )
    if not settings.demo:
        if settings.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ConfigError(
                "secret_key: must be set to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if len(settings.secret_key) < 16:
            raise ConfigError("secret_key: must be at least 16 characters of random text")
    return replace(
        settings,
        issuer=settings.issuer.rstrip("/"),
        database_url=absolute_sqlite_url(settings.database_url),
    )


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
        found.append(
            f"trusted_proxies: {cidr} trusts X-Forwarded-For from a large part of "
            "the internet; client IPs (and so risk and throttling) are guesswork"
        )
    if settings.registration.enabled and settings.registration.open:
        found.append(
            "registration.open: anyone who reaches /register may register clients "
            "(throttled per address); use initial access tokens on a public network"
        )
    host = urlparse(settings.issuer).hostname or ""
    if settings.issuer.startswith("http://") and not _is_local(host):
        found.append(
            f"issuer: {settings.issuer} is plain http on a public name; cookies and "
            "tokens travel unencrypted (serve it over https behind a TLS proxy)"
        )
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
    path, sep, query = url[len(prefix) :].partition("?")
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
    return validate(_validated(lambda: replace(base, **overrides), Settings))


__all__ = [
    "ConfigError",
    "Settings",
    "demo_settings",
    "load_settings",
    "section_from_mapping",
    "validate",
    "warnings_for",
]
