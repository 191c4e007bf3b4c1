"""Routes under /auditLogs: the sign-in log, newest first, with each policy's result."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response

from ...models import SignIn, User
from .blueprint import bp
from .listing import SIGN_INS
from .paging import list_conditions, page
from .serializers import sign_in


def sign_ins_query() -> Any:
    """Every sign-in with its user, when the user name was known."""
    return sa.select(SignIn, User).outerjoin(User, User.id == SignIn.user_id)


@bp.get("/auditLogs/signIns")
def list_sign_ins() -> Response:
    """The sign-in log, newest first, with each policy's result."""
    stmt = sign_ins_query().where(*list_conditions(SIGN_INS))
    return page(SIGN_INS, stmt, sign_in)
