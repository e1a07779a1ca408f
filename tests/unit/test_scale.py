"""ScaleRules on real files in temporary directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kaapana_executor.contract import merge
from kaapana_executor.models import ScaleRule
from kaapana_executor.resources import scale
from kaapana_executor.resources.plan import plan_memory
from tests.unit.builders import host, mount, task, template_model

MiB = 2**20


def _file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)


def rule(mode: str, **fields: object) -> ScaleRule:
    return ScaleRule.model_validate({"scale_factor": 1, "type": "limit", "mode": mode, **fields})


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    """Two items of DICOM-like files plus noise, nested."""
    root = tmp_path / "channel"
    _file(root / "series1" / "a.dcm", 1000)
    _file(root / "series1" / "b.dcm", 3000)
    _file(root / "series1" / "notes.txt", 50_000)
    _file(root / "series2" / "deep" / "c.dcm", 5000)
    _file(root / "top.dcm", 700)
    return root


def test_sum_counts_matching_files_recursively(channel: Path) -> None:
    assert scale.measure(channel, rule("sum", target_glob="*.dcm")) == 1000 + 3000 + 5000 + 700
    assert scale.measure(channel, rule("sum")) == 1000 + 3000 + 50_000 + 5000 + 700


def test_regex_fully_matches_relative_path(channel: Path) -> None:
    assert scale.measure(channel, rule("sum", target_regex=r"series1/.*\.dcm")) == 4000
    assert scale.measure(channel, rule("sum", target_regex=r"\.dcm")) == 0  # full match, not search


def test_target_dir_narrows_the_measured_tree(channel: Path) -> None:
    assert scale.measure(channel, rule("sum", target_dir="series2")) == 5000
    assert scale.measure(channel, rule("sum", target_dir=".", target_glob="*.dcm")) == 9700


def test_max_file_size(channel: Path) -> None:
    assert scale.measure(channel, rule("max_file_size", target_glob="*.dcm")) == 5000


def test_max_item_sum_takes_largest_item(channel: Path) -> None:
    assert scale.measure(channel, rule("max_item_sum", target_glob="*.dcm")) == 5000
    assert scale.measure(channel, rule("max_item_sum")) == 54_000


def test_empty_or_missing_channel_measures_zero(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for mode in ("sum", "max_file_size", "max_item_sum"):
        assert scale.measure(tmp_path / "empty", rule(mode)) == 0
        assert scale.measure(tmp_path / "missing", rule(mode)) == 0


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _file(outside / "big.dcm", 10 * MiB)
    root = tmp_path / "channel"
    _file(root / "own.dcm", 100)
    os.symlink(outside, root / "link-dir")
    os.symlink(outside / "big.dcm", root / "link.dcm")
    assert scale.measure(root, rule("sum")) == 100
    assert scale.measure(root, rule("max_item_sum")) == 0


def test_need_adds_ten_percent_and_rounds_to_mib() -> None:
    assert scale.need(rule("sum").model_copy(update={"scale_factor": 25}), 4 * MiB) == 110 * MiB
    assert scale.need(rule("sum"), 1) == MiB
    assert scale.need(rule("sum"), 0) == 0


def test_plan_raises_limit_above_declared(tmp_path: Path) -> None:
    _file(tmp_path / "in" / "x.nrrd", 20 * MiB)
    tmpl = template_model(
        inputs=[mount("in")],
        resources={"limits": {"memory": "100Mi"}, "requests": {"memory": "50Mi"}},
    )
    t = task(
        inputs=[
            host(
                "in",
                str(tmp_path / "in"),
                scale_rule={"scale_factor": 10, "type": "limit", "mode": "sum"},
            )
        ]
    )
    planned, results = plan_memory(merge.merge(t, tmpl, "t.json"))
    assert planned.resources.limits == {"memory": "220Mi"}  # 10 × 20Mi × 1.1
    assert planned.resources.requests == {"memory": "50Mi"}
    assert [(r.channel, r.measured_bytes, r.needed_bytes) for r in results] == [
        ("in", 20 * MiB, 220 * MiB)
    ]


def test_plan_keeps_declared_when_larger(tmp_path: Path) -> None:
    _file(tmp_path / "in" / "x", MiB)
    tmpl = template_model(inputs=[mount("in")], resources={"limits": {"memory": "2Gi"}})
    t = task(
        inputs=[
            host(
                "in",
                str(tmp_path / "in"),
                scale_rule={"scale_factor": 10, "type": "limit", "mode": "sum"},
            )
        ]
    )
    planned, _ = plan_memory(merge.merge(t, tmpl, "t.json"))
    assert planned.resources.limits == {"memory": "2Gi"}


def test_scaled_request_above_limit_raises_the_limit(tmp_path: Path) -> None:
    _file(tmp_path / "in" / "x", 10 * MiB)
    tmpl = template_model(inputs=[mount("in")], resources={"limits": {"memory": "50Mi"}})
    t = task(
        inputs=[
            host(
                "in",
                str(tmp_path / "in"),
                scale_rule={"scale_factor": 10, "type": "request", "mode": "sum"},
            )
        ]
    )
    planned, results = plan_memory(merge.merge(t, tmpl, "t.json"))
    assert planned.resources.requests == {"memory": "110Mi"}
    assert planned.resources.limits == {"memory": "110Mi"}
    assert results[-1].note == "limit raised to the scaled request"


def test_pvc_channel_is_not_measured_locally() -> None:
    tmpl = template_model(inputs=[mount("in")], resources={"limits": {"memory": "1Gi"}})
    t = task(
        inputs=[
            {
                "name": "in",
                "volume_source": {"pvc": {"claim_name": "data", "sub_path": "x"}},
                "scale_rule": {"scale_factor": 10, "type": "limit", "mode": "sum"},
            }
        ]
    )
    planned, results = plan_memory(merge.merge(t, tmpl, "t.json"))
    assert planned.resources.limits == {"memory": "1Gi"}
    assert "not readable" in results[0].note
