"""The HTML forms: WTForms classes carrying Flask-WTF's CSRF token, and the rules for a new
password as validators.

Every form a page of ours posts is one of these. The CSRF token is Flask-WTF's: a random
value kept in the session cookie under `csrf_token` (carried over when the session handle
changes, dropped at sign-out), put in the page signed with the app's secret key as the
hidden field `csrf_token`. A token sent from another session or another browser does not
match; a token has no time limit of its own and lives as long as its session. A post whose
token is missing or wrong ends with the same 400 page for every form, before any field of
it is looked at (no password is hashed, no sign-in is logged).

Protocol endpoints (/token, /revoke, /introspect, /register, /userinfo, the admin API, an
RP-initiated logout) take none of these forms, so they never ask for a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Self

from flask import abort, current_app, g, request
from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, StringField
from wtforms.validators import AnyOf, StopValidation

from risk.errors import FeedError

from . import risk_engine
from .errors import InvalidCredentials, PasswordPolicyError
from .i18n import N_, gettext, lazy_gettext
from .models import User
from .services import services

# The password rules lived in idp.accounts; operators may filter on its logger name.
log = logging.getLogger("idp.accounts")

CSRF_FAILED = N_(
    "The form expired or was not sent by this site. Go back, reload the page and try again."
)
# The longest user name looked up or remembered; a longer one is cut, never refused.
USERNAME_CHARS = 150


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def clean_username(value: Any) -> str:
    """A typed user name as the sign-in looks it up: trimmed, at most USERNAME_CHARS."""
    return _text(value).strip()[:USERNAME_CHARS]


def _cut(limit: int) -> Callable[[Any], str]:
    def cut(value: Any) -> str:
        return _text(value)[:limit]

    return cut


class Form(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    """A posted form of ours: its fields come from the posted body only (never a JSON body),
    and a missing or wrong CSRF token aborts with 400 before anything else is checked."""

    class Meta:
        # A token lives as long as its session, as the pages' tokens always did.
        csrf_time_limit = None

        @property
        def csrf_secret(self) -> list[Any]:
            """Signed with the current secret key (the last); a page signed before a key
            rotation still posts while the old key is a fallback, as its session does."""
            return [*(current_app.config.get("SECRET_KEY_FALLBACKS") or ()), current_app.secret_key]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(formdata=request.form, **kwargs)

    def validate(self, extra_validators: Any = None) -> bool:
        # The token first: a forged post costs no password hash and no feed lookup.
        if self.meta.csrf and not g.get("csrf_valid", False):
            if not self.csrf_token.validate(self):
                abort(400, description=gettext(CSRF_FAILED))
            # Flask-WTF's own mark for a request whose token passed: the fields' validation
            # below (and any other form of this request) does not check it again.
            g.csrf_valid = True
        return bool(super().validate(extra_validators))

    @classmethod
    def submitted(cls, *args: Any, **kwargs: Any) -> Self:
        """The posted form, validated: for a form that refuses nothing but a bad token (the
        400 page), or whose `errors` the view reads itself."""
        form = cls(*args, **kwargs)
        form.validate_on_submit()
        return form

    @property
    def error(self) -> str | None:
        """The first problem, in field order: the one line of error the page shows."""
        for messages in self.errors.values():
            for message in messages:
                return str(message)
        return None


def check_csrf() -> None:
    """For a post that is only a button (remove, sign out, an admin action): its token, or
    the 400 page."""
    Form.submitted()


class SignInForm(Form):
    """The sign-in page. Nothing is refused here: an empty or huge name or password is a
    wrong one, answered (and logged) by the view as any other."""

    username = StringField(lazy_gettext("Username"), default="", filters=[clean_username])
    password = PasswordField(lazy_gettext("Password"), default="", filters=[_text])


class CodeForm(Form):
    """A second-factor answer: a code from the authenticator app (or a recovery code), or,
    with action=passkey, a passkey's assertion."""

    action = StringField(default="", filters=[_text])
    code = StringField(lazy_gettext("Verification code"), default="", filters=[_text])
    credential = StringField(default="", filters=[_text])


class RegisterFactorForm(CodeForm):
    """The second-factor registration page: verify a code, skip, or add a named passkey."""

    name = StringField(default="", filters=[_text])


class ConsentForm(Form):
    """The consent page's two buttons."""

    action = StringField(
        default="",
        filters=[_text],
        validators=[AnyOf(("allow", "deny"), message=lazy_gettext("Choose Allow or Deny."))],
    )


