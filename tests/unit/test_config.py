"""The [kaapana_executor] section: typed, validated, documented from one model."""

from __future__ import annotations

import pytest

from kaapana_executor.config import (
    ConfigError,
    ExecutorSettings,
    PodDeletion,
    provider_config_options,
)
from kaapana_executor.provider import get_provider_info


def test_defaults_and_parsing_of_strings() -> None:
    raw = {
        "namespace": "k",
        "allowed_namespaces": "a, b",
        "create_concurrency": "4",
        "pod_deletion": "on_success",
        "security_context": '{"runAsNonRoot": true}',
        "kubeconfig": "",
    }
    settings = ExecutorSettings.load(raw.get)
    assert settings.allowed_namespaces == ["a", "b"]
    assert settings.create_concurrency == 4
    assert settings.pod_deletion is PodDeletion.ON_SUCCESS
    assert settings.security_context == {"runAsNonRoot": True}
    assert settings.kubeconfig is None
    assert settings.local_data_root == settings.data_root


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "create_concurrency",
            "0",
            "[kaapana_executor] create_concurrency: Input should be greater than or equal to 1",
        ),
        (
            "pod_deletion",
            "sometimes",
            "[kaapana_executor] pod_deletion: Input should be 'always', 'on_success' or 'never'",
        ),
        (
            "security_context",
            "{nope",
            "[kaapana_executor] security_context: Value error, invalid JSON",
        ),
        ("bogus", "1", None),
    ],
)
def test_bad_values_name_the_option(option: str, value: str, message: str | None) -> None:
    if message is None:  # unknown options in the section are not read at all
        assert ExecutorSettings.load({option: value}.get) == ExecutorSettings()
        return
    with pytest.raises(ConfigError) as caught:
        ExecutorSettings.load({option: value}.get)
    assert str(caught.value).startswith(message)


def test_provider_metadata_lists_every_option_with_description() -> None:
    options = provider_config_options()
    assert set(options) == set(ExecutorSettings.model_fields)
    assert all(o["description"] for o in options.values())
    assert options["pod_deletion"]["default"] == "always"
    info = get_provider_info()
    assert info["executors"] == ["kaapana_executor.KaapanaExecutor"]
    assert info["config"]["kaapana_executor"]["options"] == options


def test_airflow_section_is_read_and_typos_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from kaapana_executor import airflow_compat

    monkeypatch.setenv("AIRFLOW__KAAPANA_EXECUTOR__NAMESPACE", "from-env")
    assert airflow_compat.load_settings().namespace == "from-env"
    monkeypatch.setenv("AIRFLOW__KAAPANA_EXECUTOR__NAMSPACE", "typo")
    with pytest.raises(ConfigError, match=r"unknown option\(s\): namspace"):
        airflow_compat.load_settings()
