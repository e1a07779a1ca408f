"""The CLI accepts every real Kaapana file and rejects broken copies with a located reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kaapana_executor.cli import main
from tests.unit.reference import available, real_documents

reference = pytest.mark.reference


@reference
def test_reference_folder_has_both_kinds() -> None:
    names = [p.name for p in real_documents()]
    assert any("task" in n for n in names)
    assert any("processing-container" in n for n in names)


@reference
@pytest.mark.parametrize("path", real_documents(), ids=lambda p: p.name)
def test_every_real_file_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path.name}: valid ")


def _load(name: str) -> dict[str, Any]:
    path = next(p for p in real_documents() if p.name == name)
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _mutations() -> list[tuple[str, str, str, str]]:
    """(case, file name, text, expected stderr fragment)."""
    task = _load("dummy.upstream-task.json")
    pc = _load("mitk-tools.processing-container.json")
    no_image = {k: v for k, v in task.items() if k != "image"}
    wrong_type = {**task, "env": "TIME_SLEEP=0"}
    bad_mode = json.loads(json.dumps(pc))
    bad_mode["templates"][0]["inputs"][1]["scale_rule"]["mode"] = "average"
    v2 = {**pc, "api_version": 2}
    no_host_path = json.loads(json.dumps(task))
    no_host_path["outputs"][0]["volume_source"] = {"path": "/x"}
    return [
        ("missing field", "task.json", json.dumps(no_image), "task.json: 'image' is required"),
        (
            "wrong type",
            "task.json",
            json.dumps(wrong_type),
            "task.json: env: 'TIME_SLEEP=0' is not of type 'array'",
        ),
        (
            "unknown mode",
            "pc.json",
            json.dumps(bad_mode),
            "pc.json: templates[0].inputs[1].scale_rule.mode: 'average' is not one of",
        ),
        (
            "api_version 2",
            "pc.json",
            json.dumps(v2),
            "pc.json: api_version: unsupported api_version 2",
        ),
        ("bad json", "pc.json", json.dumps(pc)[:-5], "pc.json: invalid JSON at line 1"),
        (
            "jinja syntax",
            "task.json",
            json.dumps(task).replace("{{ env.namespace }}", "{{ env.namespace"),
            "task.json: template syntax error at line 1",
        ),
        (
            "unknown field in volume",
            "task.json",
            json.dumps(no_host_path),
            "task.json: outputs[0].volume_source: unknown field 'path'",
        ),
    ]


@reference
@pytest.mark.parametrize(
    ("case", "name", "text", "expected"),
    _mutations() if available() else [],
    ids=lambda v: str(v)[:20],
)
def test_mutated_copies_are_rejected(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    name: str,
    text: str,
    expected: str,
) -> None:
    assert main(["validate", str(_write(tmp_path, name, text))]) == 1, case
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Traceback" not in err


@reference
def test_console_script_exit_codes(tmp_path: Path) -> None:
    """The installed entry point behaves as documented: 0 valid, 1 invalid, 2 usage."""
    good = real_documents()[0]
    bad = _write(tmp_path, "bad.json", "{}")
    run = [sys.executable, "-m", "kaapana_executor.cli"]
    assert (
        subprocess.run([*run, "validate", str(good)], capture_output=True, check=False).returncode
        == 0
    )
    invalid = subprocess.run(
        [*run, "validate", str(bad)], capture_output=True, text=True, check=False
    )
    assert invalid.returncode == 1
    assert invalid.stderr.startswith("bad.json: cannot tell whether")
    assert subprocess.run([*run, "validate"], capture_output=True, check=False).returncode == 2
    assert subprocess.run([*run, "frobnicate"], capture_output=True, check=False).returncode == 2


def test_missing_file_is_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.json")]) == 1
    assert capsys.readouterr().err.startswith("nope.json: cannot read file")


def test_schema_command_prints_the_shipped_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ("task", "processing-container"):
        assert main(["schema", kind]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert printed["$id"].endswith(f"/v1/{kind}.schema.json")


@reference
def test_validate_reports_unresolved_variables(capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in real_documents() if p.name == "dummy.upstream-task.json")
    assert main(["validate", str(path)]) == 0
    assert "env.registryUrl" in capsys.readouterr().err


def test_validate_with_vars_checks_the_rendered_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(
        {
            "name": "t",
            "image": "i",
            "taskTemplate": "x",
            "resources": {"limits": {"memory": "{{ custom.mem }}"}},
        }
    )
    path = _write(tmp_path, "t.json", text)
    assert main(["validate", str(path), "--var", "mem=1Gi"]) == 0
    assert main(["validate", str(path), "--var", "mem=lots"]) == 1
    assert (
        "t.json: resources.limits.memory: 'lots' is not a valid quantity" in capsys.readouterr().err
    )


def test_every_problem_of_one_entry_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Below an ``anyOf`` the best branch's errors are all reported, not only the first."""
    document = {
        "name": "t",
        "image": "i",
        "taskTemplate": "x",
        "env": [{"name": "A=B", "value": 1, "extra": True}],
    }
    assert main(["validate", str(_write(tmp_path, "t.json", json.dumps(document)))]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "t.json: env[0]: unknown field 'extra' (allowed: name, value)",
        "t.json: env[0].name: 'A=B' does not match '^[^=]+$'",
        "t.json: env[0].value: 1 is not of type 'string'",
    ]


def test_the_schema_command_ends_with_a_newline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "task"]) == 0
    assert capsys.readouterr().out.endswith("}\n")
