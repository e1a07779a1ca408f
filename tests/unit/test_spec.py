"""From a queued task instance to its pod: templating, user input, links, defaults, namespace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents
from kaapana_executor.contract.schema import Kind
from kaapana_executor.contract.templating import RunContext
from kaapana_executor.errors import ContractError
from kaapana_executor.launch.pipeline import ImageAccess, Launch, ProcessingContainerSource
from kaapana_executor.launch.pod import to_dict
from kaapana_executor.launch.policy import LaunchPolicy, SpecError
from kaapana_executor.models import ProcessingContainer
from kaapana_executor.runtime.refs import EXECUTOR_CONFIG_KEY, TaskRef
from kaapana_executor.runtime.spec import UpstreamConfig, UpstreamConfigLookup, resolve_task

# Our own processing-container.json in the shape of Kaapana's dummy (two templates, two channels).
PC_TEXT = json.dumps(
    {
        "name": "dummy",
        "description": "two templates linked by two channels",
        "templates": [
            {
                "identifier": "upstream",
                "description": "writes both channels",
                "env": [{"name": "TIME_SLEEP", "value": "5"}],
                "outputs": [
                    {"name": "channel1", "mounted_path": "/home/upstream/channel1"},
                    {"name": "channel2", "mounted_path": "/home/upstream/channel2"},
                ],
                "command": ["python3", "-u", "upstream.py"],
            },
            {
                "identifier": "downstream",
                "description": "reads both channels",
                "env": [{"name": "TIME_SLEEP", "value": "5"}],
                "inputs": [
                    {"name": "channel1", "mounted_path": "/home/downstream/channel1"},
                    {"name": "channel2", "mounted_path": "/home/downstream/channel2"},
                ],
                "command": ["python3", "-u", "downstream.py"],
            },
        ],
    }
)
_PARSED = documents.parse(PC_TEXT, "pc.json", kind=Kind.PROCESSING_CONTAINER).model
assert isinstance(_PARSED, ProcessingContainer)
PC: ProcessingContainer = _PARSED


def images(image: str, access: object = None) -> ProcessingContainer:
    assert image == "registry.local/dummy:1"
    return PC


UPSTREAM: dict[str, Any] = {
    "name": "up",
    "image": "registry.local/dummy:1",
    "taskTemplate": "upstream",
    "outputs": [
        {"name": "channel1"},
        {"name": "channel2", "volume_source": {"host_path": "{{ custom.nope }}"}},
    ],
}
DOWNSTREAM: dict[str, Any] = {
    "name": "down",
    "image": "registry.local/dummy:1",
    "taskTemplate": "downstream",
    "inputs": [
        {"name": "channel1", "from": {"task": "upstream", "channel": "channel1"}},
        {"name": "channel2", "from": {"task": "upstream", "channel": "channel1"}},
    ],
    "config": {"annotations": {"run": "{{ run.run_id }}-{{ run.try_number }}"}},
}


def config(document: dict[str, Any]) -> dict[str, Any]:
    return {EXECUTOR_CONFIG_KEY: {"task": json.dumps(document), "source": "t.json"}}


def ref(task_id: str, document: dict[str, Any], try_number: int = 1) -> TaskRef:
    run = RunContext("dummy", "run1", task_id, try_number=try_number)
    return TaskRef(
        key=(task_id,), ti_id="ti-1", token="t", run=run, executor_config=config(document)
    )


def lookup(linking: TaskRef, task_id: str) -> UpstreamConfig | None:
    upstream = {**UPSTREAM, "outputs": [{"name": "channel1"}, {"name": "channel2"}]}
    found = {"upstream": config(upstream), "sibling": config(upstream)}.get(task_id)
    return None if found is None else UpstreamConfig(found, is_upstream=task_id == "upstream")


def build_launch(
    ref: TaskRef,
    conf: dict[str, Any],
    settings: ExecutorSettings,
    images: ProcessingContainerSource,
    upstream: UpstreamConfigLookup,
) -> Launch:
    """What the executor's launcher resolves for ``ref`` with ``settings``."""
    return resolve_task(ref, conf, LaunchPolicy.from_settings(settings), images, upstream)


SETTINGS = ExecutorSettings(
    namespace="kaapana", data_root="/data", data_root_local="/tmp/x", allowed_namespaces=["proj"]
)


