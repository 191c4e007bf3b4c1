"""The whole decision path of a sign-in reads in one place: every function of the flow
module, the authorization endpoint and the step pages is at most radon grade B."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit

import idp

FILES = [
    "authflow.py",
    "flows.py",
    "views/oauth.py",
    "views/signin.py",
    "views/mfa.py",
    "views/reset.py",
    "views/consent.py",
    "views/account.py",
]


@pytest.mark.parametrize("name", FILES)
def test_sign_in_path_is_at_most_grade_b(name):
    source = (Path(idp.__file__).parent / name).read_text()
    blocks = cc_visit(source)
    assert blocks, name
    worse = {b.name: b.complexity for b in blocks if cc_rank(b.complexity) not in "AB"}
    assert worse == {}