class ResetStartForm(Form):
    """The first page of the self-service reset: which account."""

    username = StringField(lazy_gettext("Username"), default="", filters=[clean_username])


class AddPasskeyForm(Form):
    """The account page's "Add a passkey": its name, the page's ceremony and the answer."""

    name = StringField(default="", filters=[_text])
    ceremony = StringField(default="", filters=[_text])
    credential = StringField(default="", filters=[_text])


class RemoveAppForm(Form):
    """The account page's "Remove access" of one app."""

    client_id = StringField(default="", filters=[_cut(48)])


class LogoutConfirmForm(Form):
    """The logout confirmation: the posted parameters of the logout request, and confirm."""

    confirm = StringField(default="", filters=[_text])


# The rules for a new password. Each one stops the chain, so the page says the first
# problem only, and a later (costlier) check never runs after an earlier one refused.
class Confirmed:
    """The confirmation field holds the same password."""

    def __init__(self, other: str) -> None:
        self.other = other

    def __call__(self, form: Form, field: Field) -> None:
        if field.data != form[self.other].data:
            raise StopValidation(gettext("The two passwords do not match."))


class PasswordPolicy:
    """The configured length rules (the same ones the CLI and the admin API apply)."""

    def __call__(self, form: Form, field: Field) -> None:
        hasher = services().passwords
        try:
            hasher.check_policy(field.data)
        except PasswordPolicyError as exc:
            # The rules' words (English for the CLI and the API) in the reader's language.
            minimum = hasher.settings.min_length
            message = (
                gettext("Use at least %(num)d characters.", num=minimum)
                if len(field.data) < minimum
                else gettext("Use at most %(num)d characters.", num=1024)
                if len(field.data) > 1024
                else str(exc)
            )
            raise StopValidation(message) from exc


class NotLeaked:
    """Not in the leaked-password feed; unchecked is not accepted (the feed is being
    replaced, and is back in seconds)."""

    def __call__(self, form: Form, field: Field) -> None:
        leaked = risk_engine.engine().feeds.leaked_passwords
        try:
            seen = leaked.count(field.data) if leaked is not None else 0
        except FeedError as exc:
            log.error("new password not checked: %s", exc)
            raise StopValidation(
                gettext("The password check is unavailable right now. Try again in a minute.")
            ) from exc
        if seen > 0:
            raise StopValidation(
                gettext(
                    "This password appears in a list of leaked passwords. "
                    "Choose another one you have not used elsewhere."
                )
            )


class NotCurrentPassword:
    """Different from the user's current password."""

    def __call__(self, form: Form, field: Field) -> None:
        user = getattr(form, "user", None)
        if user is None:
            return
        try:
            services().passwords.verify(field.data, user.password_hash)
        except InvalidCredentials:
            return
        raise StopValidation(gettext("Choose a password different from your current one."))


class NewPasswordForm(Form):
    """The password change (forced or to remediate risk) and the reset's new password."""

    new_password = PasswordField(
        lazy_gettext("New password"),
        default="",
        filters=[_text],
        validators=[
            Confirmed("confirm_password"),
            PasswordPolicy(),
            NotLeaked(),
            NotCurrentPassword(),
        ],
    )
    confirm_password = PasswordField(
        lazy_gettext("Confirm new password"), default="", filters=[_text]
    )

    def __init__(self, user: User | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user


def _ticked(value: Any) -> bool:
    """A checkbox whose value is "yes": ticked when posted with it, else not."""
    return isinstance(value, str) and value == "yes"


def _profile_text(value: Any) -> str:
    return _text(value).replace("\r\n", "\n").strip()


def profile_form(fields: list[tuple[str, str, str]]) -> type[Form]:
    """The admin's Profile form of a user: one field per settable claim, (name, label,
    kind) with kind "checkbox", "text" or "textarea"."""
    attributes = {
        name: StringField(label, default="", filters=[_ticked])
        if kind == "checkbox"
        else StringField(label, default="", filters=[_profile_text])
        for name, label, kind in fields
    }
    return type("ProfileForm", (Form,), attributes)


def _whole_days(form: Form, field: Field) -> None:
    try:
        days = int(field.data)
    except ValueError:
        days = 0
    if not 1 <= days <= 365:
        raise StopValidation(gettext("Days must be a whole number from 1 to 365."))


class WhatIfForm(Form):
    """The admin's what-if simulation: candidate policies (TOML) over the last days."""

    candidate = StringField(default="", filters=[_cut(10_000)])
    days = StringField(default="30", filters=[_text], validators=[_whole_days])
