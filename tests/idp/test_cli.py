"""The `idp` command line, run as a real process like an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from idp.errors import IdpError

IDP = [sys.executable, "-m", "idp"]


@pytest.fixture
def config(tmp_path, database_url):
    path = tmp_path / "idp.toml"
    path.write_text(f"""
secret_key = "test-secret-key-0123456789"
issuer = "http://127.0.0.1:5999"
database_url = "{database_url}"
[passwords]
argon2_memory_kib = 64
argon2_time_cost = 1
argon2_parallelism = 1
""")
    return str(path)


def run(*args, stdin=None, env=None):
    return subprocess.run(
        [*IDP, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def run_json(*args):
    """Run a command with `--json`; its output, or a failure that shows what it printed."""
    done = run(*args, "--json")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def test_full_operator_session(config, database_url):
    assert run("db", "upgrade", "--config", config).returncode == 0
    added = run(
        "users",
        "add",
        "carol",
        "--email",
        "carol@example.org",
        "--group",
        "staff",
        "--group",
        "admins",
        "--password-stdin",
        "--config",
        config,
        stdin="carol-password-1\n",
    )
    assert added.returncode == 0, added.stderr
    reset = run(
        "users",
        "set-password",
        "carol",
        "--password-stdin",
        "--temporary",
        "--config",
        config,
        stdin="carol-temp-pass\n",
    )
    assert reset.returncode == 0, reset.stderr
    made = run(
        "clients",
        "add",
        "Wiki",
        "--redirect-uri",
        "https://wiki.example/cb",
        "--json",
        "--config",
        config,
    )
    assert made.returncode == 0, made.stderr
    creds = json.loads(made.stdout)
    assert set(creds) == {"client_id", "client_secret"} and creds["client_secret"]
    public = run(
        "clients",
        "add",
        "SPA",
        "--redirect-uri",
        "http://127.0.0.1:8080/cb",
        "--public",
        "--json",
        "--config",
        config,
    )
    assert json.loads(public.stdout)["client_secret"] is None
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT groups, password_must_change FROM users WHERE username='carol'")
        ).one()
        secret_col = conn.execute(
            sa.text("SELECT client_secret FROM oauth2_clients WHERE client_id=:c"),
            {"c": creds["client_id"]},
        ).one()
    engine.dispose()
    assert sorted(json.loads(row[0]) if isinstance(row[0], str) else row[0]) == ["admins", "staff"]
    assert row[1] in (True, 1)
    assert creds["client_secret"] not in secret_col[0]  # stored hashed


def test_idp_config_environment_variable(config):
    assert run("db", "upgrade", env={"IDP_CONFIG": config}).returncode == 0


def test_bad_config_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'secret_key = "test-secret-key-0123456789"\n'
        "[policies.mfa_registration]\ngrace_period_days = 45\n"
    )
    result = run("db", "upgrade", "--config", str(path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "policies.mfa_registration.grace_period_days" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_config_file_is_one_line(tmp_path):
    result = run("db", "upgrade", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not found" in result.stderr


def test_duplicate_user_is_a_clear_error(config):
    run("db", "upgrade", "--config", config)
    run("users", "add", "dave", "--password-stdin", "--config", config, stdin="dave-password\n")
    again = run(
        "users", "add", "dave", "--password-stdin", "--config", config, stdin="dave-password\n"
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


def test_serve_refuses_unmigrated_database(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(
        f'secret_key = "test-secret-key-0123456789"\n'
        f'database_url = "sqlite:///{tmp_path}/empty.db"\n'
    )
    result = run("serve", "--config", str(path), "--port", "5998")
    assert result.returncode != 0
    assert "idp db upgrade" in result.stderr


def test_serve_refuses_a_secret_key_that_cannot_open_the_signing_keys(tmp_path):
    path = tmp_path / "idp.toml"

    def config(secret: str) -> str:
        path.write_text(f'secret_key = "{secret}"\ndatabase_url = "sqlite:///{tmp_path}/idp.db"\n')
        return str(path)

    assert run("db", "upgrade", "--config", config("first-secret-key-0123456789")).returncode == 0
    assert run("keys", "rotate", "--config", str(path)).returncode == 0
    result = run("serve", "--config", config("other-secret-key-0123456789"), "--port", "5997")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "idp: configuration error: secret_key cannot decrypt the stored signing keys; set "
        "the secret_key they were sealed with, or list it in old_secret_keys"
    ]


def test_flask_cli_works_too(config):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "idp", "keys", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "IDP_CONFIG": config},
    )
    assert result.returncode == 0, result.stderr
    assert "rotate" in result.stdout


def test_missing_feed_is_one_line(tmp_path, database_url):
    path = tmp_path / "idp.toml"
    path.write_text(
        f'secret_key = "test-secret-key-0123456789"\n'
        f'database_url = "{database_url}"\n'
        f'[risk]\nleaked_passwords = "{tmp_path}/pwned.txt"\n'
    )
    result = run("db", "upgrade", "--config", str(path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "risk.leaked_passwords: cannot read" in lines[0], result.stderr


def test_version():
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"idp, version {version('idp')}"


def test_keys_reseal_and_list(config):
    assert run("db", "upgrade", "--config", config).returncode == 0
    listed = run("keys", "list", "--config", config)
    assert listed.returncode == 0 and "current" in listed.stdout
    resealed = run("keys", "reseal", "--config", config)
    assert resealed.returncode == 0
    assert "resealed 1 signing keys and 0 TOTP secrets" in resealed.stdout


def test_user_and_client_lifecycle(config, database_url):
    assert run("db", "upgrade", "--config", config).returncode == 0
    assert (
        run(
            "users",
            "add",
            "carol",
            "--password-stdin",
            "--config",
            config,
            stdin="a-good-password-1\n",
        ).returncode
        == 0
    )
    listed = run("users", "list", "--config", config).stdout
    assert "carol" in listed and "no second factor" in listed and "enabled" in listed
    assert run("users", "disable", "carol", "--config", config).returncode == 0
    assert "disabled" in run("users", "list", "--config", config).stdout
    assert run("users", "enable", "carol", "--config", config).returncode == 0
    reset = run("users", "reset-mfa", "carol", "--config", config)
    assert reset.returncode == 0 and "register again" in reset.stdout
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT activity FROM risk_history")).scalars().all() == [
            "secondFactorsReset"
        ]
    engine.dispose()
    refused = run("users", "delete", "carol", "--config", config, stdin="n\n")
    assert refused.returncode != 0
    assert run("users", "delete", "carol", "--yes", "--config", config).returncode == 0
    assert "carol" not in run("users", "list", "--config", config).stdout
    assert (
        run("users", "disable", "carol", "--config", config)
        .stderr.strip()
        .endswith("no user named 'carol'")
    )

    creds = run_json(
        "clients", "add", "Wiki", "--redirect-uri", "https://wiki.example/cb", "--config", config
    )
    assert creds["client_id"] in run("clients", "list", "--config", config).stdout
    rotated = run_json("clients", "rotate-secret", creds["client_id"], "--config", config)
    assert rotated["client_secret"] != creds["client_secret"]
    assert run("clients", "delete", creds["client_id"], "--yes", "--config", config).returncode == 0
    assert creds["client_id"] not in run("clients", "list", "--config", config).stdout


def test_a_new_client_id_never_reads_as_an_option(monkeypatch):
    """One random id in 64 began with '-', and `idp clients rotate-secret ID` took it for an
    option: CI once failed on such an id."""
    from idp import clients

    drawn = iter(["-Xk3XC7zIwcjux9SWVzXFjW", "k3XC7zIwcjux9SWVzXFjWIgb"])
    monkeypatch.setattr(clients.secrets, "token_urlsafe", lambda size: next(drawn))
    assert clients.new_client_id() == "k3XC7zIwcjux9SWVzXFjWIgb"


def test_a_rotated_secret_replaces_the_old_one_at_once(provider):
    from idp.clients import find_client, rotate_secret

    rp = provider.rp(grant_types=["client_credentials"], scopes=["openid"], redirect_uris=[])
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 200
    with provider.app.app_context():
        new = rotate_secret(find_client(rp.client_id))
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 401
    rp.secret = new
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 200


def test_a_disabled_user_cannot_sign_in_or_use_tokens(provider):
    from idp.users import find_user, set_disabled

    provider.user("alice")
    rp = provider.rp()
    tokens = rp.tokens()
    with provider.app.app_context():
        set_disabled(find_user("alice"), True)
    me = provider.app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 401
    assert provider.rp().sign_in().status_code == 401


def test_server_section_reaches_gunicorn(settings):
    from dataclasses import replace

    from idp.config import ServerSettings
    from idp.serve import gunicorn_options

    server = ServerSettings(
        workers=3, threads=4, timeout_seconds=90, gunicorn={"max_requests": 1000}
    )
    options = gunicorn_options(server, "0.0.0.0", 8000, None, 16)
    assert (options["workers"], options["threads"], options["timeout"]) == (3, 16, 90)
    assert options["max_requests"] == 1000 and options["bind"] == "0.0.0.0:8000"
    with pytest.raises(IdpError, match="server.gunicorn.nonsense: not a gunicorn setting"):
        gunicorn_options(replace(server, gunicorn={"nonsense": 1}), "h", 1, None, None)


def test_unknown_gunicorn_setting_stops_serve_in_one_line(tmp_path, database_url):
    path = tmp_path / "idp.toml"
    path.write_text(
        f'secret_key = "test-secret-key-0123456789"\n'
        f'database_url = "{database_url}"\n[server.gunicorn]\nworkerz = 4\n'
    )
    assert run("db", "upgrade", "--config", str(path)).returncode == 0
    result = run("serve", "--config", str(path), "--port", "5997")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "idp: configuration error: server.gunicorn.workerz: not a gunicorn setting"
    ]


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ('engine = "uwsgi"', "server.engine: must be one of"),
        (
            'engine = "granian"\n[server.gunicorn]\nmax_requests = 10',
            "server.gunicorn: gunicorn settings, but server.engine is granian",
        ),
    ],
)
def test_server_engine_mistakes_stop_serve_in_one_line(tmp_path, database_url, server, message):
    path = tmp_path / "idp.toml"
    path.write_text(
        f'secret_key = "test-secret-key-0123456789"\n'
        f'database_url = "{database_url}"\n[server]\n{server}\n'
    )
    run("db", "upgrade", "--config", str(path))  # refused too when the engine is unknown
    result = run("serve", "--config", str(path), "--port", "5996")
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("idp: configuration error: ") and message in line, line


def _user_row(database_url, name):
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT display_name, email, email_verified, claims, profile_updated_at "
                "FROM users WHERE username = :name"
            ),
            {"name": name},
        ).one()
    engine.dispose()
    claims = row.claims if isinstance(row.claims, dict) else json.loads(row.claims or "{}")
    return row.display_name, row.email, bool(row.email_verified), claims, row.profile_updated_at


def test_users_set_claims(config, database_url):
    assert run("db", "upgrade", "--config", config).returncode == 0
    added = run(
        "users",
        "add",
        "carol",
        "--name",
        "Carol Ann",
        "--password-stdin",
        "--config",
        config,
        stdin="a-good-password-1\n",
    )
    assert added.returncode == 0, added.stderr
    assert _user_row(database_url, "carol")[0] == "Carol Ann"
    result = run(
        "users",
        "set-claims",
        "carol",
        "given_name=Carol",
        "family_name=Ann",
        "address.locality=Berlin",
        "address.country=DE",
        "email=carol@example.org",
        "email_verified=true",
        "phone_number=+49 30 1234567",
        "--config",
        config,
    )
    assert result.returncode == 0, result.stderr
    assert "given_name" in result.stdout and "address" in result.stdout
    name, email, verified, claims, updated = _user_row(database_url, "carol")
    assert (name, email, verified) == ("Carol Ann", "carol@example.org", True)
    assert claims == {
        "given_name": "Carol",
        "family_name": "Ann",
        "phone_number": "+49301234567",
        "address": {"locality": "Berlin", "country": "DE"},
    }
    assert updated is not None
    result = run(
        "users",
        "set-claims",
        "carol",
        "--unset",
        "family_name",
        "--unset",
        "address.country",
        "email_verified=False",
        "--config",
        config,
    )
    assert result.returncode == 0, result.stderr
    _, _, verified, claims, _ = _user_row(database_url, "carol")
    assert not verified and claims == {
        "given_name": "Carol",
        "phone_number": "+49301234567",
        "address": {"locality": "Berlin"},
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["website=javascript:alert(1)"], "website must be an absolute http or https URL"),
        (["email_verified=yes"], "email_verified must be true or false"),
        (["preferred_username=root"], "preferred_username cannot be set"),
        (["nonsense"], "expected CLAIM=VALUE"),
        (["given_name=Carol", "zoneinfo=Mars/Base"], "zoneinfo must be an IANA time zone"),
        ([], "at least one"),
    ],
    ids=["javascript-url", "bad-boolean", "read-only", "no-equals", "one-bad-of-two", "nothing"],
)
def test_users_set_claims_refuses_in_one_line(config, database_url, args, message):
    assert run("db", "upgrade", "--config", config).returncode == 0
    assert (
        run(
            "users",
            "add",
            "carol",
            "--password-stdin",
            "--config",
            config,
            stdin="a-good-password-1\n",
        ).returncode
        == 0
    )
    result = run("users", "set-claims", "carol", *args, "--config", config)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert _user_row(database_url, "carol")[3] in ({}, None)


def test_users_add_refuses_a_bad_display_name_before_creating(config, database_url):
    assert run("db", "upgrade", "--config", config).returncode == 0
    result = run(
        "users",
        "add",
        "carol",
        "--name",
        "Carol\x1b[31m",
        "--password-stdin",
        "--config",
        config,
        stdin="a-good-password-1\n",
    )
    assert result.returncode == 2 and "control" in result.stderr
    assert "carol" not in run("users", "list", "--config", config).stdout


# The commands and options are public (SPEC "Command line"): moving them between modules of
# the idp.cli package must leave every name where it was.
COMMANDS = {
    "backchannel deliver": "--config --timeout",
    "backchannel status": "--config --limit",
    "clients add": "NAME --backchannel-logout-session-required --backchannel-logout-uri "
    "--config --grant-type --json --post-logout-redirect-uri --public "
    "--redirect-uri --scope --third-party",
    "clients delete": "CLIENT_ID --config --yes",
    "clients initial-access-token": "",
    "clients list": "--config",
    "clients rotate-secret": "CLIENT_ID --config --json",
    "db upgrade": "--config",
    "demo": "--config --host --port",
    "keys list": "--config",
    "keys reseal": "--config",
    "keys rotate": "--config",
    "notify digest": "--config --days --dry-run",
    "policy simulate": "--candidate --config --days",
    "risk replay": "PATH --cities --config --levels-out",
    "serve": "--config --host --port --threads --workers",
    "users add": "NAME --config --email --group --name --password-stdin",
    "users delete": "NAME --config --yes",
    "users disable": "NAME --config",
    "users enable": "NAME --config",
    "users list": "--config",
    "users reset-mfa": "NAME --config",
    "users set-claims": "NAME ASSIGNMENTS --config --unset",
    "users set-password": "NAME --config --password-stdin --temporary",
}


def test_every_command_and_option_keeps_its_name():
    import click

    from idp.cli import cli

    def walk(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
            return
        options = sorted(o for p in command.params for o in p.opts if o.startswith("--"))
        arguments = [p.name.upper() for p in command.params if isinstance(p, click.Argument)]
        yield " ".join(path), " ".join(arguments + options)

    assert dict(walk(cli, [])) == COMMANDS


def test_each_command_group_is_a_module_of_its_own():
    import click

    from idp.cli import cli

    for name, command in cli.commands.items():
        commands = command.commands.values() if isinstance(command, click.Group) else [command]
        assert {c.callback.__module__ for c in commands} == {f"idp.cli.{name}"}, name
