"""The authorization flow: one declared state machine from the request to the code.

An `AuthFlow` is the frozen state of one authorization request between its steps: the
client and its parameters, the correlation id, the risk assessment, the step it waits
at, and the steps passed, each in the SSO session it belongs to. It lives server-side
(`idp.flows`); the browser holds only its id.

The authorization endpoint runs `LOGIN_CHECKS`, assesses the sign-in, then runs
`POLICY_CHECKS` and `CONSENT_CHECKS`: the first check that fires names a step page or a
block, like node-oidc-provider's interaction checks. Each step page declares what the flow
must have passed to reach it with `step_page`; nothing else decides whether a step may run.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from functools import cached_property, wraps
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import g, redirect, render_template, request, session, url_for

from risk.context import SignInContext, SignInKind
from risk.policy import ANY, Action

from . import flows
from .claims import requested_acr_values
from .clients import read_client
from .consent import needs_consent, requested_scopes
from .decision import TEMPORARY_PASSWORD, Judgement, assess, build_context, judge
from .extensions import db
from .i18n import gettext, use_ui_locales
from .models import SsoSession, User
from .sessions import clock_now, current_sso, current_user

KIND = "authorize"
MAX_FLOWS = 5
UNSAVED = 0
"""The version of a flow `start` made and no `save` has stored yet."""


class Step(enum.StrEnum):
    """A page the browser may be sent to before the code is issued."""

    PASSWORD = "password"
    MFA = "mfa"
    REGISTER_MFA = "register_mfa"
    CHANGE_PASSWORD = "change_password"
    CONSENT = "consent"


ENDPOINTS: dict[Step, str] = {
    Step.PASSWORD: "signin.login",
    Step.MFA: "mfa.verify",
    Step.REGISTER_MFA: "mfa.register",
    Step.CHANGE_PASSWORD: "signin.change_password",
    Step.CONSENT: "consent.consent",
}


@dataclass(frozen=True)
class AuthFlow:
    """One authorization request's state between its steps (stored server-side)."""

    id: str
    version: int
    client_id: str
    query: str
    correlation_id: str
    # The SSO session in which `passed` steps were passed; another session passed none.
    sid: str | None = None
    passed: frozenset[Step] = frozenset()
    # The step the endpoint sent the browser to; a step page serves only its own step.
    pending: Step | None = None
    # The engine's summary for `sid` (see decision.summarize).
    risk: dict[str, Any] | None = None
    mfa_risk_driven: bool = False
    password_change: str | None = None  # "risk" or "temporary"
    registration_skipped: bool = False
    # This registration attempt's TOTP secret, sealed; bound to the user only once a
    # correct code proves possession.
    totp_pending: str | None = None
    # Origins of the client's redirect URIs: where this flow's forms may lead.
    form_targets: tuple[str, ...] = ()
    # The user answered the consent page with "Deny": the client gets access_denied.
    consent_denied: bool = False
    # The pending WebAuthn challenge (base64url) of this flow's passkey page; cleared before
    # an answer is checked, so it is used once and by this flow only.
    passkey_challenge: str | None = None
    # The second factor passed in this flow was a passkey (phishing-resistant).
    passkey_passed: bool = False
    # For the MFA step: the strength demanded ("any" or "phishing-resistant"), and whether
    # user risk is due for remediation (a passkey remediates it; TOTP leads to a new password).
    mfa_strength: str = ANY
    user_risk_due: bool = False

    def param(self, name: str) -> str:
        """One parameter of the authorization request ("" when absent)."""
        return parse_qs(self.query).get(name, [""])[0]

    def passed_in(self, sso: SsoSession | None) -> frozenset[Step]:
        """The steps passed in this flow within `sso` (none in any other session)."""
        return self.passed if sso is not None and self.sid == sso.id else frozenset()

    def proven_in(self, sso: SsoSession) -> frozenset[Step]:
        """What the user proved for this flow: its steps, and the password when the session
        the flow is bound to was started with one (SSO reuse)."""
        passed = self.passed_in(sso)
        return passed | {Step.PASSWORD} if self.sid == sso.id and "pwd" in sso.amr else passed

    def bound_to(self, sso: SsoSession) -> AuthFlow:
        """The flow continued in `sso`; steps passed in another session no longer count."""
        if self.sid == sso.id:
            return self
        return replace(
            self,
            sid=sso.id,
            passed=frozenset(),
            pending=None,
            risk=None,
            mfa_risk_driven=False,
            password_change=None,
            registration_skipped=False,
            totp_pending=None,
            consent_denied=False,
            passkey_challenge=None,
            passkey_passed=False,
            mfa_strength=ANY,
            user_risk_due=False,
        )

    def signed_in(self, sso: SsoSession, risk: dict[str, Any]) -> AuthFlow:
        """The flow after the password, typed in it, started `sso`."""
        return replace(self.bound_to(sso), passed=frozenset({Step.PASSWORD}), risk=risk)

    def passing(self, step: Step, **changes: Any) -> AuthFlow:
        """The flow after `step` passed in its session."""
        return replace(self, passed=self.passed | {step}, pending=None, **changes)

    def _data(self) -> dict[str, Any]:
        # What is stored as JSON: the fields as they are (dataclasses.asdict would deep-copy
        # the risk summary, a tenth of a millisecond each time a flow is saved).
        data = {name: getattr(self, name) for name in _STORED_FIELDS}
        data["passed"] = sorted(self.passed)
        return data


