"""OpenID Connect standard claims (Core 5.1): the scope that releases each, where it is kept,
how a new value is checked, and the `claims` request parameter (Core 5.5).

One table, `CLAIMS`, drives userinfo, the ID token, discovery, the consent page, the CLI, the
admin API and the admin page, so a claim cannot be released in one place and forgotten in
another.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, Protocol
from zoneinfo import available_timezones

from .errors import IdpError
from .extensions import db
from .models import User
from .services import services
from .urls import url_parts

# A claims request longer than this is refused: it has no business being large (a full
# request naming every claim twice is about 1 KB) and it is stored with the code and tokens.
MAX_CLAIMS_REQUEST_CHARS = 4096
ADDRESS_FIELDS = ("formatted", "street_address", "locality", "region", "postal_code", "country")
# The claims request members this provider reads; others are ignored (Core 5.5).
CLAIMS_REQUEST_MEMBERS = ("userinfo", "id_token")
# Claims about the authentication itself, requestable in the id_token member but not kept on
# the user: acr is honoured as acr_values (see `requested_acr_values`), a sub with a value
# must be the signed-in user (Core 5.5.1), the others are always in the ID token.
AUTHENTICATION_CLAIMS = ("sub", "acr", "auth_time", "amr")


class ClaimError(IdpError):
    """A claim name or value is refused; the message names the claim and what is allowed."""


class MalformedClaimsRequest(ValueError):
    """The `claims` request parameter is not what OpenID Connect Core 5.5 describes."""


# --- validators: each takes the raw value and returns the value to store, or raises ---------

# Bidirectional overrides and isolates reorder what an admin page shows (a name that reads
# differently from what it is); they have no place in a profile value.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _text(max_chars: int, *, newlines: bool = False) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ClaimError(f"{name} must be a string")
        if len(value) > max_chars:
            raise ClaimError(f"{name} is longer than {max_chars} characters")
        for char in value:
            if char == "\n" and newlines:
                continue
            if char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn"):
                raise ClaimError(
                    f"{name} holds a control or unassigned character (U+{ord(char):04X})"
                )
        if value != value.strip():
            raise ClaimError(f"{name} must not start or end with white space")
        return value

    return check


def _url(name: str, raw: Any) -> str:
    value = _text(2000)(name, raw)
    parts = url_parts(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ClaimError(f"{name} must be an absolute http or https URL")
    return value


def _email(name: str, raw: Any) -> str:
    value = _text(254)(name, raw)
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or any(c.isspace() for c in value)
        or "@" in domain
        or domain.startswith(".")
        or domain.endswith(".")
    ):
        raise ClaimError(f"{name} must be an email address like someone@example.org")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ClaimError(f"{name} must be true or false")
    return value


_BIRTHDATE = re.compile(r"(\d{4})(?:-(\d{2})-(\d{2}))?")


def _birthdate(name: str, raw: Any) -> str:
    value = _text(10)(name, raw)
    match = _BIRTHDATE.fullmatch(value)
    problem = f"{name} must be YYYY, YYYY-MM-DD, or 0000-MM-DD when the year is withheld"
    if match is None:
        raise ClaimError(problem)
    year, month, day = match.groups()
    if month is None:
        if year == "0000":
            raise ClaimError(problem)
        return value
    try:
        # 0000 means "year withheld": any leap year admits 29 February.
        date(int(year) or 2000, int(month), int(day))
    except ValueError:
        raise ClaimError(f"{name}: {value} is not a date") from None
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def _zoneinfo(name: str, raw: Any) -> str:
    value = _text(64)(name, raw)
    if not _ZONE_NAME.fullmatch(value) or value not in _zones():
        raise ClaimError(f"{name} must be an IANA time zone such as Europe/Paris")
    return value


# language[-script][-region][-variant]...: the subset of BCP 47 that locales use.
_LOCALE = re.compile(
    r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*"
)


def _locale(name: str, raw: Any) -> str:
    value = _text(35)(name, raw)
    if not _LOCALE.fullmatch(value):
        raise ClaimError(f"{name} must be a BCP 47 language tag such as en-US")
    return value


_PHONE = re.compile(r"\+[1-9]\d{6,14}(?:;ext=\d{1,10})?")


def _phone(name: str, raw: Any) -> str:
    value = _text(40)(name, raw)
    # Spaces and hyphens between digit groups are how people write numbers; E.164 has none.
    compact = re.sub(r"(?<=\d)[ \-](?=\d)", "", value)
    if not _PHONE.fullmatch(compact):
        raise ClaimError(
            f"{name} must be an E.164 number such as +14155550100 (optionally ;ext=123)"
        )
    return compact


ADDRESS_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "formatted": _text(500, newlines=True),
    "street_address": _text(300, newlines=True),
    "locality": _text(100),
    "region": _text(100),
    "postal_code": _text(32),
    "country": _text(100),
}


def _address(name: str, value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        raise ClaimError(f"{name} must be an object with some of: {', '.join(ADDRESS_FIELDS)}")
    unknown = sorted(set(value) - set(ADDRESS_FIELDS))
    if unknown:
        raise ClaimError(f"{name} has no field {unknown[0]!r}; fields: {', '.join(ADDRESS_FIELDS)}")
    cleaned = {}
    for field in ADDRESS_FIELDS:
        item = value.get(field)
        if item is None or item == "":
            continue
        cleaned[field] = ADDRESS_CHECKS[field](f"{name}.{field}", item)
    return cleaned or None


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claim: the scope releasing it, where it is kept, and its check (None: read-only)."""

    name: str
    scope: str
    check: Callable[[str, Any], Any] | None
    # "claims" (User.claims), a User column name, or "special" (read by `_read`).
    stored: str = "claims"
    description: str = ""

    @property
    def settable(self) -> bool:
        return self.check is not None


