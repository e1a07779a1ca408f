"""The status page's HTML and words, from a document built from a real gate and ledger."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from kaapana_executor.contract.templating import RunContext
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.plugin.view import amount, duration, render_missing, render_page
from kaapana_executor.runtime.gate import AdmissionGate
from kaapana_executor.status import ExecutorStatus, StatusSource, build_status
from tests.support.ledger_builders import GPU_TOLERATION, gpu_node, node, pod

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


class Parsed(HTMLParser):
    """Links and the text of elements with a ``data-node``/``data-resource`` attribute."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def status(run_id: str = "manual__2026-05-01T12:00:00+00:00") -> ExecutorStatus:
    ledger = Ledger()
    ledger.replace_all(
        [node("cpu-1", cpu="4", memory="8Gi"), gpu_node("gpu-1")],
        [pod("busy", requests={"cpu": "1", "memory": "2Gi"}, node_name="cpu-1")],
    )
    clock = [100.0]
    gate = AdmissionGate(ledger, lambda: clock[0])
    gpu = pod("g", requests={"cpu": "1", "nvidia.com/gpu": "1"}, tolerations=[GPU_TOLERATION])
    gate.add("gpu", gpu, priority=1)
    gate.add("big", pod("b", requests={"cpu": "4"}), priority=1)
    gate.next_pass()
    clock[0] += 75
    runs = {
        "gpu": RunContext("seg", run_id, "infer"),
        "big": RunContext("seg", run_id, "train", map_index=1),
    }
    return build_status(StatusSource(runs, gate.queue(), gate.last_waiting, ledger.snapshot(), T0))


def test_nodes_show_bars_with_requested_reserved_and_free() -> None:
    page = render_page(status(), T0 + timedelta(seconds=5))
    assert 'data-node="cpu-1"' in page and 'data-node="gpu-1"' in page
    assert "1 of 4 CPU in use (25%)" in page
    assert "2Gi of 8Gi in use (25%)" in page
    assert "1 of 2 GPUs in use (50%)" in page  # the admitted GPU task's reservation
    assert "0 GPUs requested · 1 GPU reserved · 1 GPU free" in page
    assert "nvidia.com/gpu=present:NoSchedule" in page  # why other pods stay off
    assert "Published 5s ago" in page and 'id="stale"' not in page


def test_waiting_tasks_link_to_their_task_instance() -> None:
    page = render_page(status(), T0)
    parsed = Parsed(page)
    run = "manual__2026-05-01T12%3A00%3A00%2B00%3A00"
    assert f"../dags/seg/runs/{run}/tasks/train/mapped/1" in parsed.links
    assert f"../dags/seg/runs/{run}/tasks/infer" in parsed.links  # holds a reservation
    assert "needs 4 CPU; the most free eligible node has 3 CPU (cpu-1)" in page
    assert "1m 15s" in page


def test_text_from_the_cluster_is_escaped() -> None:
    page = render_page(status(run_id="<script>alert(1)</script>"), T0)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert all("alert" not in script for script in Parsed(page).scripts)


def test_an_old_document_says_the_executor_is_not_publishing() -> None:
    page = render_page(status(), T0 + timedelta(minutes=5))
    assert 'id="stale"' in page and "No new status for 5m 00s" in page


def test_nothing_published_yet_explains_where_the_status_comes_from() -> None:
    page = render_missing("No status published yet")
    assert "No status published yet" in page and "base_log_folder" in page


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("cpu", 4000, "4 CPU"),
        ("cpu", 1250, "1.25 CPU"),
        ("cpu", 3100, "3.1 CPU"),
        ("cpu", 750, "750m CPU"),
        ("cpu", -500, "-500m CPU"),
        ("memory", 8 * 2**30, "8Gi"),
        ("memory", 3 * 2**29, "1.5Gi"),
        ("memory", 0, "0"),
        ("nvidia.com/gpu", 1, "1 GPU"),
        ("nvidia.com/gpu", 2, "2 GPUs"),
        ("example.com/fpga", 3, "3 example.com/fpga"),
    ],
)
def test_amounts_read_as_people_write_them(name: str, value: int, text: str) -> None:
    assert amount(name, value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (125, "2m 05s"), (7260, "2h 01m"), (200_000, "2d 7h")],
)
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text
