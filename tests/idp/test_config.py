"""Configuration: one validated object; bad input stops start-up with one line naming the key."""

from __future__ import annotations

import pytest

from idp.config import load_settings
from idp.errors import ConfigError
from idp.services import services

GOOD_SECRET = 'secret_key = "0123456789abcdef-long-enough"\n'


def _load(tmp_path, text, env=None):
    path = tmp_path / "idp.toml"
    path.write_text(GOOD_SECRET + text)
    return load_settings(path, environ=env or {})


def test_spec_example_loads(tmp_path):
    s = _load(
        tmp_path,
        """
issuer = "http://127.0.0.1:5000"
database_url = "sqlite:///instance/idp.db"
trusted_proxies = ["127.0.0.1/32"]
[mfa]
totp_issuer = "Example IdP"
[policies.mfa_registration]
state = "on"
grace_period_days = 14
include_groups = ["*"]
exclude_groups = []
[policies.sign_in_risk]
state = "on"
mfa_at = "medium"
block_at = "never"
[policies.user_risk]
state = "report-only"
password_change_at = "high"
block_at = "never"
""",
    )
    assert s.policies.mfa_registration.grace_period_days == 14
    assert s.policies.user_risk.state == "report-only"
    assert s.trusted_proxies == ("127.0.0.1/32",)


@pytest.mark.parametrize(
    "text, key",
    [
        (
            "[policies.mfa_registration]\ngrace_period_days = 45\n",
            "policies.mfa_registration.grace_period_days: must be between 0 and 30, got 45",
        ),
        (
            "[policies.mfa_registration]\ngrace_period_days = -1\n",
            "policies.mfa_registration.grace_period_days: must be between 0 and 30",
        ),
        (
            '[policies.mfa_registration]\ngrace_period_days = "14"\n',
            "policies.mfa_registration.grace_period_days: must be an integer",
        ),
        (
            '[policies.sign_in_risk]\nmfa_at = "extreme"\n',
            "policies.sign_in_risk.mfa_at: must be one of low | medium | high | never",
        ),
        (
            '[policies.sign_in_risk]\nstate = "maybe"\n',
            "policies.sign_in_risk.state: must be one of on | off | report-only",
        ),
        (
            '[policies.sign_in_risk]\nmfa_strength = "strong"\n',
            "policies.sign_in_risk.mfa_strength: must be one of any | phishing-resistant",
        ),
        (
            "[policies.user_risk]\nmfa_strength = 1\n",
            "policies.user_risk.mfa_strength: must be a string",
        ),
        (
            '[policies.mfa_registration]\nstate = "report-only"\n',
            "policies.mfa_registration.state: must be one of on | off",
        ),
        ('colour = "blue"\n', "colour: unknown key"),
        (
            '[policies.sign_in_risk]\nmfa_at_level = "low"\n',
            "policies.sign_in_risk.mfa_at_level: unknown key",
        ),
        ('trusted_proxies = ["not-an-ip"]\n', "trusted_proxies: 'not-an-ip' is not an IP network"),
        ('trusted_proxies = "127.0.0.1/32"\n', "trusted_proxies: must be a list of strings"),
        ('issuer = "ftp://x"\n', "issuer: 'ftp://x' must be an http(s) URL"),
        ('database_url = "mysql://x"\n', "database_url: 'mysql://x' must start with"),
        ("policies = 3\n", "policies: must be a table"),
    ],
    ids=[
        "grace-45",
        "grace-negative",
        "grace-string",
        "bad-level",
        "bad-state",
        "bad-strength",
        "strength-not-string",
        "registration-report-only",
        "unknown-top",
        "unknown-nested",
        "bad-cidr",
        "cidr-not-list",
        "bad-issuer",
        "bad-db",
        "not-a-table",
    ],
)
def test_bad_values_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert key in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("days", [0, 30], ids=["lowest", "highest"])
def test_grace_period_edges_accepted(tmp_path, days):
    s = _load(tmp_path, f"[policies.mfa_registration]\ngrace_period_days = {days}\n")
    assert s.policies.mfa_registration.grace_period_days == days


@pytest.mark.parametrize(
    "secret", ["", "change-me", "dev", "short"], ids=["empty", "placeholder", "dev", "short"]
)
def test_placeholder_secret_refused(tmp_path, secret):
    path = tmp_path / "idp.toml"
    path.write_text(f'secret_key = "{secret}"\n')
    with pytest.raises(ConfigError, match="^secret_key: "):
        load_settings(path, environ={})


def test_environment_overrides_file(tmp_path):
    s = _load(
        tmp_path,
        '[policies.sign_in_risk]\nmfa_at = "medium"\n',
        env={
            "IDP_POLICIES__SIGN_IN_RISK__MFA_AT": "high",
            "IDP_POLICIES__MFA_REGISTRATION__GRACE_PERIOD_DAYS": "7",
            "IDP_TRUSTED_PROXIES": '["10.0.0.0/8", "127.0.0.1/32"]',
            "IDP_ISSUER": "https://login.example.org",
        },
    )
    assert s.policies.sign_in_risk.mfa_at == "high"
    assert s.policies.mfa_registration.grace_period_days == 7
    assert s.trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32")
    assert s.issuer == "https://login.example.org"


def test_environment_value_is_validated(tmp_path):
    with pytest.raises(ConfigError, match="grace_period_days: must be between 0 and 30"):
        _load(tmp_path, "", env={"IDP_POLICIES__MFA_REGISTRATION__GRACE_PERIOD_DAYS": "99"})


