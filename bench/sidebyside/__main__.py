"""Command line of the side-by-side benchmark; see the package docstring and ``--help``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.sidebyside import table
from bench.sidebyside.common import kubeconfig
from bench.sidebyside.pool import clean_leftovers, node_pool
from kaapana_executor.k8s.client import load_api_client


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_table(args: argparse.Namespace, config: str, data: Path) -> None:
    with node_pool(load_api_client(config), args.nodes, args.pods_per_node) as pool:
        options = table.Options(config, pool, args.tasks, data, args.budget)
        results = table.measure(options, args.repetitions, _say)
    print(
        f"\n{args.tasks} tasks queued at once, median of {args.repetitions}, "
        f"nproc {os.cpu_count()}\n"
    )
    print(table.render(results))


def cmd_clean(args: argparse.Namespace, config: str, data: Path) -> None:
    nodes, spaces = clean_leftovers(load_api_client(config))
    print(f"deleted {nodes} bench nodes and {spaces} bench namespaces")


COMMANDS: dict[str, Callable[[argparse.Namespace, str, Path], None]] = {
    "table": cmd_table,
    "clean": cmd_clean,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.sidebyside", description=__doc__)
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
    return p


def main() -> int:
    args = parser().parse_args()
    config = kubeconfig()
    with tempfile.TemporaryDirectory(prefix="bench-perf2-") as data:
        COMMANDS[args.command](args, config, Path(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
