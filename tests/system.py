"""The system tools some tests need (installed from system-packages.txt by
scripts/system-packages.sh, which `make test` runs first).

A missing one fails the test that needs it, naming the package: never a skip, and never an
error of a fixture (tests/conftest.py reports a MissingSystemPackage raised during setup as
the test's failure).
"""

from __future__ import annotations

import shutil


class MissingSystemPackage(Exception):
    """A test needs a program from a Debian package that is not installed."""


def require_program(name: str, package: str, path: str | None = None) -> str:
    """The path of program `name` (or `path` when given and present), else fail the test."""
    found = path if path is not None and shutil.which(path) else shutil.which(name)
    if found is None:
        raise MissingSystemPackage(
            f"{name} is not installed (Debian package {package}, listed in "
            "system-packages.txt): run scripts/system-packages.sh, which `make test` runs first"
        )
    return found
