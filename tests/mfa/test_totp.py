from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from mfa import totp
from mfa.errors import InvalidCode, MfaError, ReplayedCode

from .conftest import FIXED_NOW

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
STEP = int(FIXED_NOW.timestamp()) // 30


def code_at(step: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def test_fixture_codes_in_window_are_distinct() -> None:
    # Guards the tables below: a collision would make a "refused" case pass by accident.
    codes = [code_at(STEP + offset) for offset in range(-2, 3)]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    "offset",
    [-1, 0, 1],
    ids=["previous-step", "current-step", "next-step"],
)
def test_code_within_one_step_is_accepted(now: datetime, offset: int) -> None:
    assert totp.verify(SECRET, code_at(STEP + offset), now=now, last_used_step=None) == (
        STEP + offset
    )


@pytest.mark.parametrize(
    "offset",
    [-2, 2, -3, 3],
    ids=["two-steps-back", "two-steps-ahead", "three-steps-back", "three-steps-ahead"],
)
def test_code_outside_window_is_refused(now: datetime, offset: int) -> None:
    with pytest.raises(InvalidCode):
        totp.verify(SECRET, code_at(STEP + offset), now=now, last_used_step=None)


@pytest.mark.parametrize(
    ("seconds_into_step", "offset", "accepted"),
    [
        (0, -1, True),
        (0, -2, False),
        (29, 1, True),
        (29, 2, False),
    ],
    ids=[
        "step-start-previous-ok",
        "step-start-two-back-refused",
        "step-end-next-ok",
        "step-end-two-ahead-refused",
    ],
)
def test_window_at_step_edges(seconds_into_step: int, offset: int, accepted: bool) -> None:
    at = datetime.fromtimestamp(STEP * 30 + seconds_into_step, tz=UTC)
    code = code_at(STEP + offset)
    if accepted:
        assert totp.verify(SECRET, code, now=at, last_used_step=None) == STEP + offset
    else:
        with pytest.raises(InvalidCode):
            totp.verify(SECRET, code, now=at, last_used_step=None)


@pytest.mark.parametrize(
    ("last_used_step", "offset", "expected"),
    [
        (None, 0, STEP),
        (STEP - 1, 0, STEP),
        (STEP - 1, 1, STEP + 1),
        (STEP, 1, STEP + 1),
        (STEP, 0, ReplayedCode),
        (STEP, -1, ReplayedCode),
        (STEP + 1, 0, ReplayedCode),
        (STEP + 1, 1, ReplayedCode),
    ],
    ids=[
        "never-used",
        "newer-than-last-used",
        "next-after-previous",
        "next-after-current",
        "same-step-replayed",
        "older-after-newer-accepted",
        "current-after-next-accepted",
        "next-step-replayed",
    ],
)
def test_last_used_step_refuses_replay(
    now: datetime, last_used_step: int | None, offset: int, expected: int | type[MfaError]
) -> None:
    code = code_at(STEP + offset)
    if isinstance(expected, int):
        assert totp.verify(SECRET, code, now=now, last_used_step=last_used_step) == expected
    else:
        with pytest.raises(expected):
            totp.verify(SECRET, code, now=now, last_used_step=last_used_step)


def test_same_code_twice_is_accepted_once(now: datetime) -> None:
    code = code_at(STEP)
    accepted = totp.verify(SECRET, code, now=now, last_used_step=None)
    with pytest.raises(ReplayedCode):
        totp.verify(SECRET, code, now=now + timedelta(seconds=5), last_used_step=accepted)


def test_wrong_code_is_invalid_not_replayed(now: datetime) -> None:
    wrong = f"{(int(code_at(STEP)) + 1) % 1_000_000:06d}"
    assert wrong not in {code_at(STEP + offset) for offset in (-1, 0, 1)}
    with pytest.raises(InvalidCode):
        totp.verify(SECRET, wrong, now=now, last_used_step=STEP)


@pytest.mark.parametrize(
    "code",
    ["abcdef", "12345", "1234567", "", "      ", "12345a", "123-456", "١٢٣٤٥٦", "+12345"],
    ids=[
        "letters",
        "five-digits",
        "seven-digits",
        "empty",
        "only-spaces",
        "digit-and-letter",
        "dash",
        "arabic-indic-digits",
        "sign",
    ],
)
def test_malformed_code_is_refused(now: datetime, code: str) -> None:
    with pytest.raises(InvalidCode):
        totp.verify(SECRET, code, now=now, last_used_step=None)


