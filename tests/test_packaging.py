"""Every page, email, stylesheet, script, catalogue and migration the server reads is in
the wheel (the first round's wheel served 500 on every page for want of its templates)."""

from __future__ import annotations

import subprocess

import pytest

from tests.packaging import ROOT, shipped

SERVED_DATA = ("templates/", "idp/static/", "idp/translations/", "idp/migrations/")


def _tracked() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", *SERVED_DATA], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return listed.stdout.split()


def test_every_file_the_server_reads_ships_in_the_wheel() -> None:
    files = [f for f in _tracked() if not f.endswith("README.md")]
    assert len(files) > 50
    assert [f for f in files if not shipped(f)] == []


@pytest.mark.parametrize("path", ["idp/translations/README.md", "bench/freeman.py"])
def test_what_the_server_does_not_read_stays_out(path: str) -> None:
    assert not shipped(path)
