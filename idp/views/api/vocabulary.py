"""The admin API's fixed words: its scope, page sizes, and the values each enum may take.

Everything here is plain data (no Flask, no SQLAlchemy), shared by the query parser, the
resource models, the routes and the OpenAPI document, so a value is added in one place.
"""

from __future__ import annotations

from risk.levels import Level
from risk.policy import Result
from risk.vocabulary import RiskDetail, RiskEventType, RiskState

ADMIN_SCOPE = "idp.admin"
DEFAULT_TOP = 100
MAX_TOP = 1000

LEVELS: tuple[str, ...] = tuple(level.value for level in Level)
# A user_risk row starts at "none" before any detection or action has set a state.
STATES: tuple[str, ...] = ("none", *(state.value for state in RiskState))
DETAILS: tuple[str, ...] = tuple(detail.value for detail in RiskDetail)
EVENT_TYPES: tuple[str, ...] = tuple(event.value for event in RiskEventType)
POLICY_RESULTS: tuple[str, ...] = tuple(result.value for result in Result)
RESET_MODES = ("requireReset", "temporaryPassword")
OUTCOMES = ("success", "interrupted", "failure")
CONDITIONAL_ACCESS_STATUSES = ("success", "failure", "notApplied")
RECOMMENDATION_STATUSES = ("active", "completed")

# Graph's riskyUser actions (POST .../riskyUsers/<action>) with their summaries.
USER_ACTIONS = {
    "dismiss": "Dismiss all risk of users",
    "confirmCompromised": "Confirm users compromised",
    "confirmSafe": "Confirm users safe",
}
# A detection's actions (POST .../riskDetections/{id}/<action>) with their summaries.
DETECTION_ACTIONS = {
    "resolve": "Resolve a detection",
    "falsePositive": "Mark a detection false positive",
    "ignore": "Ignore a detection",
    "reactivate": "Reactivate a detection",
}

# Graph's user properties that are OpenID Connect claims; the rest of the claims are set and
# shown under `claims` by their OpenID names.
GRAPH_USER_CLAIMS = {
    "displayName": "name",
    "givenName": "given_name",
    "surname": "family_name",
    "mail": "email",
    "mobilePhone": "phone_number",
    "preferredLanguage": "locale",
    "streetAddress": "address.street_address",
    "city": "address.locality",
    "state": "address.region",
    "postalCode": "address.postal_code",
    "country": "address.country",
}
