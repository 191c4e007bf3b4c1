"""Translations: the catalogues are complete and current, the language is chosen per request
(ui_locales, then Accept-Language, else English), the main pages render in German, and
English pages, protocol errors and the admin API read exactly as before."""

from __future__ import annotations

import gettext
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import render_template_string

from idp.i18n import LOCALES, TRANSLATIONS
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import LISTED_ANON, LONDON, TOR, submit_code
from tests.idp.test_consent import consent_url, open_account, third_party
from tests.idp.test_notify import notifying, smtp  # noqa: F401  (fixtures)
from tests.locales import speak, texts
from tests.packaging import shipped

ROOT = Path(__file__).resolve().parents[2]
POT = TRANSLATIONS / "messages.pot"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "lazy_gettext": None}


def _po(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


def _ids(catalogue) -> set[object]:
    return {m.id for m in catalogue if m.id}


# --- the catalogues ---------------------------------------------------------------------


def test_the_template_holds_every_string_the_sources_mark():
    """messages.pot is current: re-extracting (babel.cfg) finds exactly its messages."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    with open(POT, "rb") as f:
        pot = _ids(read_po(f))
    ids = {m if isinstance(m, str) else tuple(m) for m in pot}
    assert found - ids == set(), "run pybabel extract (idp/translations/README.md)"
    assert ids - found == set(), "the .pot holds messages no source uses any more"


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_every_message_is_translated(locale):
    """Every msgid of the .pot has a translation in the .po: none empty, fuzzy or extra."""
    with open(POT, "rb") as f:
        pot = read_po(f)
    po = _po(locale)
    assert _ids(po) == _ids(pot)
    for message in po:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"untranslated: {message.id!r}"
        assert not message.fuzzy, f"fuzzy: {message.id!r}"
    # Placeholders (%(name)s ...) of each translation match its source.
    assert [(m.id, errors) for m, errors in po.check()] == []


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_the_compiled_catalogue_is_the_po(locale):
    """The shipped .mo holds exactly the .po's translations (pybabel compile was run)."""
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)
    expected: dict[object, str] = {}
    for message in _po(locale):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            for n, text in enumerate(message.string):
                expected[(message.id[0], n)] = text
        else:
            expected[message.id] = message.string
    actual = {k: v for k, v in compiled._catalog.items() if k != ""}  # type: ignore[attr-defined]
    assert actual == expected, "run pybabel compile -d idp/translations"


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_the_catalogues_ship_inside_the_wheel(locale):
    """A new language's folders must be added to pyproject.toml (idp/translations/README.md)."""
    assert shipped(f"idp/translations/{locale}/LC_MESSAGES/messages.mo")


# --- gettext in Python and templates ------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(1, "1 passkey"), (2, "2 passkeys")], ids=["singular", "plural"]
)
def test_ngettext_picks_the_form_and_fills_num(app, n, expected):
    from idp.i18n import ngettext

    with app.test_request_context():
        assert ngettext("%(num)d passkey", "%(num)d passkeys", n) == expected
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert ngettext("%(num)d passkey", "%(num)d passkeys", n) == expected.replace(
            "passkey", "Passkey"
        )


def test_gettext_fills_placeholders_only_when_given(app):
    from idp.i18n import gettext

    with app.test_request_context():
        assert gettext("100% sure") == "100% sure"
        assert gettext("Hello %(name)s", name="alice") == "Hello alice"
    # Outside a request (the CLI): English.
    assert gettext("Sign in") == "Sign in"


def test_templates_and_python_share_the_catalogue(app):
    with app.test_request_context(headers={"Accept-Language": "de-DE,de;q=0.9"}):
        text = render_template_string(
            "{% trans name='alice' %}Signed in as {{ name }}{% endtrans %} / {{ _('Sign in') }}"
            " / {{ html_lang() }}"
        )
    assert text == "Angemeldet als alice / Anmelden / de"


# --- which language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("de", "de"),
        ("de-AT", "de"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr;q=1.0,de;q=0.8,en;q=0.5", "de"),
        ("en-GB,de;q=0.5", "en"),
        ("*", "en"),
    ],
    ids=["none", "de", "de-AT", "unshipped", "second-choice", "english-first", "any"],
)
def test_accept_language_picks_the_best_shipped_language(app, header, expected):
    from idp.i18n import language

    headers = {"Accept-Language": header} if header else {}
    with app.test_request_context("/login", headers=headers):
        assert language() == expected


