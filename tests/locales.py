"""Tests select a locale instead of matching English text.

`texts(locale)` gives the words the product shows in that language, looked up in the
shipped catalogue by their English source text (`texts("de")("Sign in") == "Anmelden"`,
and for English the text itself); `speak(browser, locale)` makes a Flask test client ask
for that language the way a browser does (Accept-Language). Browser tests pass the locale
to Playwright's context instead (tests/browser/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from babel.support import NullTranslations, Translations

from idp.i18n import TRANSLATIONS

# English is the source text; "de" is the shipped translation.
LOCALES = ("en", "de")


@cache
def _catalogue(locale: str) -> NullTranslations:
    if locale == "en":
        return NullTranslations()
    found = Translations.load(str(TRANSLATIONS), [locale])
    assert isinstance(found, Translations), f"no catalogue for {locale} in {TRANSLATIONS}"
    return found


def texts(locale: str) -> Callable[..., str]:
    """The product's words in `locale`: t("Sign in"), t("Error %(code)s", code=53004)."""
    catalogue = _catalogue(locale)

    def t(message: str, plural: str | None = None, n: int | None = None, **variables: Any) -> str:
        if plural is not None and n is not None:
            text = catalogue.ngettext(message, plural, n)
            variables.setdefault("num", n)
        else:
            text = catalogue.gettext(message)
        return text % variables if variables else text

    return t


def speak(browser: Any, locale: str) -> Any:
    """Let a Flask test client ask for `locale` (Accept-Language) on every request."""
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    return browser
