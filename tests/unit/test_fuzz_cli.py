"""Random and mutated documents through ``validate`` and ``render``: exit 0 or 1, never a crash."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kaapana_executor.cli import main
from tests.unit.reference import real_documents

# Seeded from Kaapana's real files: without them there is nothing to mutate.
pytestmark = pytest.mark.reference

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
SEEDS = {p.name: json.loads(p.read_text()) for p in real_documents()}
KEYS = [
    "name",
    "image",
    "taskTemplate",
    "templates",
    "inputs",
    "outputs",
    "env",
    "scale_rule",
    "mode",
    "volume_source",
    "host_path",
    "from",
    "resources",
    "limits",
    "memory",
    "api_version",
    "command",
]
SNIPPETS = [
    "{{",
    "}}",
    "{% if %}",
    "{{ env.X }}",
    "{{ run.dag_id }}",
    "\\",
    '"',
    "\x00",
    "{{ custom.a.b }}",
]


@st.composite
def mutated(draw: st.DrawFn, names: tuple[str, ...] = ()) -> Any:
    """A real document (one of ``names``, default any) with a random path replaced or deleted."""
    choices = [SEEDS[n] for n in names] if names else list(SEEDS.values())
    document = json.loads(json.dumps(draw(st.sampled_from(choices))))
    node = document
    for _ in range(draw(st.integers(0, 4))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if draw(st.booleans()) and isinstance(node[key], (dict, list)):
                node = node[key]
                continue
            action = draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                del node[key]
            elif action == "replace":
                node[key] = draw(JSON)
            else:
                node[draw(st.sampled_from(KEYS))] = draw(JSON)
            break
        if isinstance(node, list) and node:
            index = draw(st.integers(0, len(node) - 1))
            if isinstance(node[index], (dict, list)):
                node = node[index]
                continue
            node[index] = draw(JSON)
        break
    return document


@st.composite
def texts(draw: st.DrawFn, names: tuple[str, ...] = ()) -> str:
    """Serialized documents, sometimes with template snippets inserted."""
    text = json.dumps(draw(mutated(names) | JSON))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(SNIPPETS)) + text[at:]
    return text


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(args)
    event(f"exit {code}")
    captured = capsys.readouterr()
    assert code in (0, 1), captured
    if code == 1:
        assert captured.err.strip(), "an invalid document must say why"
        assert "Traceback" not in captured.err


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(text=texts(), kind=st.sampled_from([None, "task", "processing-container"]))
def test_validate_never_crashes(
    text: str, kind: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "doc.json")
        path.write_text(text)
        _run(["validate", str(path)] + (["--kind", kind] if kind else []), capsys)


@SETTINGS
@given(
    task=texts(("dummy.upstream-task.json", "dummy.downstream-task.json")),
    pc=texts(("dummy.processing-container.json",)),
)
def test_render_never_crashes(task: str, pc: str, capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        task_path, pc_path = Path(tmp, "task.json"), Path(tmp, "pc.json")
        task_path.write_text(task)
        pc_path.write_text(pc)
        args = [
            "render",
            str(task_path),
            "--processing-container",
            str(pc_path),
            "--data-dir",
            tmp,
            "--var",
            "env.registryUrl=r",
            "--var",
            "env.output_dir=/d",
            "--var",
            "env.namespace=n",
            "--var",
            "env.registryUsername=u",
            "--var",
            "env.registryPassword=p",
        ]
        _run(args, capsys)