_STORED_FIELDS = tuple(f.name for f in fields(AuthFlow) if f.name not in ("id", "version"))


def _request_key() -> str:
    """A digest of the authorization request's parameters: the same request, the same flow."""
    items = sorted((k, v) for k, vs in request.values.lists() for v in vs if k != "csrf_token")
    return hashlib.sha256(urlencode(items).encode()).hexdigest()[:24]


def _cookie_map() -> dict[str, str]:
    mapping = session.get("flows")
    return (
        {k: v for k, v in mapping.items() if isinstance(v, str)}
        if isinstance(mapping, dict)
        else {}
    )


def load(flow_id: object, browser: object = flows.SESSION_BROWSER) -> AuthFlow | None:
    """The flow with this id, if it is this browser's and still live (the browser is the
    session's unless given, as in `flows.load`)."""
    found = flows.load(KIND, flow_id, browser)
    if found is None:
        return None
    data, version = found
    data["passed"] = frozenset(Step(s) for s in data.get("passed", ()))
    data["pending"] = Step(data["pending"]) if data.get("pending") else None
    data["form_targets"] = tuple(data.get("form_targets", ()))
    return AuthFlow(id=str(flow_id), version=version, **data)


def for_request() -> AuthFlow | None:
    """This browser's flow for the authorization request being served, if any."""
    return load(_cookie_map().get(_request_key()))


def start(client_id: str, redirect_uris: Iterable[str]) -> AuthFlow:
    """A new flow for the authorization request being served. It is stored by its first
    `save` (version 0 until then): a flow that ends in the request that started it (a
    code for a signed-in browser, a refusal) is never written at all."""
    flow = AuthFlow(
        id=flows.new_id(),
        version=UNSAVED,
        client_id=client_id,
        query=urlencode(list(request.values.items(multi=True))),
        correlation_id=str(uuid.uuid4()),
        form_targets=origins(redirect_uris),
    )
    mapping = _cookie_map()
    mapping[_request_key()] = flow.id
    # The cookie keeps the newest few: stale tabs start over.
    session["flows"] = dict(list(mapping.items())[-MAX_FLOWS:])
    return flow


