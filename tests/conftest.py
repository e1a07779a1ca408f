"""Shared pytest configuration: the local cluster and registry fixtures (tests/support)."""

pytest_plugins = [
    "tests.support.cluster",
    "tests.support.registry",
    "tests.support.airflow",
    "tests.support.images",
    "tests.support.local_images",
]