def test_downstream_links_to_upstream_default_outputs() -> None:
    launch = build_launch(ref("downstream", DOWNSTREAM, try_number=2), {}, SETTINGS, images, lookup)
    pod = to_dict(launch.pod)
    paths = sorted(v["hostPath"]["path"] for v in pod["spec"]["volumes"])
    assert paths == ["/data/dummy/run1/upstream/channel1", "/data/dummy/run1/upstream/channel1"]
    assert pod["metadata"]["namespace"] == "kaapana"
    assert pod["metadata"]["annotations"]["run"] == "run1-2"
    assert launch.outputs == []


def test_upstream_outputs_default_to_run_directory() -> None:
    document = {**UPSTREAM, "outputs": [{"name": "channel1"}, {"name": "channel2"}]}
    launch = build_launch(ref("upstream", document), {}, SETTINGS, images, lookup)
    assert [str(p) for p in launch.outputs] == [
        "/data/dummy/run1/upstream/channel1",
        "/data/dummy/run1/upstream/channel2",
    ]


def test_two_dags_with_the_same_run_id_get_separate_run_directories() -> None:
    document = {**UPSTREAM, "outputs": [{"name": "channel1"}]}
    launches = []
    for dag_id in ("dag_a", "dag_b"):
        run = RunContext(dag_id, "scheduled__2026-01-01T00:00:00+00:00", "upstream")
        twin = TaskRef(
            key=(dag_id,), ti_id=dag_id, token="t", run=run, executor_config=config(document)
        )
        launches.append(build_launch(twin, {}, SETTINGS, images, lookup))
    run_dirs = {str(p.parent.parent) for launch in launches for p in launch.outputs}
    assert run_dirs == {
        "/data/dag_a/scheduled__2026-01-01T00:00:00+00:00",
        "/data/dag_b/scheduled__2026-01-01T00:00:00+00:00",
    }


def test_templates_see_template_env_and_never_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAAPANA_TEST_SECRET", "s3cret")
    hostile = {**UPSTREAM, "env": [{"name": "LOOT", "value": "{{ env.KAAPANA_TEST_SECRET }}"}]}
    hostile["outputs"] = [{"name": "channel1"}, {"name": "channel2"}]
    with pytest.raises(ContractError, match=r"undefined variable 'env\.KAAPANA_TEST_SECRET'"):
        build_launch(ref("upstream", hostile), {}, SETTINGS, images, lookup)

    allowed = SETTINGS.model_copy(update={"template_env": {"KAAPANA_TEST_SECRET": "public"}})
    launch = build_launch(ref("upstream", hostile), {}, allowed, images, lookup)
    env = {e.name: e.value for e in launch.pod.spec.containers[0].env}
    assert env["LOOT"] == "public"


def test_user_input_env_reaches_only_the_targeted_task() -> None:
    conf = {
        "task_form": {
            "downstream": {"env": {"TIME_SLEEP": "9"}},
            "upstream": {"env": {"TIME_SLEEP": "1"}},
        }
    }
    launch = build_launch(ref("downstream", DOWNSTREAM), conf, SETTINGS, images, lookup)
    env = {e["name"]: e["value"] for e in to_dict(launch.pod)["spec"]["containers"][0]["env"]}
    assert env["TIME_SLEEP"] == "9"


def test_user_input_may_not_set_image_by_default() -> None:
    conf = {"task_form": {"downstream": {"image": "evil/image:1"}}}
    with pytest.raises(ContractError) as caught:
        build_launch(ref("downstream", DOWNSTREAM), conf, SETTINGS, images, lookup)
    assert caught.value.lines() == [
        "dag_run.conf: task_form.downstream.image: "
        "user input may not set 'image' (this task allows: env)"
    ]


def test_invalid_choice_from_user_input_fails_with_reason() -> None:
    pc = documents.build(
        Kind.PROCESSING_CONTAINER,
        {
            "name": "c",
            "description": "",
            "templates": [
                {
                    "identifier": "main",
                    "description": "",
                    "env": [{"name": "MODE", "value": "a", "choices": ["a", "b"]}],
                }
            ],
        },
        "pc",
    )
    assert isinstance(pc, ProcessingContainer)
    document = {"name": "t", "image": "x", "taskTemplate": "main"}
    conf = {"task_form": {"t": {"env": {"MODE": "z"}}}}
    with pytest.raises(ContractError, match="'z' is not a valid choice for MODE"):
        build_launch(ref("t", document), conf, SETTINGS, lambda image, access: pc, lookup)


