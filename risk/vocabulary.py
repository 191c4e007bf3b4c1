"""The Identity Protection vocabulary from SPEC.md, as enums whose values are the wire strings."""

from __future__ import annotations

from enum import StrEnum


class RiskEventType(StrEnum):
    """A detection's `riskEventType`."""

    LEAKED_CREDENTIALS = "leakedCredentials"
    ANONYMIZED_IP_ADDRESS = "anonymizedIPAddress"
    MALICIOUS_IP_ADDRESS = "maliciousIPAddress"
    MALWARE_INFECTED_IP_ADDRESS = "malwareInfectedIPAddress"
    SUSPICIOUS_IP_ADDRESS = "suspiciousIPAddress"
    PASSWORD_SPRAY = "passwordSpray"
    UNLIKELY_TRAVEL = "unlikelyTravel"
    UNFAMILIAR_FEATURES = "unfamiliarFeatures"
    NEW_COUNTRY = "newCountry"
    ADMIN_CONFIRMED_USER_COMPROMISED = "adminConfirmedUserCompromised"
    ANOMALOUS_TOKEN = "anomalousToken"
    MFA_FRAUD = "mfaFraud"
    USER_REPORTED_SUSPICIOUS_ACTIVITY = "userReportedSuspiciousActivity"


class Scope(StrEnum):
    """Whether a detection raises the risk of one sign-in or of the user."""

    SIGN_IN = "signIn"
    USER = "user"


class RiskState(StrEnum):
    """A risky user's or detection's `riskState`."""

    AT_RISK = "atRisk"
    CONFIRMED_SAFE = "confirmedSafe"
    REMEDIATED = "remediated"
    DISMISSED = "dismissed"
    CONFIRMED_COMPROMISED = "confirmedCompromised"


class RiskDetail(StrEnum):
    """Why a risk state last changed (`riskDetail`)."""

    NONE = "none"
    USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY = "userPassedMFADrivenByRiskBasedPolicy"
    USER_PERFORMED_SECURED_PASSWORD_CHANGE = "userPerformedSecuredPasswordChange"
    USER_PERFORMED_SECURED_PASSWORD_RESET = "userPerformedSecuredPasswordReset"
    ADMIN_GENERATED_TEMPORARY_PASSWORD = "adminGeneratedTemporaryPassword"
    ADMIN_DISMISSED_ALL_RISK_FOR_USER = "adminDismissedAllRiskForUser"
    ADMIN_CONFIRMED_USER_COMPROMISED = "adminConfirmedUserCompromised"
    ADMIN_CONFIRMED_SIGNIN_SAFE = "adminConfirmedSigninSafe"


USER_SCOPE_EVENTS: frozenset[RiskEventType] = frozenset(
    {
        RiskEventType.LEAKED_CREDENTIALS,
        RiskEventType.MFA_FRAUD,
        RiskEventType.ANOMALOUS_TOKEN,
        RiskEventType.ADMIN_CONFIRMED_USER_COMPROMISED,
        RiskEventType.USER_REPORTED_SUSPICIOUS_ACTIVITY,
    }
)

# Detections about the address, not the person: they raise the risk of the sign-in they
# were seen on, never the user's lasting risk (an office NAT, a carrier-grade NAT or a VPN
# exit is shared with whoever attacks from it).
IP_REPUTATION_EVENTS: frozenset[RiskEventType] = frozenset(
    {
        RiskEventType.ANONYMIZED_IP_ADDRESS,
        RiskEventType.MALICIOUS_IP_ADDRESS,
        RiskEventType.MALWARE_INFECTED_IP_ADDRESS,
        RiskEventType.SUSPICIOUS_IP_ADDRESS,
        RiskEventType.PASSWORD_SPRAY,
    }
)

ACTIVE_STATES: frozenset[RiskState] = frozenset(
    {RiskState.AT_RISK, RiskState.CONFIRMED_COMPROMISED}
)


def scope_of(event_type: RiskEventType) -> Scope:
    """The scope a detection of `event_type` belongs to."""
    return Scope.USER if event_type in USER_SCOPE_EVENTS else Scope.SIGN_IN
