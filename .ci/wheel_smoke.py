"""Smoke test of the built wheel as a user runs it: a fresh venv outside the checkout.

Usage: python .ci/wheel_smoke.py DIST_DIR [--lowest]

Builds nothing itself: it installs the wheel found in DIST_DIR into a new venv in a
temporary folder, starts `idp demo` there, and walks the README's first steps over HTTP:
the sign-in page, a code flow through the demo app with TOTP registration, then a restart
with an anonymizer list that makes the sign-in risky, answered with the same authenticator.

With --lowest, each of the wheel's requirements is installed at the oldest release its
lower bound allows (uv's lowest-direct resolution), so a bound that claims too much shows:
a user whose other packages hold one of ours back gets what the wheel says it works with.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import Parser
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pyotp
import requests

CHECKOUT = Path(__file__).resolve().parent.parent
"""The checkout the wheel was built from."""


class Forms(HTMLParser):
    """The forms of a page: action, method and the fields with their values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "method": a.get("method", "get"),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def submit(
    http: requests.Session,
    page: requests.Response,
    fields: dict[str, str],
    button: tuple[str, str] | None = None,
) -> requests.Response:
    form = next(f for f in forms_of(page.text) if set(fields) <= set(f["fields"]) | set(fields))
    data = {**form["fields"], **fields}
    if button:
        data[button[0]] = button[1]
    url = urljoin(page.url, unescape(form["action"]))
    if form["method"].lower() == "post":
        return http.post(url, data=data, timeout=30)
    return http.get(url, params=data, timeout=30)


