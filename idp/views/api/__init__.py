"""The admin API under /api/v1, shaped like Microsoft Graph's identityProtection.

Resources carry Graph's property names (riskyUser, riskyUserHistoryItem, riskDetection,
signIn), so a script written for Graph ports by changing its base URL. Every route but the
OpenAPI document needs a client-credentials bearer token with scope `idp.admin`; every error,
ours or the token check's, is `{"error", "error_description"}` as on the rest of the provider.

Modules, each holding one concern:

* `vocabulary`: the scope, page sizes and enum values (plain data);
* `odata`: `$filter`, plain filters, `$top` and `$skiptoken` parsed without Flask;
* `listing`: each list's filterable columns and keyset order (SQL);
* `paging`: a list's conditions from the request and one page of it (Flask + SQL);
* `resources`, `user_resources`: the pydantic models, which serialize every response;
* `serializers`: database rows as those resources;
* `auth`: the bearer-token check run before every route;
* `identity_protection`, `users`, `audit_logs`, `export`: the routes;
* `schemas`, `openapi`: the OpenAPI document, its schemas generated from the models.
"""

from __future__ import annotations

from . import audit_logs, auth, export, identity_protection, openapi, users
from .blueprint import bp

__all__ = ["audit_logs", "auth", "bp", "export", "identity_protection", "openapi", "users"]
