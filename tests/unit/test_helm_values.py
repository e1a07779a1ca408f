"""helm/kaapana-executor/values.yaml speaks the executor's option names, from config.py."""

from __future__ import annotations

from typing import Any

import yaml

from kaapana_executor.config import ExecutorSettings
from tests.support.helm_values import (
    TOP_LEVEL_OPTIONS,
    VALUES,
    current_reference,
    option_reference,
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
