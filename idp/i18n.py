"""Text people read, in their language: Flask-Babel over the catalogues in idp/translations.

Every user-facing string outside a template goes through `gettext` (imported as `_`), or,
for text defined at import time, is marked with `N_` (or built with `lazy_gettext`) and
translated where it is shown; templates use Jinja's i18n extension (`{% trans %}`, `_()`).
`messages.pot` is extracted with `pybabel extract -F babel.cfg` (see idp/translations/).

The language of a page: the authorization request's `ui_locales` (OpenID Connect Core
3.1.2.1: the user's explicit choice, carried by the flow), else the best match of the
browser's Accept-Language among the shipped languages, else English. Protocol answers and
the JSON admin API are always English. An email is in its recipient's stored `locale`
claim when that is a shipped language, else English.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask_babel
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, refresh

from .requestinfo import from_a_program

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "N_",
    "_",
    "force_locale",
    "gettext",
    "install",
    "language",
    "lazy_gettext",
    "ngettext",
    "recipient_locale",
    "translated_for",
    "use_ui_locales",
]

DEFAULT_LOCALE = "en"
# The shipped languages: English (the source text) and one catalogue per other language.
LOCALES = ("en", "de")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def _catalogue() -> Any:
    """The catalogue of the language being produced: the request's, or the one a
    `force_locale` block (an email) chose. Flask-Babel keeps every catalogue loaded, but
    finds the one for a string through about nine context-local lookups per string; a page
    has dozens of strings and a refused guess is meant to cost little (README "Attack
    protection"), so the request keeps the one it found."""
    try:
        state = g.get("_flask_babel")
    except RuntimeError:  # no application context: Flask-Babel's null catalogue
        return flask_babel.get_translations()
    locale = getattr(state, "babel_locale", None) if state is not None else None
    if locale is None:
        return flask_babel.get_translations()  # the first string decides the language
    mine = getattr(state, "idp_catalogue", None)
    if mine is not None and mine[0] is locale:  # this request's language, found before
        return mine[1]
    found = flask_babel.get_translations()
    state.idp_catalogue = (locale, found)
    return found


# Typed (Flask-Babel ships no hints): the text in the catalogue of the reader's language.
def gettext(message: str, **variables: Any) -> str:
    """`message` in the reader's language, its %(name)s placeholders filled when given."""
    text = str(_catalogue().ugettext(message))
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The singular or plural form for `num` in the reader's language, %(num)d filled."""
    variables.setdefault("num", num)
    return str(_catalogue().ungettext(singular, plural, num)) % variables


def lazy_gettext(message: str, **variables: Any) -> Any:
    """A text translated each time it is shown (for labels defined at import time)."""
    return flask_babel.lazy_gettext(message, **variables)


_ = gettext


def N_(message: str) -> str:
    """Mark text for the catalogue where it is defined; `gettext` it where it is shown."""
    return message


# The HTTP errors' names and Werkzeug's descriptions, as the HTML error page shows them.
HTTP_TEXTS = (
    N_("Bad Request"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Request Entity Too Large"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_(
        "You don't have the permission to access the requested resource. It is either "
        "read-protected or not readable by the server."
    ),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again."
    ),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("This user has exceeded an allotted request count. Try again later."),
    N_(
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application."
    ),
)


def best_locale(tags: str | None) -> str | None:
    """The first shipped language among space- or comma-separated BCP 47 tags, if any."""
    for tag in (tags or "").replace(",", " ").split():
        primary = tag.split("-")[0].split("_")[0].lower()
        if primary in LOCALES:
            return primary
    return None


def select_locale() -> str:
    """The language of this request (see the module's docstring)."""
    if not has_request_context() or from_a_program():
        return DEFAULT_LOCALE
    return choose_locale(
        g.get("ui_locales") or request.args.get("ui_locales"), request.accept_languages
    )


def choose_locale(ui_locales: str | None, accept_languages: Iterable[tuple[str, float]]) -> str:
    """The language of a page given `ui_locales` and the browser's Accept-Language."""
    explicit = best_locale(ui_locales)
    if explicit:
        return explicit
    # The browser's languages in its order of preference; the first one shipped wins (so
    # "en-GB,de;q=0.5" is English: a regional tag counts for its language).
    for tag, quality in accept_languages:
        found = best_locale(tag) if quality > 0 else None
        if found:
            return found
    return DEFAULT_LOCALE


def use_ui_locales(ui_locales: str) -> None:
    """The authorization request's `ui_locales` decides the language of this page."""
    if ui_locales and best_locale(ui_locales):
        g.ui_locales = ui_locales
        refresh()


def language() -> str:
    """The language tag of the text being produced (the pages' <html lang>)."""
    locale = get_locale()
    return str(locale.language) if locale is not None else DEFAULT_LOCALE


def recipient_locale(user: Any) -> str:
    """The language of an email to `user`: their stored `locale` claim if shipped, else
    English."""
    claims = getattr(user, "claims", None) or {}
    stored = claims.get("locale") if isinstance(claims, dict) else None
    return best_locale(stored if isinstance(stored, str) else None) or DEFAULT_LOCALE


@contextmanager
def translated_for(user: Any) -> Iterator[None]:
    """Produce text (an email) in `user`'s language, whatever the request's."""
    with force_locale(recipient_locale(user)):
        yield


def install(app: Flask) -> None:
    """Flask-Babel for the app: `_`, `gettext`, `ngettext` and `{% trans %}` in templates,
    and `html_lang()` for the pages' <html lang>."""
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=DEFAULT_LOCALE,
        default_translation_directories=str(TRANSLATIONS),
    )
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # i18n extension
        gettext=lambda text: _catalogue().ugettext(text),
        ngettext=lambda singular, plural, n: _catalogue().ungettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(html_lang=language)
