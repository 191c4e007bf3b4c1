"""Every package the product imports is one it asks for.

A module imported only because another requirement happens to bring it along (joserfc
through Authlib, Werkzeug through Flask) breaks the day that requirement stops bringing it,
or brings a release older than the code needs. So each third-party module that `idp`,
`risk` and `mfa` import, read from the source with `ast`, must come from a distribution
named in pyproject.toml's dependencies (or the `granian` extra, imported only when that
engine is configured). The lower bounds themselves are tried by `.ci/wheel_smoke.py
--lowest`, which installs the wheel with each requirement at its oldest allowed release.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("idp", "risk", "mfa")
OPTIONAL = ("granian",)


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _required() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in OPTIONAL:
        names |= {_name(r) for r in project["optional-dependencies"][extra]}
    return names


def _imported() -> dict[str, str]:
    """Top-level module -> the first file importing it, for every absolute import."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    found.setdefault(module.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_a_requirement() -> None:
    distributions = importlib.metadata.packages_distributions()
    required = _required()
    missing = []
    for module, where in sorted(_imported().items()):
        if module in sys.stdlib_module_names or module in PACKAGES:
            continue
        names = {_name(d) for d in distributions.get(module, [])}
        assert names, f"{module} (imported by {where}) is not installed"
        if not names & required:
            missing.append(f"{module} ({', '.join(sorted(names))}; imported by {where})")
    assert not missing, "imported but not required: " + "; ".join(missing)


def test_the_check_sees_a_package_brought_only_by_another() -> None:
    # joserfc arrives with Authlib; the product imports it directly, so it must be named.
    assert "joserfc" in _imported()
    assert "joserfc" in _required()
    assert "authlib" in {_name(d) for d in importlib.metadata.packages_distributions()["authlib"]}
