"""Shared pytest configuration: the local cluster and registry fixtures (tests/support), and
what happens to tests that need Kaapana's reference files when they are absent."""

from __future__ import annotations

import os

import pytest

from tests.unit import reference

pytest_plugins = [
    "tests.support.cluster",
    "tests.support.registry",
    "tests.support.airflow",
    "tests.support.images",
    "tests.support.local_images",
    "tests.support.real_node",
]

_NOT_RUN = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    """CI (``KAAPANA_REQUIRE_REFERENCE=1``) has the files beside the clone: absence is an error."""
    if os.environ.get(reference.REQUIRE_ENV) == "1" and not reference.available():
        raise pytest.UsageError(f"{reference.REQUIRE_ENV}=1 but {reference.missing_reason()}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the reference files, tests marked ``reference`` are reported as not run."""
    if reference.available():
        return
    marked = [item for item in items if item.get_closest_marker("reference")]
    skip = pytest.mark.skip(reason=reference.missing_reason())
    for item in marked:
        item.add_marker(skip, append=False)
    config.stash[_NOT_RUN] = len(marked)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say once, at the end, how many reference tests did not run and why."""
    count = terminalreporter.config.stash.get(_NOT_RUN, 0)
    if count:
        terminalreporter.write_sep("=", "Kaapana reference tests NOT RUN", yellow=True)
        terminalreporter.write_line(
            f"{count} tests comparing with Kaapana's own files did not run: "
            f"{reference.missing_reason()}"
        )
