"""helm/kaapana-executor/values.yaml speaks the executor's option names, from config.py."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from kaapana_executor.config import ExecutorSettings
from tests.support.helm_values import (
    SCHEMA,
    TOP_LEVEL_OPTIONS,
    VALUES,
    current_reference,
    option_reference,
    schema_text,
    values_schema,
)


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return values


def test_every_config_key_is_an_executor_option() -> None:
    config = _values()["config"]

    unknown = set(config) - set(ExecutorSettings.model_fields)
    assert not unknown, f"not options of ExecutorSettings: {sorted(unknown)}"
    doubled = set(config) & set(TOP_LEVEL_OPTIONS)
    assert not doubled, f"set through top-level values, not config: {sorted(doubled)}"


def test_options_derived_from_top_level_values_exist_on_both_sides() -> None:
    values = _values()

    assert set(TOP_LEVEL_OPTIONS) <= set(ExecutorSettings.model_fields)
    assert set(TOP_LEVEL_OPTIONS.values()) <= set(values)


def test_config_defaults_are_valid_settings() -> None:
    values = _values()
    derived = {option: values[key] for option, key in TOP_LEVEL_OPTIONS.items()}

    settings = ExecutorSettings.model_validate({**values["config"], **derived})

    assert settings.data_root == values["config"]["data_root"]


def test_option_reference_is_generated_from_the_model() -> None:
    """Stale? Rewrite it: .venv/bin/python -m tests.support.helm_values"""
    assert current_reference(VALUES.read_text()) == option_reference()


def test_values_schema_is_generated_from_the_model() -> None:
    """Stale? Rewrite it: .venv/bin/python -m tests.support.helm_values"""
    assert SCHEMA.read_text() == schema_text()


def test_the_chart_defaults_meet_the_schema() -> None:
    jsonschema.Draft7Validator(values_schema()).validate(_values())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("heartbeat_interval", "10"),  # airflow.cfg strings
        ("resource_admission", "False"),
        ("insecure_registries", "a:5000,b:5000"),
        ("insecure_registries", ["registry:5000"]),
        ("security_context", {"runAsNonRoot": True}),
        ("kubeconfig", None),
    ],
)
def test_option_values_the_executor_reads_meet_the_schema(option: str, value: Any) -> None:
    config = {option: value}
    jsonschema.Draft7Validator(values_schema()).validate({"config": config})
    ExecutorSettings.model_validate(config)  # and the executor reads the same value


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"config": {"create_concurrency": 0}}, "create_concurrency"),
        ({"config": {"create_concurrency": "eight"}}, "create_concurrency"),
        ({"config": {"pod_deletion": "sometimes"}}, "pod_deletion"),
        ({"config": {"heartbat_interval": 5}}, "config"),
        ({"allowedNamespaces": ["Not_A_Label"]}, "allowedNamespaces"),
        ({"imagePullSecrets": ["a", "a"]}, "imagePullSecrets"),
        ({"serviceAccount": {"create": "yes"}}, "serviceAccount"),
        ({"ledgr": {"enabled": True}}, "ledgr"),
    ],
)
def test_bad_values_are_refused_by_the_schema(values: dict[str, Any], where: str) -> None:
    errors = list(jsonschema.Draft7Validator(values_schema()).iter_errors(values))
    assert errors, values
    assert any(where in "/".join(map(str, e.absolute_path)) or where in e.message for e in errors)
