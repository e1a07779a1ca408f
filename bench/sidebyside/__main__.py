"""Command line of the side-by-side benchmark; see the package docstring and ``--help``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.sidebyside import extras, heartbeat, profile, table
from bench.sidebyside.common import cluster_env, kubeconfig
from bench.sidebyside.kaapana import run_engine
from bench.sidebyside.pool import clean_leftovers, node_pool
from kaapana_executor.k8s.client import load_api_client


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_table(args: argparse.Namespace, config: str, data: Path) -> None:
    """The side-by-side launch table (issue 14): ceiling, KaapanaExecutor, KubernetesExecutor."""
    with node_pool(load_api_client(config), args.nodes, args.pods_per_node) as pool:
        options = table.Options(config, pool, args.tasks, data, args.budget)
        results = table.measure(options, args.repetitions, _say)
    print(
        f"\n{args.tasks} tasks queued at once, median of {args.repetitions}, "
        f"nproc {os.cpu_count()}\n"
    )
    print(table.render(results))


def _show(title: str, values: dict[str, object]) -> None:
    print(f"\n{title}")
    for name, value in values.items():
        print(f"  {name}: {value}")


def cmd_sync(args: argparse.Namespace, config: str, data: Path) -> None:
    """sync() while every tracked pod changes, and RSS growth per 1,000 tracked tasks."""
    pods = max(args.pods_per_node, args.tracked // args.nodes + 1)
    with node_pool(load_api_client(config), args.nodes, pods) as pool:
        result = extras.churn_and_memory(config, pool, args.tracked, data, args.tracemalloc)
        _show("tracked pods changing", result)


def cmd_scale(args: argparse.Namespace, config: str, data: Path) -> None:
    """A 10,000-task run (``--scale-tasks``), from queued to finished."""
    nodes = max(args.nodes, args.scale_tasks // 1000 + 2)
    with node_pool(load_api_client(config), nodes, 1000) as pool:
        result = extras.scale(config, pool, args.scale_tasks, data, 1.0)
    _show(f"{args.scale_tasks} tasks", result)


def cmd_profile(args: argparse.Namespace, config: str, data: Path) -> None:
    """py-spy (GIL holders) over one launch of ``--tasks`` through the engine."""
    out = data / "launch.pyspy.txt"
    with node_pool(load_api_client(config), args.nodes, args.pods_per_node) as pool:
        run = profile.profiled(out, lambda: run_engine(config, pool, args.tasks, True, 1.0, data))
    total, rows = profile.hottest(out, 25)
    print(f"\nlaunch of {args.tasks} ({run.rate:.1f} pods/s), {total} GIL samples")
    print("| function | self % | inclusive % |\n|---|---|---|")
    for name, own, inclusive in rows:
        print(f"| {name} | {own:.1f} | {inclusive:.1f} |")
    print("\nmost self time:")
    for name, own in profile.self_hottest(out, 15):
        print(f"  {own:5.1f}%  {name}")
    if args.keep_profile:
        Path(args.keep_profile).write_text(out.read_text())


def cmd_heartbeat(args: argparse.Namespace, config: str, data: Path) -> None:
    """Heartbeat rounds for ``--heartbeat-tasks`` running tasks through real Airflow."""
    pods = max(args.pods_per_node, args.heartbeat_tasks // args.nodes + 1)
    with node_pool(load_api_client(config), args.nodes, pods) as pool:
        registry = cluster_env("KAAPANA_REGISTRY")
        setup = heartbeat.Setup(
            config, registry, pool, args.heartbeat_tasks, data / "hb", args.watch, args.api_workers
        )
        result = heartbeat.heartbeat_rounds(setup)
    _show("heartbeats against the real Execution API", result)


def cmd_clean(args: argparse.Namespace, config: str, data: Path) -> None:
    """Delete the nodes and namespaces an interrupted run of this bench left behind."""
    nodes, spaces = clean_leftovers(load_api_client(config))
    print(f"deleted {nodes} bench nodes and {spaces} bench namespaces")


COMMANDS: dict[str, Callable[[argparse.Namespace, str, Path], None]] = {
    "table": cmd_table,
    "clean": cmd_clean,
    "sync": cmd_sync,
    "scale": cmd_scale,
    "profile": cmd_profile,
    "heartbeat": cmd_heartbeat,
}


def parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:10} {(f.__doc__ or '').strip()}" for name, f in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="python -m bench.sidebyside",
        description=f"commands:\n{commands}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", nargs="?", default="table", choices=sorted(COMMANDS))
    p.add_argument("--tasks", type=int, default=500, help="tasks queued at once (table)")
    p.add_argument("--repetitions", type=int, default=3, help="rounds of every setting")
    p.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds a KubernetesExecutor setting may take before it is cut short",
    )
    p.add_argument("--nodes", type=int, default=4, help="KWOK nodes in the bench's own pool")
    p.add_argument("--pods-per-node", type=int, default=300)
    p.add_argument("--tracked", type=int, default=1000, help="tracked pods (sync)")
    p.add_argument("--scale-tasks", type=int, default=10_000, help="tasks of the scale run")
    p.add_argument("--heartbeat-tasks", type=int, default=1000)
    p.add_argument("--watch", type=float, default=60.0, help="seconds of heartbeat rounds")
    p.add_argument("--api-workers", type=int, default=1, help="api-server workers (heartbeat)")
    p.add_argument(
        "--tracemalloc", action="store_true", help="also what is retained per task (sync)"
    )
    p.add_argument("--keep-profile", help="also write py-spy's collapsed stacks here (profile)")
    return p


def main() -> int:
    args = parser().parse_args()
    config = kubeconfig()
    with tempfile.TemporaryDirectory(prefix="bench-perf2-") as data:
        COMMANDS[args.command](args, config, Path(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