def test_link_to_missing_task_or_channel() -> None:
    missing = {
        **DOWNSTREAM,
        "inputs": [{"name": "channel1", "from": {"task": "nope", "channel": "c"}}],
    }
    with pytest.raises(ContractError, match="upstream task 'nope' does not exist"):
        build_launch(ref("downstream", missing), {}, SETTINGS, images, lookup)
    wrong = {
        **DOWNSTREAM,
        "inputs": [
            {"name": "channel1", "from": {"task": "upstream", "channel": "x"}},
            {"name": "channel2", "from": {"task": "upstream", "channel": "channel2"}},
        ],
    }
    with pytest.raises(ContractError, match="binds no output channel 'x'"):
        build_launch(ref("downstream", wrong), {}, SETTINGS, images, lookup)


def test_namespace_allow_list() -> None:
    document = {**DOWNSTREAM, "config": {"namespace": "proj"}}
    assert (
        to_dict(build_launch(ref("downstream", document), {}, SETTINGS, images, lookup).pod)[
            "metadata"
        ]["namespace"]
        == "proj"
    )
    with pytest.raises(SpecError, match="namespace 'other' is not allowed"):
        build_launch(
            ref("downstream", {**DOWNSTREAM, "config": {"namespace": "other"}}),
            {},
            SETTINGS,
            images,
            lookup,
        )


def test_scale_rule_reads_local_view_of_inputs(tmp_path: Path) -> None:
    settings = ExecutorSettings(data_root="/data", data_root_local=str(tmp_path))
    (tmp_path / "dummy" / "run1" / "upstream" / "channel1").mkdir(parents=True)
    (tmp_path / "dummy" / "run1" / "upstream" / "channel1" / "a.txt").write_bytes(
        b"x" * (4 * 2**20)
    )
    document = {
        **DOWNSTREAM,
        "inputs": [
            {
                "name": "channel1",
                "from": {"task": "upstream", "channel": "channel1"},
                "scale_rule": {
                    "scale_factor": 25,
                    "type": "limit",
                    "mode": "sum",
                    "target_regex": ".*\\.txt",
                },
            },
            {"name": "channel2", "from": {"task": "upstream", "channel": "channel2"}},
        ],
        "resources": {"limits": {"memory": "50Mi"}},
    }
    launch = build_launch(ref("downstream", document), {}, settings, images, lookup)
    assert to_dict(launch.pod)["spec"]["containers"][0]["resources"]["limits"] == {
        "memory": "110Mi"
    }


def test_a_link_to_a_task_that_is_not_upstream_is_refused() -> None:
    """A sibling's outputs may still be written or cleaned while this task would read them."""
    sibling = {
        **DOWNSTREAM,
        "inputs": [
            {"name": "channel1", "from": {"task": "sibling", "channel": "channel1"}},
            {"name": "channel2", "from": {"task": "upstream", "channel": "channel2"}},
        ],
    }
    with pytest.raises(ContractError) as refused:
        build_launch(ref("downstream", sibling), {}, SETTINGS, images, lookup)
    assert refused.value.lines() == [
        "t.json: inputs[0].from.task: task 'sibling' is not upstream of 'downstream' in DAG "
        "'dummy': its outputs may still be written or cleaned while this task reads them"
    ]


def test_missing_executor_config() -> None:
    bare = TaskRef(
        key=("x",), ti_id="i", token="t", run=RunContext("d", "r", "x"), executor_config={}
    )
    with pytest.raises(SpecError, match="KaapanaTaskOperator"):
        build_launch(bare, {}, SETTINGS, images, lookup)


