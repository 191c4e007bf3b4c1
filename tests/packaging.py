"""What the wheel ships, read from pyproject.toml's setuptools tables: the tests that need a
file inside an installed wheel ask here instead of each parsing the tables their own way
(CI's wheel walk checks the built wheel itself)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from functools import cache
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]


def _folder(package: str, package_dir: dict[str, str]) -> PurePosixPath:
    """Where setuptools finds `package`: under the longest `package-dir` entry that names it
    or a package above it, else at its dotted path."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        mapped = package_dir.get(".".join(parts[:cut]))
        if mapped is not None:
            return PurePosixPath(mapped, *parts[cut:])
    return PurePosixPath(*parts)


@cache
def _setuptools() -> dict:
    """pyproject.toml's [tool.setuptools], read once."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def shipped(path: str) -> bool:
    """Whether the file at `path` (relative to the checkout, with /) is in the wheel: its
    folder is a listed package's and its name matches that package's `package-data`, or it
    is one of its modules."""
    setuptools = _setuptools()
    package_dir = setuptools.get("package-dir", {})
    file = PurePosixPath(path)
    for package in setuptools["packages"]:
        if file.parent == _folder(package, package_dir):
            patterns = setuptools.get("package-data", {}).get(package, [])
            return file.suffix == ".py" or any(fnmatch(file.name, p) for p in patterns)
    return False
