"""Text that reached German pages in English: the OAuth error page's description, the QR
code's label, the overview's map tooltips, chart dates and tuning thresholds, and the
what-if report. Each reads in the page's language; protocol answers and the CLI stay
English."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from authlib.oauth2 import OAuth2Error
from markupsafe import escape

from idp.i18n import LOCALES
from risk.vocabulary import RiskEventType
from tests.idp.test_admin_dashboard import report_of, whatif
from tests.idp.test_overview import signed_in  # noqa: F401  (fixture)
from tests.locales import speak, texts


def shown(text: str) -> str:
    """`text` as the page's autoescaping writes it (quotes become entities)."""
    return str(escape(text))


# --- the OAuth error page ------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_unknown_client_page_reads_in_the_language(provider, locale):
    t = texts(locale)
    rp = provider.rp()
    rp.client_id = "no-such-client"
    speak(rp.browser, locale)
    response = rp.browser.get(rp.authorize_url())
    assert response.status_code == 400 and "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert t("This sign-in link is not valid") in html
    assert shown(t("The client does not exist on this server.")) in html
    assert "<code>invalid_client</code>" in html  # the error code is protocol: as is
    if locale == "de":
        assert t("The client does not exist on this server.") == (
            "Der Client existiert auf diesem Server nicht."
        )
        assert "does not exist" not in html