def test_ui_locales_is_the_explicit_choice(app):
    from idp.i18n import language

    with app.test_request_context(
        "/authorize?ui_locales=fr%20de", headers={"Accept-Language": "en"}
    ):
        assert language() == "de"
    with app.test_request_context("/authorize?ui_locales=fr", headers={"Accept-Language": "de"}):
        assert language() == "de"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/identityProtection/riskyUsers",
        "/token",
        "/.well-known/openid-configuration",
        "/userinfo",
    ],
)
def test_programs_endpoints_stay_english(app, path):
    from idp.i18n import language

    with app.test_request_context(path, headers={"Accept-Language": "de"}):
        assert language() == "en"


def test_json_errors_stay_english(client):
    response = client.get("/token", headers={"Accept-Language": "de"})
    assert response.status_code == 405
    assert response.get_json()["error_description"] == (
        "The method is not allowed for the requested URL."
    )


def test_html_errors_follow_the_language(client):
    t = texts("de")
    html = client.get("/no-such-page", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="de">' in html
    assert t("Not Found") in html and t("Request id:") in html


# --- the pages, in each language -----------------------------------------------------------


def _login_page(rp, locale):
    speak(rp.browser, locale)
    first = rp.browser.get(rp.authorize_url())
    return first.location, rp.browser.get(first.location).get_data(as_text=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_sign_in_page(provider, locale):
    t = texts(locale)
    provider.user()
    rp = provider.rp()
    url, html = _login_page(rp, locale)
    assert f'<html lang="{locale}">' in html
    assert f'<label for="username">{t("Username")}</label>' in html
    assert f'<label for="password">{t("Password")}</label>' in html
    assert f'<button type="submit">{t("Sign in")}</button>' in html
    assert t("Forgot password?") in html
    wrong = rp.browser.post(
        url, data={"csrf_token": csrf_from_html(html), "username": "alice", "password": "wrong"}
    )
    assert wrong.status_code == 401
    assert t("Your account or password is incorrect.") in wrong.get_data(as_text=True)
    assert t("(error %(code)s)", code=50126) in wrong.get_data(as_text=True)


def test_english_sign_in_page_reads_as_before(provider):
    """With no Accept-Language the page is the English one, word for word (SPEC labels)."""
    provider.user()
    rp = provider.rp()
    first = rp.browser.get(rp.authorize_url())
    html = rp.browser.get(first.location).get_data(as_text=True)
    assert '<html lang="en">' in html and "<title>Sign in · " in html
    assert '<label for="username">Username</label>' in html
    assert '<label for="password">Password</label>' in html
    assert '<button type="submit">Sign in</button>' in html
    assert "Benutzername" not in html


def test_ui_locales_carries_through_the_flow(provider):
    """The client's ui_locales beats the browser's Accept-Language on every page of it."""
    t = texts("de")
    provider.user()
    rp = provider.rp()
    speak(rp.browser, "en")
    first = rp.browser.get(rp.authorize_url(ui_locales="de"))
    html = rp.browser.get(first.location).get_data(as_text=True)
    assert '<html lang="de">' in html and t("Username") in html


def csrf_from_html(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.mark.parametrize("locale", LOCALES)
def test_mfa_challenge_page(stepup, locale):
    t = texts(locale)
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    speak(rp.browser, locale)
    challenge = rp.sign_in()
    assert "/mfa/verify" in challenge.location
    html = rp.browser.get(challenge.location).get_data(as_text=True)
    assert f'<html lang="{locale}">' in html
    assert f"<h1>{t('Verify your identity')}</h1>" in html
    assert f'<label for="code">{t("Verification code")}</label>' in html
    assert f'<button type="submit">{t("Verify")}</button>' in html
    wrong = submit_code(rp, challenge.location, "000000")
    assert wrong.status_code == 400
    assert t(
        "That code is not right. Enter the current code from your authenticator app."
    ) in wrong.get_data(as_text=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_mfa_registration_page(stepup, locale):
    t = texts(locale)
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    speak(rp.browser, locale)
    first = rp.sign_in()
    assert "/mfa/register" in first.location
    html = rp.browser.get(first.location).get_data(as_text=True)
    assert t("Set up your authenticator app") in html
    assert t("Skip for now") in html
    label = t("QR code to scan with your authenticator app")
    assert f'aria-label="{label}"' in html and f"<title>{label}</title>" in html
    days = t(
        "Your organisation requires a second sign-in factor. You can skip this for now: "
        "<strong>%(count)s day left</strong> before it becomes required.",
        "Your organisation requires a second sign-in factor. You can skip this for now: "
        "<strong>%(count)s days left</strong> before it becomes required.",
        14,
        count=14,
    )
    assert days in html


@pytest.mark.parametrize("locale", LOCALES)
def test_blocked_page(stepup, locale):
    t = texts(locale)
    stepup.user()
    rp = stepup.browser_rp(LISTED_ANON)
    speak(rp.browser, locale)
    response = rp.sign_in()
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert f'<html lang="{locale}">' in html
    assert t("Error %(code)s", code=53004) in html
    assert (
        t(
            "This sign-in looks unusual, and your account has no authenticator app to "
            "confirm it is you. For your protection, a risky sign-in cannot be used to set "
            "one up."
        )
        in html
    )
    assert t("Correlation id") in html and t("Request id") in html


def test_the_relying_party_hears_english_whatever_the_language(stepup):
    """error_description is protocol: English even when the user reads German."""
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    speak(rp.browser, "de")
    assert "/mfa/register" in rp.sign_in().location
    rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    response = rp.browser.get(rp.authorize_url(prompt="none", ui_locales="de"))
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["access_denied"]
    assert params["error_description"][0] == (
        "53004: This sign-in looks unusual, and your account has no authenticator app to "
        "confirm it is you. For your protection, a risky sign-in cannot be used to set one up."
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_consent_page(provider, locale):
    t = texts(locale)
    provider.user()
    rp = third_party(provider)
    speak(rp.browser, locale)
    url = consent_url(rp.sign_in(scope="openid profile email offline_access"))
    html = rp.browser.get(url).get_data(as_text=True)
    assert t("Allow %(name)s to access your account?", name="Photo Printer") in html
    for line in (
        "Sign you in with your account",
        "See your name and profile details",
        "See your email address",
        "Stay signed in to the app (keep access while you are away)",
    ):
        assert t(line) in html
    assert f'value="allow">{t("Allow")}</button>' in html
    assert f'class="secondary">{t("Deny")}</button>' in html


@pytest.mark.parametrize("locale", LOCALES)
def test_account_page(provider, locale):
    t = texts(locale)
    provider.user()
    rp = third_party(provider)
    speak(rp.browser, locale)
    consent_url(rp.sign_in())
    html = open_account(rp.browser).get_data(as_text=True)
    assert f"<h1>{t('Your account')}</h1>" in html
    assert t("Signed in as %(name)s", name="alice") in html
    assert t("Apps you allowed") in html and t("You have not allowed any apps.") in html


@pytest.mark.parametrize("locale", LOCALES)
def test_reset_pages(stepup, locale):
    t = texts(locale)
    stepup.user()
    browser = speak(stepup.app.test_client(), locale)
    page = browser.get("/password/reset")
    html = page.get_data(as_text=True)
    assert f"<h1>{t('Reset your password')}</h1>" in html
    assert f'<label for="username">{t("Username")}</label>' in html
    assert f'<button type="submit">{t("Continue")}</button>' in html
    verify = browser.post(
        "/password/reset", data={"csrf_token": csrf_from(page), "username": "alice"}
    )
    page = browser.get(verify.location)
    html = page.get_data(as_text=True)
    assert f"<h1>{t('Verify your identity')}</h1>" in html
    wrong = browser.post(verify.location, data={"csrf_token": csrf_from(page), "code": "123456"})
    assert wrong.status_code == 400
    assert t(
        "That code is not right. Enter the current code from your authenticator app."
    ) in wrong.get_data(as_text=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_password_rules_speak_the_language(stepup, locale):
    """The form's validators (WTForms) answer in the page's language."""
    from idp.forms import NewPasswordForm

    t = texts(locale)
    with stepup.app.test_request_context(
        "/password/change",
        method="POST",
        headers={"Accept-Language": locale},
        data={"new_password": "a", "confirm_password": "b"},
    ):
        form = NewPasswordForm(None, meta={"csrf": False})
        assert not form.validate()
        assert form.error == t("The two passwords do not match.")


# --- email: the recipient's language -------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "locale"),
    [(None, "en"), ("de-DE", "de"), ("fr", "en")],
    ids=["no-locale", "german", "unshipped"],
)
def test_account_email_is_in_the_recipients_language(provider, stored, locale):
    from idp.accounts import account_email
    from idp.claims import set_claims
    from idp.users import find_user

    t = texts(locale)
    provider.user("alice", email="alice@example.org")
    with provider.app.test_request_context(headers={"Accept-Language": "de"}):
        user = find_user("alice")
        if stored:
            set_claims(user, {"locale": stored})
        message = account_email(user, "passkey_added")
    event = t("a passkey was added to your account")
    assert message["Subject"] == t("Was this you? %(what)s", what=event[:1].upper() + event[1:])
    body = message.get_content()
    assert t("Hello %(name)s,", name="alice") in body
    assert t("If this was you, there is nothing to do.") in body


def test_english_email_reads_as_before(provider):
    from idp.accounts import account_email
    from idp.users import find_user

    provider.user("alice", email="alice@example.org")
    with provider.app.test_request_context():
        message = account_email(find_user("alice"), "risky_sign_in")
    assert message["Subject"] == (
        "Was this you? Someone signed in to your account from a place or device we found "
        "unusual, and passed the second-factor check"
    )
    assert message.get_content().startswith("Hello alice,\n\nOn ")


def test_sign_in_with_password_still_works_in_german(provider):
    provider.user()
    rp = provider.rp()
    speak(rp.browser, "de")
    assert rp.code_from(rp.sign_in("alice", PASSWORD))


@pytest.mark.parametrize("locale", LOCALES)
def test_admin_dashboard_pages(stepup, locale):
    """Every dashboard page renders in the language, with its navigation and headings."""
    from idp.users import find_user
    from tests.idp.test_admin_dashboard import _admin, _admin_sign_in

    t = texts(locale)
    browser, secret = _admin(stepup)
    speak(browser, locale)
    _admin_sign_in(stepup, browser, secret=secret)
    user_id = stepup.with_app(lambda: find_user("root").id)
    for path, heading in [
        ("/admin", "Overview"),
        ("/admin/recommendations", "Recommendations"),
        ("/admin/users", "Risky users"),
        ("/admin/directory", "Users"),
        ("/admin/registration", "Second-factor registration"),
        ("/admin/signins", "Sign-ins"),
        ("/admin/whatif", "What if"),
        ("/admin/clients", "Clients"),
        (f"/admin/users/{user_id}", None),
    ]:
        page = browser.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert f'<html lang="{locale}">' in html
        assert t("Identity Protection") in html and t("Sign out %(name)s", name="root") in html
        if heading:
            assert f"<h1>{t(heading)}</h1>" in html, path
    html = browser.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert t("Dismiss all risk") in html and t("Save profile") in html
    assert t("Display name") in html and t("Address: street address") in html


def test_admin_emails_are_in_each_recipients_language(notifying, smtp):  # noqa: F811
    """Admins with a German `locale` claim read the risky-user email and the digest in
    German; the others (and configured addresses) in English."""
    from idp.claims import set_claims
    from idp.notify import send_digest
    from idp.users import find_user
    from tests.idp.test_notify import raise_to_high

    stepup = notifying(smtp.port, admin_emails=())
    stepup.user("root", email="root@example.org", groups=["admins"])
    stepup.user("ops", email="ops@example.org", groups=["admins"])
    stepup.with_app(lambda: set_claims(find_user("root"), {"locale": "de"}))
    raise_to_high(stepup, stepup.user("alice"))
    subjects = {tuple(to): message["Subject"] for _, to, message in smtp.messages}
    de = texts("de")
    assert subjects == {
        ("ops@example.org",): "Risky user: alice reached high user risk",
        ("root@example.org",): de(
            "Risky user: %(name)s reached %(level)s user risk", name="alice", level="high"
        ),
    }
    smtp.messages.clear()
    recipients, text = stepup.with_app(lambda: send_digest(7))
    assert recipients == ["ops@example.org", "root@example.org"]
    bodies = {tuple(to): message.get_content() for _, to, message in smtp.messages}
    assert bodies[("ops@example.org",)].replace("\r\n", "\n") == text
    german = bodies[("root@example.org",)]
    assert de("Identity Protection digest for %(issuer)s", issuer="http://idp.test") in german
    assert de("challenged (TOTP)") in german and de("Detections by type") in german