_NAME = _text(200)
CLAIMS: dict[str, Claim] = {
    claim.name: claim
    for claim in (
        Claim("name", "profile", _NAME, "display_name", "Full name, as displayed."),
        Claim("family_name", "profile", _NAME, description="Surname(s)."),
        Claim("given_name", "profile", _NAME, description="Given name(s) or first name(s)."),
        Claim("middle_name", "profile", _NAME, description="Middle name(s)."),
        Claim("nickname", "profile", _NAME, description="Casual name."),
        Claim(
            "preferred_username",
            "profile",
            None,
            "special",
            "The user name (set when the user is created).",
        ),
        Claim("profile", "profile", _url, description="Profile page URL."),
        Claim("picture", "profile", _url, description="Picture URL."),
        Claim("website", "profile", _url, description="Web page or blog URL."),
        Claim("gender", "profile", _text(50), description="female, male, or another value."),
        Claim("birthdate", "profile", _birthdate, description="YYYY-MM-DD, YYYY or 0000-MM-DD."),
        Claim("zoneinfo", "profile", _zoneinfo, description="IANA time zone, e.g. Europe/Paris."),
        Claim("locale", "profile", _locale, description="BCP 47 language tag, e.g. en-US."),
        Claim(
            "updated_at",
            "profile",
            None,
            "special",
            "When the profile last changed (seconds since the epoch).",
        ),
        Claim("email", "email", _email, "email", "Email address."),
        Claim(
            "email_verified",
            "email",
            _boolean,
            "email_verified",
            "Whether the email address was verified.",
        ),
        Claim(
            "address",
            "address",
            _address,
            description="Postal address: " + ", ".join(ADDRESS_FIELDS) + ".",
        ),
        Claim("phone_number", "phone", _phone, description="E.164 phone number."),
        Claim(
            "phone_number_verified",
            "phone",
            _boolean,
            description="Whether the phone number was verified.",
        ),
        # Not a standard claim: the provider's group memberships, as before.
        Claim("groups", "groups", None, "special", "Group memberships."),
    )
}
SCOPES = tuple(dict.fromkeys(claim.scope for claim in CLAIMS.values()))
SETTABLE = tuple(name for name, claim in CLAIMS.items() if claim.settable)
# A verified flag is about one value: it is released only beside that value.
_VERIFIED_FLAGS = {"email_verified": "email", "phone_number_verified": "phone_number"}


def scope_claims(scope: str) -> list[str]:
    """The claims a scope value releases, in table order."""
    return [name for name, claim in CLAIMS.items() if claim.scope == scope]


def claims_supported() -> list[str]:
    """Every user claim this provider can release (for discovery)."""
    return list(CLAIMS)


# --- reading and writing --------------------------------------------------------------------

# The user columns `release` reads: those `_read` reads itself and those the table names.
PROFILE_COLUMNS = tuple(
    dict.fromkeys(
        (
            "id",
            "username",
            "created_at",
            "profile_updated_at",
            "groups",
            "claims",
            *(claim.stored for claim in CLAIMS.values() if claim.stored != "special"),
        )
    )
)


