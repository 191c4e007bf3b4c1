"""Starting from a command line: settings, then the app, or one line on stderr and exit 2.

Below both the `idp` commands (idp.cli) and the server workers (idp.serve), which build the
app the same way.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, NoReturn

from flask import Flask

from .app import create_app
from .config import load_settings
from .errors import ConfigError


def fail(message: str) -> NoReturn:
    """`idp: <message>` on stderr, exit status 2."""
    print(f"idp: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def build_app(config: str | None, **overrides: Any) -> Flask:
    """Load settings and create the app, turning a bad config into one line on stderr."""
    try:
        settings = load_settings(config)
        if overrides:
            settings = replace(settings, **overrides)
        return create_app(settings)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