def test_transitive_upstreams_from_the_serialized_edges() -> None:
    from kaapana_executor.airflow_compat import transitive_upstreams

    found = transitive_upstreams({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": [], "e": []})
    assert found == {
        "a": frozenset(),
        "b": frozenset({"a"}),
        "c": frozenset({"a"}),
        "d": frozenset({"a", "b", "c"}),
        "e": frozenset(),
    }


def test_a_user_input_env_entry_without_a_name_is_an_error_not_dropped() -> None:
    conf = {"task_form": {"downstream": {"env": [{"value": "9"}, {"name": "MODE", "value": "x"}]}}}
    with pytest.raises(ContractError) as refused:
        build_launch(ref("downstream", DOWNSTREAM), conf, SETTINGS, images, lookup)
    assert refused.value.lines() == [
        "dag_run.conf: task_form.downstream.env[0]: an env entry must be an object with a "
        "'name' (and a 'value')"
    ]


PLATFORM = ExecutorSettings(
    namespace="kaapana",
    data_root="/data",
    allowed_namespaces=["project-a"],
    pod_env=[
        {"name": "KAAPANA_AII_URL", "value": "http://aii"},
        {"name": "MODE", "value": "platform"},
        {
            "name": "KAAPANA_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "oidc-client-secret", "key": "secret"}},
        },
    ],
    pod_labels={"kaapana.ai/type": "processing-container"},
)


def test_the_platform_env_and_labels_reach_every_pod_and_win() -> None:
    conf = {"task_form": {"downstream": {"env": {"MODE": "thorough"}}}}
    pod = to_dict(build_launch(ref("downstream", DOWNSTREAM), conf, PLATFORM, images, lookup).pod)
    env = pod["spec"]["containers"][0]["env"]
    assert env[-3:] == [
        {"name": "KAAPANA_AII_URL", "value": "http://aii"},
        {"name": "MODE", "value": "platform"},  # over the template, the task and user input
        {
            "name": "KAAPANA_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"key": "secret", "name": "oidc-client-secret"}},
        },
    ]
    assert [e["name"] for e in env].count("MODE") == 1
    assert pod["metadata"]["labels"]["kaapana.ai/type"] == "processing-container"


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({}, "kaapana"),
        ({"project_form": {"kubernetes_namespace": "project-a"}}, "project-a"),
        ({"project_form": {"name": "no namespace here"}}, "kaapana"),
    ],
)
def test_the_runs_conf_chooses_the_project_namespace(conf: dict[str, Any], expected: str) -> None:
    launch = build_launch(ref("downstream", DOWNSTREAM), conf, PLATFORM, images, lookup)
    assert launch.pod.metadata.namespace == expected


def test_a_project_namespace_that_is_not_allowed_fails_the_task() -> None:
    conf = {"project_form": {"kubernetes_namespace": "project-b"}}
    with pytest.raises(SpecError) as refused:
        build_launch(ref("downstream", DOWNSTREAM), conf, PLATFORM, images, lookup)
    assert str(refused.value) == (
        "namespace 'project-b' (dag_run.conf project_form.kubernetes_namespace) is not allowed "
        "(allowed: kaapana, project-a)"
    )


def test_the_execution_timeout_is_the_pods_deadline() -> None:
    timed = ref("downstream", DOWNSTREAM)
    timed.executor_config[EXECUTOR_CONFIG_KEY]["execution_timeout"] = 4.5
    pod = to_dict(build_launch(timed, {}, SETTINGS, images, lookup).pod)
    assert pod["spec"]["activeDeadlineSeconds"] == 5
    plain = to_dict(build_launch(ref("downstream", DOWNSTREAM), {}, SETTINGS, images, lookup).pod)
    assert "activeDeadlineSeconds" not in plain["spec"]


def test_the_image_is_read_with_the_pods_namespace_and_pull_secrets() -> None:
    seen: list[ImageAccess] = []

    def recording(image: str, access: ImageAccess) -> ProcessingContainer:
        seen.append(access)
        return PC

    settings = SETTINGS.model_copy(update={"image_pull_secrets": ["deployment"]})
    task = {**DOWNSTREAM, "config": {"imagePullSecrets": ["own"], "namespace": "proj"}}
    build_launch(ref("downstream", task), {}, settings, recording, lookup)
    assert seen == [ImageAccess("proj", ("deployment", "own"))]


def test_the_launch_refuses_user_input_for_a_variable_that_is_not_adjustable() -> None:
    fixed = {
        "name": "c",
        "description": "",
        "templates": [
            {
                "identifier": "main",
                "description": "",
                "env": [{"name": "MODEL", "value": "v1", "adjustable": False, "type": "string"}],
            }
        ],
    }
    pc = documents.build(Kind.PROCESSING_CONTAINER, fixed, "pc")
    assert isinstance(pc, ProcessingContainer)
    document = {"name": "t", "image": "x", "taskTemplate": "main"}
    conf = {"task_form": {"t": {"MODEL": "v2"}}}  # the flat form of Kaapana's guide
    with pytest.raises(ContractError) as refused:
        build_launch(ref("t", document), conf, SETTINGS, lambda image, access: pc, lookup)
    assert "task_form.t.MODEL" in refused.value.render()
    assert "adjustable" in refused.value.render()