class Profile(Protocol):
    """What `release` reads of a user: a `User`, or a row of its PROFILE_COLUMNS read
    without the ORM (userinfo answered in front of Flask, see idp.fastpath)."""

    @property
    def id(self) -> str: ...

    @property
    def username(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def profile_updated_at(self) -> datetime | None: ...

    @property
    def groups(self) -> list[str]: ...

    @property
    def claims(self) -> dict[str, Any]: ...


def _read(user: Profile, name: str) -> Any:
    claim = CLAIMS[name]
    if name == "preferred_username":
        return user.username
    if name == "updated_at":
        changed = user.profile_updated_at or user.created_at
        return int(changed.timestamp())
    if name == "groups":
        return list(user.groups or [])
    if claim.stored != "claims":
        return getattr(user, claim.stored)
    value = (user.claims or {}).get(name)
    return dict(value) if isinstance(value, dict) else value


def profile(user: User) -> dict[str, Any]:
    """Every standard claim the user has a value for, by claim name (admin views)."""
    values = {name: _read(user, name) for name in CLAIMS if name != "groups"}
    for flag, subject in _VERIFIED_FLAGS.items():
        if values.get(subject) is None:
            values.pop(flag, None)
    return {name: value for name, value in values.items() if value is not None}


def _parse_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Changes keyed by claim name, `address.<field>` folded into one address change."""
    parsed: dict[str, Any] = {}
    address_parts: dict[str, Any] = {}
    for key, value in changes.items():
        name, dot, field = key.partition(".")
        if dot:
            if name != "address" or field not in ADDRESS_FIELDS:
                raise ClaimError(
                    f"unknown claim {key[:60]!r}; address fields are "
                    + ", ".join(f"address.{f}" for f in ADDRESS_FIELDS)
                )
            address_parts[field] = value
            continue
        claim = CLAIMS.get(key)
        if key == "sub":
            raise ClaimError("sub cannot be set: it is the user's permanent id")
        if claim is None:
            raise ClaimError(f"unknown claim {key[:60]!r}; settable: {', '.join(SETTABLE)}")
        if not claim.settable:
            raise ClaimError(f"{key} cannot be set")
        parsed[key] = value
    if address_parts:
        if "address" in parsed:
            raise ClaimError("set address as a whole or field by field, not both")
        parsed["address"] = {"_merge": address_parts}
    return parsed


def set_claims(user: User, changes: Mapping[str, Any]) -> list[str]:
    """Validate and apply claim changes (None or "" unsets), bump updated_at, and commit;
    nothing changes unless every value is valid. Returns the names of the claims changed."""
    parsed = _parse_changes(changes)
    stored = dict(user.claims or {})
    columns: dict[str, Any] = {}
    for name, value in parsed.items():
        claim = CLAIMS[name]
        assert claim.check is not None
        if name == "address" and isinstance(value, dict) and "_merge" in value:
            value = {**(stored.get("address") or {}), **value["_merge"]}
        if value is None or value == "":
            new = None
        else:
            new = claim.check(name, value)
        if claim.stored == "claims":
            if new is None:
                stored.pop(name, None)
            else:
                stored[name] = new
        else:
            columns[claim.stored] = False if new is None and claim.check is _boolean else new
    changed = [name for name in parsed if _differs(user, name, stored, columns)]
    if not changed:
        return []
    if "email" in columns and columns["email"] != user.email and "email_verified" not in parsed:
        # Verification was of the old address; the new one has not been verified.
        columns["email_verified"] = False
    for column, value in columns.items():
        setattr(user, column, value)
    # A new dict, so the JSON column sees the change.
    user.claims = stored
    user.profile_updated_at = services().clock.now()
    db.session.commit()
    return changed


def _differs(user: User, name: str, stored: dict[str, Any], columns: dict[str, Any]) -> bool:
    claim = CLAIMS[name]
    if claim.stored == "claims":
        return bool(stored.get(name) != (user.claims or {}).get(name))
    return bool(columns[claim.stored] != getattr(user, claim.stored))


def parse_assignment(text: str) -> tuple[str, Any]:
    """`CLAIM=VALUE` from the command line: true/false for booleans, the text otherwise."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise ClaimError(f"expected CLAIM=VALUE, got {text!r}")
    claim = CLAIMS.get(name.partition(".")[0])
    if claim is not None and claim.check is _boolean:
        if value.lower() not in ("true", "false"):
            raise ClaimError(f"{name} must be true or false")
        return name, value.lower() == "true"
    return name, value


# --- release --------------------------------------------------------------------------------


def _wanted(scope: str, requested: Iterable[str], allowed_scope: str | None) -> list[str]:
    scopes = set(scope.split())
    names = [name for name, claim in CLAIMS.items() if claim.scope in scopes]
    allowed = None if allowed_scope is None else set(allowed_scope.split())
    for name in requested:
        claim = CLAIMS.get(name)
        # A claim asked for by name comes without its scope, but never past what the client
        # was registered for: the claims parameter must not widen an admin's restriction.
        if claim is not None and name not in names and (allowed is None or claim.scope in allowed):
            names.append(name)
    return names


def release(
    user: Profile, scope: str, requested: Iterable[str] = (), allowed_scope: str | None = None
) -> dict[str, Any]:
    """The claims released about `user` for a granted `scope` plus those requested by name
    (`allowed_scope`: the client's registered scope, which limits those); `sub` first."""
    info: dict[str, Any] = {"sub": user.id}
    names = _wanted(scope, requested, allowed_scope)
    for name in names:
        flagged = _VERIFIED_FLAGS.get(name)
        if flagged is not None and _read(user, flagged) is None:
            continue
        value = _read(user, name)
        if value is not None:
            info[name] = value
    return info


def requested_claims(
    scope: str, claims_request: dict[str, Any] | None, allowed_scope: str | None = None
) -> list[str]:
    """The names of the user claims that a grant of `scope` with this (parsed) claims request
    would release, in userinfo or the ID token (`sub` is always released and not listed)."""
    requested: list[str] = []
    for member in CLAIMS_REQUEST_MEMBERS:
        requested.extend((claims_request or {}).get(member) or {})
    return _wanted(scope, requested, allowed_scope)


# --- the claims request parameter (Core 5.5) ------------------------------------------------


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    return True


def _member(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedClaimsRequest(f"'claims.{name}' must be a JSON object.")
    kept: dict[str, Any] = {}
    for claim, spec in value.items():
        if not _storable(claim):
            raise MalformedClaimsRequest(
                "The 'claims' parameter holds a NUL byte or an invalid character."
            )
        if spec is not None and not isinstance(spec, dict):
            raise MalformedClaimsRequest(f"'claims.{name}.{claim}' must be null or an object.")
        spec = spec or {}
        essential, one, many = spec.get("essential"), spec.get("value"), spec.get("values")
        if essential is not None and not isinstance(essential, bool):
            raise MalformedClaimsRequest(f"'essential' of '{claim}' must be true or false.")
        if not _scalar(one) or not _storable(one):
            raise MalformedClaimsRequest(
                f"'value' of '{claim}' must be a string, number or boolean."
            )
        if many is not None and (
            not isinstance(many, list) or not all(_scalar(v) and _storable(v) for v in many)
        ):
            raise MalformedClaimsRequest(
                f"'values' of '{claim}' must be an array of strings, numbers or booleans."
            )
        if claim not in CLAIMS and not (name == "id_token" and claim in AUTHENTICATION_CLAIMS):
            continue  # unknown claims are ignored (Core 5.5)
        entry: dict[str, Any] = {}
        if essential is not None:
            entry["essential"] = essential
        if "value" in spec:
            entry["value"] = one
        if many is not None:
            entry["values"] = many
        kept[claim] = entry or None
    return kept


def parse_claims_request(raw: str | None) -> dict[str, Any] | None:
    """The `claims` parameter as {"userinfo": {...}, "id_token": {...}} with unknown claims
    left out; None when absent. Raises MalformedClaimsRequest when it is not Core 5.5's."""
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_CLAIMS_REQUEST_CHARS:
        raise MalformedClaimsRequest(
            f"The 'claims' parameter is longer than {MAX_CLAIMS_REQUEST_CHARS} characters."
        )
    if "\x00" in raw:
        raise MalformedClaimsRequest("The 'claims' parameter holds a NUL byte.")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedClaimsRequest("The 'claims' parameter is not valid JSON.") from None
    if not isinstance(value, dict):
        raise MalformedClaimsRequest("The 'claims' parameter must be a JSON object.")
    parsed = {}
    for member in CLAIMS_REQUEST_MEMBERS:
        if member in value and value[member] is not None:
            parsed[member] = _member(member, value[member])
    return parsed


def claims_request_json(parsed: dict[str, Any] | None, member: str | None = None) -> str | None:
    """A parsed claims request (or one member of it) as the JSON kept on codes and tokens."""
    if parsed is None:
        return None
    value = parsed if member is None else parsed.get(member)
    if not value:
        return None
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def load_claims_request(text: str | None) -> dict[str, Any]:
    """A stored claims request (or member) back from its JSON; {} when none."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def requested_subject(parsed: dict[str, Any] | None) -> str | None:
    """The `sub` value the id_token member demands, if any (Core 5.5.1: no ID token for
    another user)."""
    spec = ((parsed or {}).get("id_token") or {}).get("sub") or {}
    value = spec.get("value")
    return str(value) if value is not None else None


def requested_acr_values(acr_values: str, claims: str | None) -> str:
    """The acr values the sign-in must weigh, in the client's order of preference: those of
    an essential `acr` in the claims request's id_token member (Core 5.5.1.1) when there
    are any, since essential is the stronger ask, else the acr_values parameter."""
    try:
        parsed = parse_claims_request(claims)
    except MalformedClaimsRequest:
        return acr_values  # refused with invalid_request before any sign-in step
    spec = ((parsed or {}).get("id_token") or {}).get("acr") or {}
    if not spec.get("essential"):
        return acr_values
    values = spec.get("values") or ([spec["value"]] if "value" in spec else [])
    named = [v for v in values if isinstance(v, str) and v and " " not in v]
    return " ".join(named) or acr_values
