"""The status page: the published document turned into what a person reads (pure, no I/O).

Numbers become bars and short amounts here, in Python, so the template only lays them out
and the page is complete without JavaScript (the script only refreshes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from urllib.parse import quote

import jinja2

from kaapana_executor.status import ExecutorStatus, NodeView, TaskId, WaitingTask

CPU, MEMORY, GPU, PODS = "cpu", "memory", "nvidia.com/gpu", "pods"
_NOT_BARS = {CPU, MEMORY, PODS, "ephemeral-storage"}
STALE_AFTER = 60.0  # seconds without a new document before the page says so
REFRESH_SECONDS = 10


def number(name: str, value: int) -> str:
    """An amount without its unit: ``1.5``, ``750m`` (CPU), ``7.5Gi``, ``2``."""
    if name == CPU:
        if value % 1000 == 0 or abs(value) >= 10_000:
            return f"{value / 1000:g}"
        return f"{value}m" if abs(value) < 1000 else f"{value / 1000:.2f}".rstrip("0")
    if name in {MEMORY, "ephemeral-storage"}:
        return _bytes(value)
    return str(value)


def unit(name: str, value: int = 2) -> str:
    """The word after a number (``CPU``, ``GPUs``); none for memory, which carries its own."""
    if name in {MEMORY, "ephemeral-storage"}:
        return ""
    if name == GPU:
        return "GPU" if value == 1 else "GPUs"
    return "CPU" if name == CPU else name


def amount(name: str, value: int) -> str:
    """``1.5 CPU``, ``750m CPU``, ``7.5Gi``, ``2 GPUs`` (ledger units in, words out)."""
    return f"{number(name, value)} {unit(name, value)}".rstrip()


def _bytes(value: int) -> str:
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.0f}{suffix}" if scaled == int(scaled) else f"{scaled:.1f}{suffix}"
    return str(value)


def share(name: str, used: int, total: int) -> str:
    """``3 of 4 CPU``, ``12Gi of 32Gi``, ``1 of 2 GPUs``."""
    return f"{number(name, used)} of {amount(name, total)}"


def amounts(values: dict[str, int]) -> str:
    """All amounts of a request, CPU and memory first, pods left out."""
    order = sorted((n for n in values if n != PODS), key=lambda n: (n != CPU, n != MEMORY, n))
    return ", ".join(amount(n, values[n]) for n in order) or "nothing"


def duration(seconds: float) -> str:
    """``45s``, ``3m 05s``, ``2h 10m``, ``3d 4h``."""
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


@dataclass(frozen=True)
class Bar:
    """One resource of one node: widths in percent of allocatable, and the words for it."""

    label: str
    headline: str  # "3 of 4 CPU in use (75%)"
    detail: str  # "1 CPU requested · 2 CPU reserved · 1 CPU free"
    requested_pct: float
    reserved_pct: float
    overcommitted: bool


def _bar(node: NodeView, name: str, label: str) -> Bar:
    allocatable = node.allocatable.get(name, 0)
    requested = node.requested.get(name, 0)
    reserved = node.reserved.get(name, 0)
    used = requested + reserved
    scale = 100.0 / allocatable if allocatable > 0 else 0.0
    requested_pct = min(100.0, requested * scale)
    reserved_pct = min(100.0 - requested_pct, reserved * scale)
    headline = f"{share(name, used, allocatable)} in use"
    if allocatable > 0:
        headline += f" ({used * scale:.0f}%)"
    detail = (
        f"{amount(name, requested)} requested · {amount(name, reserved)} reserved · "
        f"{amount(name, allocatable - used)} free"
    )
    return Bar(label, headline, detail, requested_pct, reserved_pct, used > allocatable)


def bars(node: NodeView) -> list[Bar]:
    """CPU and memory always; GPUs and other extended resources where the node has them."""
    found = [_bar(node, CPU, "CPU"), _bar(node, MEMORY, "Memory")]
    extended = sorted(
        n
        for n in {*node.allocatable, *node.requested}
        if n not in _NOT_BARS and not n.startswith("hugepages-")
    )
    for name in extended:
        found.append(_bar(node, name, "GPUs" if name == GPU else name))
    return found


def node_badges(node: NodeView) -> list[tuple[str, str]]:
    """(css class, text): what keeps pods off a node, in the scheduler's words."""
    badges = []
    if not node.ready:
        badges.append(("bad", "NotReady"))
    if node.unschedulable:
        badges.append(("warn", "cordoned"))
    badges += [("warn", p) for p in node.pressure]
    badges += [("taint", t) for t in node.taints]
    return badges or [("ok", "schedulable")]


def task_link(task: TaskId) -> str:
    """The task instance in the Airflow UI, relative to ``{base}/kaapana-executor/``."""
    parts = [quote(p, safe="") for p in (task.dag_id, task.run_id, task.task_id)]
    link = f"../dags/{parts[0]}/runs/{parts[1]}/tasks/{parts[2]}"
    return f"{link}/mapped/{task.map_index}" if task.map_index >= 0 else link


def task_name(task: TaskId) -> str:
    index = f"[{task.map_index}]" if task.map_index >= 0 else ""
    return f"{task.dag_id} / {task.task_id}{index}"


def totals(status: ExecutorStatus) -> list[tuple[str, str]]:
    """Cluster-wide requested+reserved of allocatable, per resource shown in bars."""
    nodes = status.ledger.nodes if status.ledger else []
    names = [CPU, MEMORY] + ([GPU] if any(n.allocatable.get(GPU) for n in nodes) else [])
    found = []
    for name in names:
        allocatable = sum(n.allocatable.get(name, 0) for n in nodes)
        used = sum(n.requested.get(name, 0) + n.reserved.get(name, 0) for n in nodes)
        label = {CPU: "CPU", MEMORY: "Memory", GPU: "GPUs"}[name]
        found.append((label, f"{share(name, used, allocatable)} in use"))
    return found


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kaapana_executor.plugin", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(
        bars=bars,
        badges=node_badges,
        amounts=amounts,
        duration=duration,
        link=task_link,
        name=task_name,
    )
    return env


def render_page(status: ExecutorStatus, now: datetime) -> str:
    """The whole page for one reader (``status`` already filtered for them)."""
    age = max(0.0, (now - status.published_at).total_seconds())
    waiting: list[WaitingTask] = status.waiting
    return (
        _templates()
        .get_template("status.html")
        .render(
            status=status,
            waiting=waiting,
            nodes=status.ledger.nodes if status.ledger else [],
            age=age,
            stale=age > STALE_AFTER,
            totals=totals(status),
            refresh=REFRESH_SECONDS,
        )
    )


def render_missing(why: str) -> str:
    """The page when there is nothing to show (no document yet, or an unreadable one)."""
    return _templates().get_template("missing.html").render(why=why, refresh=REFRESH_SECONDS)