def expect(condition: bool, what: str, page: requests.Response | None = None) -> None:
    if not condition:
        detail = f"\n{page.status_code} {page.url}\n{page.text[:2000]}" if page is not None else ""
        sys.exit(f"wheel smoke: FAILED: {what}{detail}")
    print(f"wheel smoke: ok: {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Demo:
    """`idp demo` from the venv, in its own working folder."""

    def __init__(self, venv: Path, cwd: Path, port: int, config: Path | None = None) -> None:
        args = [str(venv / "bin" / "idp"), "demo", "--port", str(port)]
        if config:
            args += ["--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        self.log = (cwd / "demo.log").open("a")
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if (
                    requests.get(
                        f"{self.base}/.well-known/openid-configuration", timeout=2
                    ).status_code
                    == 200
                ):
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        sys.exit(f"wheel smoke: FAILED: idp demo did not start\n{(cwd / 'demo.log').read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()


def sign_in(base: str) -> tuple[requests.Session, requests.Response]:
    """Open the demo app, click "Sign in" and submit the demo credentials."""
    http = requests.Session()
    demo = http.get(f"{base}/demo", timeout=30)
    link = re.search(r'<a class="button" href="([^"]+)">Sign in</a>', demo.text)
    expect(demo.status_code == 200 and link is not None, "the demo app page", demo)
    assert link is not None
    login = http.get(urljoin(demo.url, unescape(link.group(1))), timeout=30)
    expect(login.status_code == 200 and "Password" in login.text, "the sign-in page", login)
    return http, submit(http, login, {"username": "demo", "password": "demo-password-1"})


def requirements(wheel: Path) -> list[str]:
    """The wheel's own requirements, extras' left out."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    return [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]


def install(wheel: Path, venv: Path, lowest: bool) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not lowest:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
        return
    pinned = venv / "requirements.txt"
    pinned.write_text("\n".join(requirements(wheel)) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
        ]
        + ["--resolution", "lowest-direct", "-r", str(pinned), str(wheel)],
        check=True,
    )
    listed = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "list", "--python", str(venv / "bin" / "python")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print("wheel smoke: at the lowest bounds:", " ".join(listed.split()[4:]))


def in_venv(venv: Path, cwd: Path, code: str) -> str:
    """What `code` prints, run by the venv's Python in `cwd` (outside the checkout)."""
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=cwd,
    ).stdout


def main(dist: Path, lowest: bool = False) -> None:
    wheel = next(dist.glob("idp-*.whl"))
    with tempfile.TemporaryDirectory(prefix="idp-wheel-") as tmp:
        root = Path(tmp)
        venv = root / "venv"
        install(wheel, venv, lowest)
        version = in_venv(venv, root, "import idp, pathlib; print(pathlib.Path(idp.__file__))")
        expect(str(root) in version, f"idp imported from the venv ({version.strip()})")
        shipped = in_venv(
            venv,
            root,
            "import idp, pathlib; from idp.worldmap import shapes; "
            "t = pathlib.Path(idp.__file__).parent / 'templates'; "
            "print((t / 'email' / 'account_event.txt').is_file(), "
            "(t / 'admin' / 'recommendations.html').is_file(), len(shapes()[1]) > 150)",
        )
        expect(
            shipped.split() == ["True", "True", "True"],
            f"email templates, admin pages and the world map ship in the wheel ({shipped.strip()})",
        )
        # Every language in the checkout, and the stylesheet, ship as files of the package.
        languages = sorted(
            path.parent.parent.name
            for path in (CHECKOUT / "idp" / "translations").glob("*/LC_MESSAGES/messages.po")
        )
        data = in_venv(
            venv,
            root,
            "import idp, pathlib; p = pathlib.Path(idp.__file__).parent; "
            "print(*sorted(m.parent.parent.name for m in "
            "p.glob('translations/*/LC_MESSAGES/messages.mo')), "
            "(p / 'static' / 'idp.css').is_file())",
        )
        expect(
            languages and data.split() == [*languages, "True"],
            f"translations {languages} and the stylesheet ship in the wheel ({data.strip()})",
        )
        work = root / "work"
        work.mkdir()
        port = free_port()

        (work / "bad.toml").write_text("[policies.mfa_registration]\ngrace_period_days = 45\n")
        refused = subprocess.run(
            [str(venv / "bin" / "idp"), "demo", "--port", str(port), "--config", "bad.toml"],
            cwd=work,
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        )
        expect(
            refused.returncode != 0
            and refused.stderr.strip()
            == "idp: configuration error: policies.mfa_registration.grace_period_days: "
            "must be between 0 and 30, got 45",
            f"a bad config stops start-up in one line ({refused.stderr.strip()!r})",
        )

        demo = Demo(venv, work, port)
        try:
            http, page = sign_in(demo.base)
            expect(
                page.status_code == 200 and "otpauth://" in page.text,
                "TOTP registration after the password",
                page,
            )
            secret = re.search(r'id="secret">([A-Z2-7]+)<', page.text)
            assert secret is not None
            # The demo's issuer is an IP address, which no browser takes as a passkey RP ID:
            # the page offers none, but the script must ship all the same.
            js = http.get(f"{demo.base}/static/passkey.js", timeout=30)
            expect(
                js.status_code == 200 and "navigator.credentials" in js.text,
                "the passkey script ships in the wheel",
                js,
            )
            german = requests.Session().get(
                f"{demo.base}/account/login", headers={"Accept-Language": "de"}, timeout=30
            )
            css = requests.get(f"{demo.base}/static/idp.css", timeout=30)
            expect(
                german.status_code == 200 and "Passwort" in german.text and css.status_code == 200,
                "a German browser gets the German sign-in page, with its stylesheet",
                german,
            )
            code = pyotp.TOTP(secret.group(1)).now()
            page = submit(http, page, {"code": code}, ("action", "verify"))
            expect("recovery codes" in page.text.lower(), "recovery codes shown", page)
            page = submit(http, page, {})
            expect(
                page.status_code == 200 and "amr: mfa, otp, pwd" in page.text,
                "back at the demo app with a code redeemed for tokens",
                page,
            )
        finally:
            demo.stop()

        (work / "local-anon.txt").write_text("127.0.0.0/8\n")
        (work / "risky.toml").write_text('[risk]\nanonymous_ip_list = "local-anon.txt"\n')
        demo = Demo(venv, work, port, work / "risky.toml")
        try:
            http, page = sign_in(demo.base)
            expect(
                page.status_code == 200
                and "Verification code" in page.text
                and "otpauth://" not in page.text,
                "after a restart, a risky sign-in asks for the registered authenticator",
                page,
            )
            # The first code's time step was used at registration: wait for the next one.
            totp = pyotp.TOTP(secret.group(1))
            while totp.now() == code:
                time.sleep(1)
            page = submit(http, page, {"code": totp.now()})
            expect(
                page.status_code == 200 and "amr: mfa, otp, pwd" in page.text,
                "the same authenticator still works after the restart",
                page,
            )
        finally:
            demo.stop()
    print("wheel smoke: passed")


if __name__ == "__main__":
    main(Path(sys.argv[1]), lowest="--lowest" in sys.argv[2:])
