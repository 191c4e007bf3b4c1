"""Schemathesis against /api/v1/openapi.json: every operation's responses match the document.

The pytest plugin's `from_fixture(...).parametrize()` needs a per-test app (one per database
backend) and does not run under this pytest, so each operation gets its own small Hypothesis
test here, with cases from the operation's strategy and schemathesis's checks on each response.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.idp.test_api_support import AdminApi, challenged_from_tor, leaked_password_user

# Small and derandomized: CI time stays flat and a failure reproduces on every run.
CASES = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# `$filter` and `$skiptoken` are strings with a grammar JSON Schema cannot state, so a
# "schema-valid" random one is rightly refused with 400; every other check runs.
EXCLUDED = [positive_data_acceptance]


def test_every_operation_matches_the_document(stepup: Any) -> None:
    # Real rows, so list responses carry detections, sign-ins and risky users to validate.
    challenged_from_tor(stepup)
    leaked_password_user(stepup)
    headers = AdminApi(stepup).headers()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", stepup.app)
    failures, exercised = [], set()
    for result in schema.get_all_operations():
        operation = result.ok()
        raw = operation.definition.raw
        negatable = "requestBody" in raw or any(
            p["in"] == "query" for p in raw.get("parameters", [])
        )
        # A string path id and a fixed token leave nothing to break otherwise.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negatable else [])
        for mode in modes:

            @CASES
            @given(case=operation.as_strategy(mode, headers=headers))
            def check(case: Any) -> None:
                case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
            exercised.add(operation.label)
    assert not failures, "\n\n".join(failures)
    # Schemathesis leaves out the URL the document was loaded from; everything else is covered.
    documented = {
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method in item
    }
    assert exercised == documented - {"GET /openapi.json"}