def save(flow: AuthFlow) -> AuthFlow:
    """Store the flow; `flows.FlowConflict` if another request saved it first."""
    if flow.version == UNSAVED:
        flows.add(flow.id, KIND, flow._data())
        db.session.commit()
        return replace(flow, version=1)
    return replace(flow, version=flows.save(flow.id, flow._data(), flow.version))


def finish(flow: AuthFlow) -> bool:
    """The flow ended (code issued, blocked, or an error sent): its id is dead once the
    caller commits. False when another request ended it first (two racing on one flow)."""
    ended = flow.version == UNSAVED or flows.end(flow.id)
    session["flows"] = {k: v for k, v in _cookie_map().items() if v != flow.id}
    return ended


def resume_url(flow: AuthFlow) -> str:
    """Where the browser goes to continue the authorization request after a step."""
    return f"{url_for('oauth.authorize')}?{flow.query}"


def step_url(step: Step, flow: AuthFlow) -> str:
    return url_for(ENDPOINTS[step], flow=flow.id)


def expired_page() -> Any:
    return render_template(
        "error.html",
        title=gettext("This sign-in has expired"),
        error="session_expired",
        description=gettext("Go back to the application you came from and sign in again."),
        request_id="",
        now=clock_now(),
    ), 400


# What each step page requires: the steps the flow must have passed in the current session.
@dataclass(frozen=True)
class Requirement:
    description: str
    needs: Callable[[User], frozenset[Step]]


# Every step but the password also needs the flow bound to the browser's current session and
# waiting at that step.
REQUIREMENTS: dict[Step, Requirement] = {
    Step.PASSWORD: Requirement("a live flow of this browser", lambda user: frozenset()),
    Step.MFA: Requirement(
        "the password, in this flow or its session", lambda user: frozenset({Step.PASSWORD})
    ),
    # Adding a factor to those a user has takes one of them first: a password alone cannot.
    Step.REGISTER_MFA: Requirement(
        "the password, in this flow or its session, and the second factor passed in this "
        "flow when the user has one",
        lambda user: frozenset(
            {Step.PASSWORD, Step.MFA} if user.has_second_factor else {Step.PASSWORD}
        ),
    ),
    Step.CHANGE_PASSWORD: Requirement(
        "the password and, when the user has a second factor, the second factor passed in "
        "this flow",
        lambda user: frozenset(
            {Step.PASSWORD, Step.MFA} if user.has_second_factor else {Step.PASSWORD}
        ),
    ),
    # The endpoint sends the browser here only once every policy check has passed, and runs
    # them all again after the answer, before it issues the code.
    Step.CONSENT: Requirement(
        "the password, in this flow or its session", lambda user: frozenset({Step.PASSWORD})
    ),
}


@dataclass(frozen=True)
class StepContext:
    """What a step page works on: its flow, and the user and session the flow is in."""

    flow: AuthFlow
    user: User
    sso: SsoSession


def satisfied(step: Step, flow: AuthFlow, user: User | None, sso: SsoSession | None) -> bool:
    """Whether the flow may be at `step` now (see REQUIREMENTS)."""
    if user is None or sso is None or flow.pending is not step or flow.sid != sso.id:
        return False
    return REQUIREMENTS[step].needs(user) <= flow.proven_in(sso)


def _flow_or_expired() -> AuthFlow | Any:
    flow = load(request.args.get("flow"))
    if flow is None:
        return expired_page()
    allow_form_targets(flow.form_targets)
    return flow