def test_valid_code_with_extra_digit_is_refused(now: datetime) -> None:
    with pytest.raises(InvalidCode):
        totp.verify(SECRET, code_at(STEP) + "0", now=now, last_used_step=None)


@pytest.mark.parametrize(
    "layout",
    ["{a}{b}", "{a} {b}", " {a}{b} ", "{a}\t{b}", "{a}  {b}\n"],
    ids=["plain", "grouped", "padded", "tab", "double-space-newline"],
)
def test_spaces_are_ignored(now: datetime, layout: str) -> None:
    code = code_at(STEP)
    typed = layout.format(a=code[:3], b=code[3:])
    assert totp.verify(SECRET, typed, now=now, last_used_step=None) == STEP


# RFC 6238 Appendix B (SHA1 seed), truncated to 6 digits: independent of pyotp,
# and two of them keep a leading zero.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
        (20000000000, "353130"),
    ],
    ids=["t59", "t1111111109", "t1111111111", "t1234567890", "t2000000000", "t20000000000"],
)
def test_rfc6238_vectors(unix_time: int, code: str) -> None:
    at = datetime.fromtimestamp(unix_time, tz=UTC)
    assert totp.verify(RFC_SECRET, code, now=at, last_used_step=None) == unix_time // 30


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        totp.verify(SECRET, code_at(STEP), now=FIXED_NOW.replace(tzinfo=None), last_used_step=None)


def test_non_utc_aware_now_gives_same_step() -> None:
    elsewhere = FIXED_NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert totp.verify(SECRET, code_at(STEP), now=elsewhere, last_used_step=None) == STEP


def test_new_secret_is_160_bit_base32() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20


def test_new_secrets_are_unique_and_use_whole_alphabet() -> None:
    secrets = [totp.new_secret() for _ in range(200)]
    assert len(set(secrets)) == len(secrets)
    # 6400 symbols: missing one of 32 by chance is ~32 * (31/32)**6400, i.e. never.
    assert set("".join(secrets)) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


@pytest.mark.parametrize(
    ("account", "issuer"),
    [
        ("alice", "Example IdP"),
        ("alice@example.com", "Example IdP"),
        ("bob smith", "Acme"),
    ],
    ids=["plain-account", "email-account", "space-in-account"],
)
def test_provisioning_uri_contents(account: str, issuer: str) -> None:
    uri = totp.provisioning_uri(SECRET, account=account, issuer=issuer)
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert unquote(parts.path) == f"/{issuer}:{account}"
    assert query["secret"] == [SECRET]
    assert query["issuer"] == [issuer]
    # Defaults are left implicit (Key URI Format); if present they must be the defaults.
    assert query.get("digits", ["6"]) == ["6"]
    assert query.get("period", ["30"]) == ["30"]
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]


def test_provisioning_uri_enrols_an_app_whose_codes_verify(now: datetime) -> None:
    uri = totp.provisioning_uri(SECRET, account="alice", issuer="Example IdP")
    app = pyotp.parse_uri(uri)
    assert isinstance(app, pyotp.TOTP)
    assert (app.digits, app.interval, app.digest().name) == (6, 30, "sha1")
    assert totp.verify(SECRET, app.at(now), now=now, last_used_step=None) == STEP


def test_qr_svg_is_inline_accessible_and_local() -> None:
    uri = totp.provisioning_uri(SECRET, account="alice", issuer="Example IdP")
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert 'role="img"' in svg
    assert 'aria-label="QR code to scan with your authenticator app"' in svg
    assert "<title>QR code to scan with your authenticator app</title>" in svg
    # Nothing fetched from elsewhere, and the secret is only in the modules.
    assert "href" not in svg
    assert SECRET not in svg


def test_qr_svg_escapes_label() -> None:
    svg = totp.qr_svg("otpauth://totp/x?secret=" + SECRET, label='Scan "me" <now>')
    assert 'aria-label="Scan &quot;me&quot; &lt;now&gt;"' in svg
    assert "<now>" not in svg