@pytest.mark.parametrize("locale", LOCALES)
def test_descriptions_naming_a_value_keep_it(provider, locale):
    t = texts(locale)
    rp = provider.rp()
    speak(rp.browser, locale)
    html = rp.browser.get(rp.authorize_url(redirect_uri="https://evil.example/cb")).get_data(
        as_text=True
    )
    expected = t("Redirect URI %(uri)s is not supported by client.", uri="https://evil.example/cb")
    assert shown(expected) in html
    odd = rp.browser.get(rp.authorize_url(scope="openid\x7f"))
    assert odd.status_code == 400 and odd.location is None
    expected = t("The '%(name)s' parameter holds characters it may not hold.", name="scope")
    assert shown(expected) in odd.get_data(as_text=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_an_error_without_a_known_description_says_what_its_code_means(client, locale):
    """request_not_supported carries no description: the page explains the code."""
    t = texts(locale)
    speak(client, locale)
    response = client.get("/authorize?client_id=nobody&response_type=code&request=x")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<code>request_not_supported</code>" in html and "None" not in html
    expected = t("The application sent a request object, which this server does not support.")
    assert shown(expected) in html


def test_ui_locales_picks_the_error_page_language(provider):
    t = texts("de")
    rp = provider.rp()
    rp.client_id = "no-such-client"
    speak(rp.browser, "en")
    html = rp.browser.get(rp.authorize_url(ui_locales="de")).get_data(as_text=True)
    assert '<html lang="de">' in html
    assert t("The client does not exist on this server.") in html


@pytest.mark.parametrize("locale", LOCALES)
def test_sign_out_error_page_reads_in_the_language(client, locale):
    t = texts(locale)
    speak(client, locale)
    response = client.get("/logout?post_logout_redirect_uri=https://rp.example/bye")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert t("This sign-out link is not valid") in html
    expected = t(
        "The sign-out request has a post_logout_redirect_uri but does not say which "
        "application sent it (client_id or id_token_hint)."
    )
    assert shown(expected) in html


def test_the_page_description_never_fails(app):
    """Any error, even one with no code or description, gets a sentence in the language."""
    from idp.views.oauth import page_description

    t = texts("de")
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert page_description(OAuth2Error()) == t(
            "The application sent a request this server cannot process."
        )
        assert page_description(OAuth2Error("Something new.", error="invalid_request")) == t(
            "The request is missing a required parameter, repeats one, or is otherwise malformed."
        )


def test_the_client_still_hears_english(provider):
    """The redirect's error_description is protocol: English whatever the user reads."""
    rp = provider.rp(scopes=["openid"])
    speak(rp.browser, "de")
    response = rp.browser.get(rp.authorize_url(scope="openid admin-everything", ui_locales="de"))
    assert response.status_code == 302
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["invalid_scope"]
    assert params["error_description"] == ["The requested scope is invalid, unknown, or malformed."]


# --- the overview: map, chart and tuning -----------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_map_tooltips_count_in_the_language(stepup, signed_in, locale):  # noqa: F811
    t = texts(locale)
    html = speak(signed_in, locale).get("/admin?days=30").get_data(as_text=True)
    tips = dict(re.findall(r'<path data-country="([A-Z]+)"[^>]*><title>([^<]*)</title>', html))
    many = "%(country)s: %(num)d risky sign-ins"
    assert tips["CN"] == t("%(country)s: %(num)d risky sign-in", many, 2, country="CN")
    assert tips["GB"] == t("%(country)s: %(num)d risky sign-in", many, 1, country="GB")
    if locale == "de":
        assert (tips["CN"], tips["GB"]) == (
            "CN: 2 riskante Anmeldungen",
            "GB: 1 riskante Anmeldung",
        )
    else:
        assert (tips["CN"], tips["GB"]) == ("CN: 2 risky sign-ins", "GB: 1 risky sign-in")


@pytest.mark.parametrize(
    ("locale", "today"), [("en", "Mar 2"), ("de", "2. März")], ids=["en", "de"]
)
def test_chart_dates_in_the_language(stepup, signed_in, locale, today):  # noqa: F811
    """The last bar is today (the frozen clock's 2 March 2026), labelled the reader's way."""
    html = speak(signed_in, locale).get("/admin?days=30").get_data(as_text=True)
    assert f'text-anchor="end">{today}</text>' in html
    labels = re.findall(r'font-size="\d+"(?: text-anchor="end")?>([^<]*)</text>', html)
    assert "02 Mar" not in labels
    if locale == "de":
        assert "1. Feb." in labels  # the first bar: the month abbreviated the German way


@pytest.mark.parametrize("locale", LOCALES)
def test_tuning_thresholds_in_the_language(stepup, signed_in, locale):  # noqa: F811
    t = texts(locale)
    html = speak(signed_in, locale).get("/admin?days=30").get_data(as_text=True)
    travel = re.search(r'<tr data-type="unlikelyTravel">(.*?)</tr>', html, re.S).group(1)
    assert (
        t(
            "faster than %(speed)s km/h over %(distance)s km or more (high at %(factor)s×)",
            speed="900",
            distance="100",
            factor="3",
        )
        in travel
    )
    quiet = re.search(r'<tr data-type="newCountry">(.*?)</tr>', html, re.S).group(1)
    assert t("level %(level)s", level="low") in quiet
    if locale == "de":
        assert "schneller als 900 km/h über 100 km oder mehr (high ab 3×)" in travel
        assert "Stufe low" in quiet and "level low" not in quiet


def test_every_threshold_text_is_translated(stepup):
    """The thresholds of each detection, and a turned-off one, read in German."""
    from idp import headline, risk_engine
    from idp.services import services

    t = texts("de")
    now = stepup.clock.now()
    with stepup.app.test_request_context(headers={"Accept-Language": "de"}):
        settings = replace(
            risk_engine.engine().settings, disabled_detections=(RiskEventType.MFA_FRAUD,)
        )
        rows = {
            row.risk_event_type: row.threshold
            for row in headline.tuning(
                now - timedelta(days=30), now, settings, services(stepup.app).settings.policies
            )
        }
    s = settings
    expected = {
        RiskEventType.UNFAMILIAR_FEATURES: t(
            "%(low)s / %(medium)s / %(high)s bits of surprise for low / medium / high",
            low=f"{s.unfamiliar_low_bits:g}",
            medium=f"{s.unfamiliar_medium_bits:g}",
            high=f"{s.unfamiliar_high_bits:g}",
        ),
        RiskEventType.SUSPICIOUS_IP_ADDRESS: t(
            "%(accounts)s accounts failing from one IP in %(minutes)s min",
            accounts=s.suspicious_ip_min_accounts,
            minutes=s.suspicious_ip_window_minutes,
        ),
        RiskEventType.PASSWORD_SPRAY: t(
            "%(accounts)s accounts from one IP in %(minutes)s min",
            accounts=s.password_spray_min_accounts,
            minutes=s.password_spray_window_minutes,
        ),
        RiskEventType.LEAKED_CREDENTIALS: t("password in the leaked-password file"),
    }
    for event, text in expected.items():
        assert text in rows[event.value], event
    assert rows[RiskEventType.MFA_FRAUD.value] == t("turned off (risk.disabled_detections)")
    assert "ausgeschaltet" in rows[RiskEventType.MFA_FRAUD.value]
    assert "Passwort in der Datei" in rows[RiskEventType.LEAKED_CREDENTIALS.value]


# --- the what-if report ----------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_whatif_report_reads_in_the_language(stepup, locale):
    t = texts(locale)
    _, _, html = whatif(stepup, '[policies.sign_in_risk]\nblock_at = "medium"\n', locale)
    report = report_of(html)
    lines = report.splitlines()
    header = t("What-if over %(days)s, %(since)s to %(until)s UTC: %(sign_ins)s %(by_users)s")
    assert lines[0].startswith(header.split("%(days)s")[0] + t("%(num)d day", "%(num)d days", 30))
    for text in (
        "Each cell: sign-ins / distinct users.",
        "All policies together",
        "changed by candidate",
        "blocked 53003",
        "challenged (TOTP)",
    ):
        assert t(text) in report, text
    columns = f"{t('actual')}.*{t('current')}.*{t('candidate')}"
    assert re.search(columns, lines[lines.index(t("All policies together")) + 1])
    assert t("%(policy)s alone (the other policies off)", policy="userRiskPolicy") in lines
    assert f"  {t('candidate:')} {t('unchanged')}" in lines
    if locale == "de":
        assert lines[0].startswith("Was-wäre-wenn über 30 Tage, ")
        assert "Alle Richtlinien zusammen" in lines and "All policies together" not in report
        assert "  Kandidat: unverändert" in lines
        # Policy settings are configuration: shown as written.
        assert any(line.startswith("  aktuell:  on, ") for line in lines)
    else:
        assert lines[0].startswith("What-if over 30 days, ")
        assert "  candidate: unchanged" in lines


def test_the_cli_report_is_the_english_text(stepup):
    """format_report's defaults (the CLI) print the English text, word for word."""
    from idp.i18n import gettext, ngettext
    from idp.services import services
    from idp.simulate import format_report, simulate

    now = stepup.clock.now()
    with stepup.app.test_request_context(headers={"Accept-Language": "de"}):
        report = simulate(services(stepup.app).settings.policies, 30, now)
        cli = format_report(report)
        german = format_report(report, gettext, ngettext)
    with stepup.app.test_request_context():
        english_page = format_report(report, gettext, ngettext)
    assert cli.splitlines()[:5] == [
        "What-if over 30 days, 2026-01-31 09:00 to 2026-03-02 09:00 UTC: 0 sign-ins by 0 users",
        "Not replayed: 0 attempts that never reached a policy decision (wrong password, "
        "locked out, unknown user).",
        "Each cell: sign-ins / distinct users.",
        "",
        "All policies together",
    ]
    assert any(line.startswith("  current:   on, ") for line in cli.splitlines())
    # No count of one here: the English page reads as the CLI does.
    assert english_page == cli
    assert german != cli and "Alle Richtlinien zusammen" in german