def test_unknown_environment_setting_refused(tmp_path):
    with pytest.raises(ConfigError, match="IDP_POLICIES__SIGN_IN_RISK__MFA: unknown"):
        _load(tmp_path, "", env={"IDP_POLICIES__SIGN_IN_RISK__MFA": "low"})


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(GOOD_SECRET + 'issuer = "https://a.example"\n', encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_settings(path, environ={}).issuer == "https://a.example"


def test_config_from_idp_config_variable(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(GOOD_SECRET + 'issuer = "https://a.example"\n')
    assert load_settings(None, environ={"IDP_CONFIG": str(path)}).issuer == "https://a.example"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("this is = = not toml", "not valid TOML"),
    ],
    ids=["missing", "not-toml"],
)
def test_bad_file(tmp_path, content, message):
    path = tmp_path / "idp.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    "text, message",
    [
        ('[risk]\nimpossible_travel_kmh = "fast"\n', "risk.impossible_travel_kmh: "),
        ("[risk]\nno_such_key = 1\n", "risk.no_such_key"),
    ],
    ids=["bad-value", "unknown-key"],
)
def test_risk_table_is_validated_at_load(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_missing_feed_file_stops_start_up(tmp_path):
    from idp import create_app

    settings = _load(
        tmp_path,
        f'database_url = "sqlite:///{tmp_path}/x.db"\n'
        f'[risk]\nmalicious_ip_list = "{tmp_path}/missing.txt"\n',
    )
    with pytest.raises(ConfigError, match="^risk.malicious_ip_list: cannot read "):
        create_app(settings)


def test_risk_key_from_environment(tmp_path):
    s = _load(tmp_path, "", env={"IDP_RISK__IMPOSSIBLE_TRAVEL_KMH": "1200"})
    assert s.risk.impossible_travel_kmh == 1200


@pytest.mark.parametrize(
    "url, expected",
    [
        ("sqlite:///instance/idp.db", "sqlite:///{cwd}/instance/idp.db"),
        ("sqlite:////var/lib/idp.db", "sqlite:////var/lib/idp.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://db/idp", "postgresql+psycopg://db/idp"),
    ],
    ids=["relative", "absolute", "memory", "postgresql"],
)
def test_sqlite_paths_are_resolved_against_the_working_directory(
    tmp_path, monkeypatch, url, expected
):
    monkeypatch.chdir(tmp_path)
    s = _load(tmp_path, f'database_url = "{url}"\n')
    assert s.database_url == expected.format(cwd=tmp_path)


def test_the_risk_table_is_parsed_once(tmp_path, monkeypatch):
    from idp import create_app
    from risk.settings import RiskSettings

    calls = []
    parse = RiskSettings.from_mapping.__func__
    monkeypatch.setattr(
        RiskSettings,
        "from_mapping",
        classmethod(lambda cls, data: calls.append(data) or parse(cls, data)),
    )
    settings = _load(
        tmp_path,
        f'database_url = "sqlite:///{tmp_path}/x.db"\n[risk]\nimpossible_travel_kmh = 1000\n',
    )
    assert isinstance(settings.risk, RiskSettings)
    assert services(create_app(settings)).risk.settings is settings.risk
    assert calls == [{"impossible_travel_kmh": 1000}]


def test_replace_validates_like_a_load():
    from dataclasses import replace

    from idp.config import Settings

    settings = Settings()
    assert replace(settings.policies.sign_in_risk, mfa_at="high").mfa_at == "high"
    with pytest.raises(ValueError, match="mfa_at"):
        replace(settings.policies.sign_in_risk, mfa_at="extreme")
    assert (
        replace(settings, risk={"impossible_travel_kmh": 1200}).risk.impossible_travel_kmh == 1200
    )


def test_the_strengths_are_the_policy_engines():
    import typing

    from idp.config import Strength
    from risk.policy import STRENGTHS

    assert typing.get_args(Strength) == STRENGTHS


@pytest.mark.parametrize(
    "text, env, message",
    [
        ("demo = true\n", {}, "demo: unknown key (allowed here: issuer, secret_key, "),
        ("", {"IDP_DEMO": "true"}, None),
        ("[server]\ngunicorn = 3\n", {}, "server.gunicorn: must be a table"),
        (
            "",
            {"IDP_SERVER__GUNICORN__MAX_REQUESTS": "5"},
            "IDP_SERVER__GUNICORN__MAX_REQUESTS: unknown setting in the environment",
        ),
        (
            "",
            {"IDP_LOCKOUT__FAMILIAR_SEPARATE": "no"},
            "lockout.familiar_separate: must be true or false, got 'no'",
        ),
        ('old_secret_keys = "x"\n', {}, "old_secret_keys: must be a list of strings, got 'x'"),
        ("[server]\nworkers = true\n", {}, "server.workers: must be an integer, got True"),
    ],
    ids=[
        "demo-in-file",
        "demo-in-environment-ignored",
        "gunicorn-not-table",
        "unknown-gunicorn-variable",
        "bool-from-environment",
        "list-not-list",
        "bool-not-int",
    ],
)
def test_more_one_line_messages(tmp_path, text, env, message):
    if message is None:
        assert _load(tmp_path, text, env=env).demo is False
        return
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text, env=env)
    assert str(err.value).startswith(message)


def test_environment_lists_may_be_comma_separated(tmp_path):
    s = _load(
        tmp_path,
        "",
        env={
            "IDP_METRICS_ALLOW": "10.0.0.0/8, ::1/128",
            "IDP_SERVER__GUNICORN": "{max_requests = 5}",
        },
    )
    assert s.metrics_allow == ("10.0.0.0/8", "::1/128")
    assert s.server.gunicorn == {"max_requests": 5}