_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(//[A-Za-z0-9.:\[\]-]+)?")


def origins(uris: Iterable[str]) -> tuple[str, ...]:
    """The origins of URIs, as Content-Security-Policy source expressions."""
    found = set()
    for uri in uris:
        parts = urlsplit(uri)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
        if _ORIGIN.fullmatch(origin):
            found.add(origin)
    return tuple(sorted(found))


def allow_form_targets(targets: Iterable[str]) -> None:
    """Let this page's forms lead (through redirects) to these origins: the
    Content-Security-Policy's form-action is 'self' and these, nothing else."""
    g.form_targets = list(targets)


def flow_page(view: Callable[[AuthFlow], Any]) -> Callable[[], Any]:
    """Declare a view as the password step's page: it needs a live flow of this browser."""

    @wraps(view)
    def wrapper() -> Any:
        flow = _flow_or_expired()
        if not isinstance(flow, AuthFlow):
            return flow
        use_ui_locales(flow.param("ui_locales"))
        try:
            return view(flow)
        except flows.FlowConflict:
            return redirect(resume_url(flow))

    wrapper.required_step = Step.PASSWORD  # type: ignore[attr-defined]
    return wrapper


def step_page(step: Step) -> Callable[[Callable[[StepContext], Any]], Callable[[], Any]]:
    """Declare a view as `step`'s page: it runs only for a flow that satisfies the step."""

    def decorate(view: Callable[[StepContext], Any]) -> Callable[[], Any]:
        @wraps(view)
        def wrapper() -> Any:
            flow = _flow_or_expired()
            if not isinstance(flow, AuthFlow):
                return flow
            use_ui_locales(flow.param("ui_locales"))
            user, sso = current_user(), current_sso()
            if user is None or sso is None or not satisfied(step, flow, user, sso):
                # Not this step's turn: the authorization endpoint says what is.
                return redirect(resume_url(flow))
            try:
                return view(StepContext(flow, user, sso))
            except flows.FlowConflict:
                return redirect(resume_url(flow))

        wrapper.required_step = step  # type: ignore[attr-defined]
        return wrapper

    return decorate


# The checks of the authorization endpoint.
@dataclass(frozen=True)
class Verdict:
    """A check fired: the step to take, or a block; codes follow Entra's."""

    check: str
    step: Step | None
    error_code: int | None = None
    reason: str | None = None
    # With prompt=none the relying party gets this error instead of a page.
    oauth_error: str = "interaction_required"
    mfa_risk_driven: bool = False
    password_change: str | None = None
    # The relying party gets the error even without prompt=none: the user chose it, so a
    # blocked page would only strand them.
    to_client: bool = False
    # For the MFA step: the strength demanded, and user risk due for remediation.
    strength: str = ANY
    user_risk_due: bool = False

    @property
    def blocked(self) -> bool:
        return self.step is None


@dataclass
class Context:
    """What the checks look at for one authorization request."""

    flow: AuthFlow | None
    user: User | None
    sso: SsoSession | None
    prompts: frozenset[str]
    max_age: int | None
    acr_values: str

    @classmethod
    def from_request(cls, max_age: int | None, flow: AuthFlow | None = None) -> Context:
        """The request's context; its flow is the one the browser's cookie maps the
        request's parameters to unless given."""
        return cls(
            flow=for_request() if flow is None else flow,
            user=current_user(),
            sso=current_sso(),
            prompts=frozenset(request.values.get("prompt", "").split()),
            max_age=max_age,
            acr_values=requested_acr_values(
                request.values.get("acr_values", ""), request.values.get("claims")
            ),
        )

    @property
    def passed(self) -> frozenset[Step]:
        return self.flow.passed_in(self.sso) if self.flow else frozenset()

    @property
    def kind(self) -> SignInKind:
        return SignInKind.PASSWORD if Step.PASSWORD in self.passed else SignInKind.SSO

    def assess(self) -> None:
        """Bind the flow to the session, and run the risk engine once per flow and session
        (SSO reuse and prompt=none too)."""
        assert self.flow is not None and self.user is not None and self.sso is not None
        # A stored flow is saved at once, so of two requests racing on it only one goes on.
        # One this request started is known to no other: it is stored when a step needs it.
        keep = save if self.flow.version != UNSAVED else (lambda flow: flow)
        if self.flow.sid != self.sso.id:
            self.flow = keep(self.flow.bound_to(self.sso))
        risk = self.flow.risk
        if not risk or risk.get("sid") != self.sso.id:
            self.flow = keep(
                replace(self.flow, risk=assess(self.sign_in_context(), self.user, self.sso.id))
            )

    def sign_in_context(self) -> SignInContext:
        """What the risk engine sees of this authorization request."""
        assert self.flow is not None and self.user is not None
        return build_context(
            kind=self.kind,
            user=self.user,
            username=self.user.username,
            client_id=self.flow.client_id,
            correlation_id=self.flow.correlation_id,
        )

    @cached_property
    def judgement(self) -> Judgement:
        assert self.flow is not None and self.flow.risk is not None
        assert self.user is not None and self.sso is not None
        return judge(
            user=self.user,
            sso=self.sso,
            risk=self.flow.risk,
            mfa_in_flow=Step.MFA in self.passed,
            passkey_in_flow=Step.MFA in self.passed and self.flow.passkey_passed,
            # A skip counts in the session it was made in, whether the password
            # was typed in this flow or the session's sign-in is reused.
            skipped_in_flow=self.flow.registration_skipped
            and Step.PASSWORD in self.flow.proven_in(self.sso),
            acr_values=self.acr_values,
        )


@dataclass(frozen=True)
class Check:
    """One named check: a stable reason code, what it means, and the test."""

    reason: str
    description: str
    test: Callable[[Context], Verdict | None]


def _login(reason: str, fires: Callable[[Context], bool]) -> Callable[[Context], Verdict | None]:
    def test(ctx: Context) -> Verdict | None:
        return Verdict(reason, Step.PASSWORD, oauth_error="login_required") if fires(ctx) else None

    return test


def _max_age_exceeded(ctx: Context) -> bool:
    assert ctx.sso is not None
    return (
        ctx.max_age is not None
        and clock_now().timestamp() - ctx.sso.auth_time.timestamp() > ctx.max_age
    )


LOGIN_CHECKS: tuple[Check, ...] = (
    Check(
        "no_session",
        "No signed-in session in this browser",
        _login("no_session", lambda ctx: ctx.user is None or ctx.sso is None),
    ),
    Check(
        "login_prompt",
        "prompt=login asks for the password within this request",
        _login(
            "login_prompt", lambda ctx: "login" in ctx.prompts and Step.PASSWORD not in ctx.passed
        ),
    ),
    Check(
        "max_age",
        "The session's authentication is older than max_age",
        _login("max_age", _max_age_exceeded),
    ),
)


def _policy_block(ctx: Context) -> Verdict | None:
    decision = ctx.judgement.decision
    if decision.action is not Action.BLOCK:
        return None
    return Verdict(
        "policy_block", None, decision.error_code, decision.reason, oauth_error="access_denied"
    )


def _mfa_required(ctx: Context) -> Verdict | None:
    decision = ctx.judgement.decision
    if decision.action is not Action.MFA:
        return None
    return Verdict(
        "mfa_required",
        Step.MFA,
        decision.error_code,
        decision.reason,
        mfa_risk_driven=decision.risk_driven,
        strength=decision.strength,
        user_risk_due=decision.then_change_password,
    )


def _temporary_password(ctx: Context) -> Verdict | None:
    assert ctx.user is not None
    if not ctx.user.password_must_change:
        return None
    if ctx.user.has_second_factor and Step.MFA not in ctx.passed:
        return Verdict(
            "temporary_password",
            Step.MFA,
            TEMPORARY_PASSWORD,
            "A new password is required; verify with your second factor first.",
        )
    return Verdict(
        "temporary_password",
        Step.CHANGE_PASSWORD,
        TEMPORARY_PASSWORD,
        "The password was set by an administrator and must be changed.",
        password_change="temporary",
    )


def _password_change(ctx: Context) -> Verdict | None:
    decision = ctx.judgement.decision
    if decision.action is not Action.CHANGE_PASSWORD:
        return None
    return Verdict(
        "password_change",
        Step.CHANGE_PASSWORD,
        decision.error_code,
        decision.reason,
        password_change="risk",
    )


def _mfa_registration(ctx: Context) -> Verdict | None:
    decision = ctx.judgement.decision
    if decision.action is not Action.REGISTER_MFA:
        return None
    return Verdict("mfa_registration", Step.REGISTER_MFA, decision.error_code, decision.reason)


# In order: the strongest outcome first (53003 > 53004 > password change > TOTP > registration
# is already the order of risk.policy's actions; a temporary password comes before risk's
# password change because either way the user sets a new one).
POLICY_CHECKS: tuple[Check, ...] = (
    Check(
        "policy_block",
        "A policy blocks the sign-in (53003; 53004 without a second factor)",
        _policy_block,
    ),
    Check(
        "mfa_required",
        "Sign-in risk, user risk or the client's acr_values demand the second factor",
        _mfa_required,
    ),
    Check(
        "temporary_password",
        "An administrator's temporary password must be replaced, "
        "after the second factor when one is registered",
        _temporary_password,
    ),
    Check("password_change", "User risk demands a secure password change", _password_change),
    Check(
        "mfa_registration",
        "The registration policy (or the client's acr) asks for a "
        "second factor: an authenticator app or a passkey",
        _mfa_registration,
    ),
)


# Entra's codes: the user has not consented to the application / declined to consent.
CONSENT_REQUIRED = 65001
CONSENT_DECLINED = 65004


def _consent_declined(ctx: Context) -> Verdict | None:
    assert ctx.flow is not None
    if not ctx.flow.consent_denied:
        return None
    return Verdict(
        "consent_declined",
        None,
        CONSENT_DECLINED,
        "The user declined to allow the application access.",
        oauth_error="access_denied",
        to_client=True,
    )


def _consent_required(ctx: Context) -> Verdict | None:
    assert ctx.flow is not None and ctx.user is not None
    client = read_client(ctx.flow.client_id)
    if client is None:
        return None
    scopes = requested_scopes(client, ctx.flow.param("scope"), ctx.flow.param("claims"))
    # prompt=consent asks once per flow: the answer given in this flow is the fresh one.
    prompted = "consent" in ctx.prompts and Step.CONSENT not in ctx.passed
    if not needs_consent(ctx.user.id, client, scopes, prompted=prompted):
        return None
    return Verdict(
        "consent_required",
        Step.CONSENT,
        CONSENT_REQUIRED,
        "The application asks for access the user has not allowed yet.",
        oauth_error="consent_required",
    )


# Run after every policy check passed, so that only a user who may sign in is asked.
CONSENT_CHECKS: tuple[Check, ...] = (
    Check("consent_declined", "The user answered the consent page with Deny", _consent_declined),
    Check(
        "consent_required",
        "A third-party client asks for scopes the user has not "
        "allowed it (or prompt=consent asks again)",
        _consent_required,
    ),
)


def first_verdict(checks: tuple[Check, ...], ctx: Context) -> Verdict | None:
    """The verdict of the first check that fires, or None when all pass."""
    for check in checks:
        verdict = check.test(ctx)
        if verdict is not None:
            return verdict
    return None


def demand(flow: AuthFlow, verdict: Verdict) -> str:
    """Record that the flow waits at the verdict's step, and why; return the step's page."""
    assert verdict.step is not None
    changes: dict[str, Any] = {"pending": verdict.step}
    if verdict.step is Step.MFA:
        changes["mfa_risk_driven"] = verdict.mfa_risk_driven
        changes["mfa_strength"] = verdict.strength
        changes["user_risk_due"] = verdict.user_risk_due
    if verdict.step is Step.CHANGE_PASSWORD:
        changes["password_change"] = verdict.password_change
    return step_url(verdict.step, save(replace(flow, **changes)))
