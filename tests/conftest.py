"""Suite-wide: a missing system package is the failure of the test that needs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system import MissingSystemPackage

# The real Ultralytics exports (session fixture `ultralytics_exports`), for every folder.
pytest_plugins = ["tests.export.ultralytics.exports"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        call.when == "setup"
        and call.excinfo is not None
        and call.excinfo.errisinstance(MissingSystemPackage)
    ):
        # Raised by a fixture: report it as the test's failure, with the message alone.
        report.when = "call"
        report.longrepr = f"{item.nodeid}: {call.excinfo.value}"
