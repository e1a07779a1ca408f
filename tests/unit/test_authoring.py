"""DAG authoring: what KaapanaTaskOperator stores in executor_config, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaapana_executor.authoring import KaapanaTaskOperator
from kaapana_executor.errors import ContractError
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY

TASK: dict[str, Any] = {"name": "t", "image": "registry.local/dummy:1", "taskTemplate": "upstream"}


def test_the_task_text_is_stored_for_the_executor() -> None:
    op = KaapanaTaskOperator(task_id="t", task_json=TASK)
    stored = op.executor_config[EXECUTOR_CONFIG_KEY]
    assert json.loads(stored["task"]) == TASK
    assert stored["source"] == "t.task.json"


@pytest.mark.parametrize("password", ["hunter2", "pre-{{ run.run_id }}"])
def test_an_inline_registry_password_is_refused(password: str, tmp_path: Path) -> None:
    document = {**TASK, "config": {"registryUsername": "me", "registryPassword": password}}
    path = tmp_path / "leaky.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ContractError) as refused:
        KaapanaTaskOperator(task_id="t", task_json=str(path))
    message = refused.value.render()
    assert message.startswith("leaky.json: config.registryPassword: an inline registry password")
    assert "imagePullSecrets" in message
    assert "hunter2" not in message


def test_kaapanas_templated_password_stores_no_secret_and_is_accepted() -> None:
    document = {**TASK, "config": {"registryPassword": "{{ env.registryPassword }}"}}
    op = KaapanaTaskOperator(task_id="t", task_json=document)
    assert "{{ env.registryPassword }}" in op.executor_config[EXECUTOR_CONFIG_KEY]["task"]
