"""The one gettext-style entry point for text people read (emails, recommendations).

Every user-facing string outside a template goes through `gettext` (imported as `_`), and
templates use Jinja's i18n extension (`{% trans %}`, `_()`); both end in `translate` and
`translate_plural`, so a translation layer (Flask-Babel, or a gettext catalogue chosen per
user) replaces those two functions and nothing else. Until then they return the English.
"""

from __future__ import annotations

from typing import Any

from flask import Flask


def translate(message: str) -> str:
    """The message in the reader's language (English until a catalogue is added)."""
    return message


def translate_plural(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n` in the reader's language."""
    return singular if n == 1 else plural


def gettext(message: str, **variables: Any) -> str:
    """The translated message with its %(name)s placeholders filled."""
    text = translate(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The translated singular or plural message for `n`, %(num)d and the rest filled."""
    return translate_plural(singular, plural, n) % {"num": n, **variables}


_ = gettext


def install(app: Flask) -> None:
    """Give the app's templates `_`, `gettext`, `ngettext` and `{% trans %}` blocks."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # New-style: Jinja fills the placeholders itself, after the lookup. The lookups go
    # through this module's names at each call, so replacing them reaches every template.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: translate(message),
        lambda singular, plural, n: translate_plural(singular, plural, n), newstyle=True)
