"""``scripts/cluster``: a local Kubernetes control plane (KWOK nodes and one real node), two
OCI registries, for tests and the demo.

    scripts/cluster up [--owner TOKEN]     build what is missing, start what is not running
    scripts/cluster down [--owner TOKEN] [--purge]
    scripts/cluster status                 what runs, with pids and memory
    scripts/cluster env [--json]           exports for a shell: eval "$(scripts/cluster env)"

``--owner`` (default ``$KAAPANA_CLUSTER_OWNER``): ``up`` records TOKEN on what it starts,
and ``down --owner TOKEN`` stops only those; so ``scripts/test`` never tears down a cluster
a developer already had running. A plain ``up`` takes over what it finds running.
See docs/local-cluster.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import daemons
import kwok_cluster
import real_node
import real_node_policy
import registries
from real_node_config import Layout
from real_node_host import missing_host_parts
from settings import CONFIG_DIR, REPO, Settings, SettingsError

KWOK = "kwok"
LOG_AGENT = "log-agent"


def _log_agent(settings: Settings) -> daemons.Daemon:
    return daemons.Daemon(
        name=LOG_AGENT,
        argv=(
            sys.executable,
            str(CONFIG_DIR / "log_agent.py"),
            "--kubeconfig",
            settings.kubeconfig,
            "--logs-dir",
            str(settings.pod_logs_dir),
        ),
        run_dir=settings.run_dir,
    )


def _agent_code_digest() -> str:
    """Digest of the log agent's code (and the annotation names it imports)."""
    digest = hashlib.sha256()
    for path in (CONFIG_DIR / "log_agent.py", REPO / "tests" / "support" / "kwok.py"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _kwok_owner_file(settings: Settings) -> Path:
    return settings.run_dir / f"{KWOK}.owner"


def _host_parts(settings: Settings, allowed: bool) -> None:
    """The real node's parts from Debian (runc, CNI plugins): installed when allowed."""
    if settings.real_node_name is None or not missing_host_parts():
        return
    if allowed and os.geteuid() == 0:
        subprocess.run([str(REPO / "scripts" / "install-podman")], check=True)
    missing = missing_host_parts()
    if missing:
        raise RuntimeError(
            f"the real node needs: {'; '.join(missing)} (scripts/install-podman installs the "
            "Debian packages; KAAPANA_NO_REAL_NODE=1 runs without the real node)"
        )


def _build(settings: Settings, allowed: bool) -> None:
    """Run ``scripts/build-bins``: a no-op when every versioned build exists.

    With ``allowed`` False (the pytest fixtures) a missing tool is an error instead of a
    silent half-hour build inside a test session.
    """
    _host_parts(settings, allowed)
    missing = settings.missing_binaries()
    if not allowed:
        if missing:
            raise RuntimeError(
                f"not built yet: {', '.join(missing)}; run `scripts/cluster up` once "
                "(builds them, about 15 min cold)"
            )
        return
    if missing:
        print(
            f"build: {', '.join(missing)} missing; running scripts/build-bins (cold: about 10 min)"
        )
    env = dict(os.environ, KAAPANA_EXECUTOR_CACHE=str(settings.cache_dir))
    subprocess.run([str(REPO / "scripts" / "build-bins")], env=env, check=True)


def _mark(owner_file: Path, started: bool, owner: str | None) -> None:
    """Record the owner of what this call started.

    A plain ``up`` (no owner) adopts whatever it finds or starts: from then on only a plain
    ``down`` stops it, not the ``down --owner`` of a test run that happened to start it.
    """
    if owner is None:
        owner_file.unlink(missing_ok=True)
    elif started:
        daemons.claim(owner_file, owner)


def _ensure_log_agent(settings: Settings, new_cluster: bool) -> bool:
    """Run the log agent, restarting it for a new cluster (new certificates) or new code."""
    agent = _log_agent(settings)
    code = _agent_code_digest()
    code_file = settings.run_dir / f"{LOG_AGENT}.code"
    if new_cluster or not code_file.exists() or code_file.read_text() != code:
        agent.stop()
    if agent.running():
        return False
    agent.start()
    code_file.write_text(code)
    return True


def _ensure_real_node(settings: Settings, owner: str | None, fresh_cluster: bool) -> list[str]:
    """The real node and the admission policy that sends opted-in pods there."""
    if settings.real_node_name is None:
        return []
    api = kwok_cluster.api_client(settings)
    try:
        real_node_policy.ensure(api)
        fresh = real_node.ensure(Layout(settings), api, fresh_cluster)
    finally:
        api.close()  # type: ignore[no-untyped-call, unused-ignore]
    _mark(settings.run_dir / f"{real_node.COMPONENT}.owner", fresh, owner)
    return [real_node.COMPONENT] if fresh else []


def _ensure_kwok(settings: Settings, owner: str | None) -> list[str]:
    """Cluster, default nodes, log agent, real node; the names of what was started."""
    started: list[str] = []
    fresh = kwok_cluster.ensure(settings)
    _mark(_kwok_owner_file(settings), fresh, owner)
    if fresh:
        started.append(KWOK)
    api = kwok_cluster.api_client(settings)
    nodes = kwok_cluster.default_nodes()
    kwok_cluster.apply_nodes(api, nodes)
    agent_fresh = _ensure_log_agent(settings, new_cluster=fresh)
    _mark(_log_agent(settings).owner_file, agent_fresh, owner)
    if agent_fresh:
        started.append(LOG_AGENT)
    kwok_cluster.wait_nodes_ready(api, [node["metadata"]["name"] for node in nodes])
    return started + _ensure_real_node(settings, owner, fresh_cluster=fresh)


def up(settings: Settings, owner: str | None, build: bool = True) -> int:
    """Build what is missing and start what is not running; fast when all runs."""
    began = time.monotonic()
    _build(settings, build)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    registries.ensure_credentials(settings)
    started: list[str] = []
    for registry in registries.registries(settings):
        fresh = registries.ensure(settings, registry)
        _mark(registries.daemon(settings, registry).owner_file, fresh, owner)
        if fresh:
            started.append(registry.name)
    if settings.existing_kubeconfig is not None:
        print(f"cluster: using the existing cluster of KUBECONFIG={settings.kubeconfig}")
    else:
        started += _ensure_kwok(settings, owner)
    elapsed = time.monotonic() - began
    what = f"started {', '.join(started)}" if started else "everything was already running"
    print(f"cluster: up in {elapsed:.1f}s ({what})")
    print('cluster: eval "$(scripts/cluster env)" to use it from a shell')
    return 0


@dataclass(frozen=True)
class _Component:
    """What ``down`` needs of one component: who owns it, how to stop it, is it there."""

    name: str
    owner_file: Path
    stop: Callable[[], bool]
    present: Callable[[], bool]


def _real_node_component(settings: Settings) -> _Component:
    layout = Layout(settings)

    def stop() -> bool:
        api = kwok_cluster.api_client(settings) if kwok_cluster.exists(settings) else None
        try:
            return real_node.stop(layout, api)
        finally:
            if api is not None:
                api.close()  # type: ignore[no-untyped-call, unused-ignore]

    return _Component(
        real_node.COMPONENT,
        settings.run_dir / f"{real_node.COMPONENT}.owner",
        stop,
        lambda: (
            real_node.containerd_daemon(layout).running()
            or real_node.kubelet_daemon(layout).running()
        ),
    )


def _components(settings: Settings) -> list[_Component]:
    """In the order ``down`` stops them: the real node before the cluster it is part of."""
    agent = _log_agent(settings)
    found = [_Component(LOG_AGENT, agent.owner_file, agent.stop, agent.running)]
    if settings.real_node_name is not None:
        found.insert(0, _real_node_component(settings))
    if settings.existing_kubeconfig is None:
        found.append(
            _Component(
                KWOK,
                _kwok_owner_file(settings),
                lambda: kwok_cluster.delete(settings),
                lambda: kwok_cluster.exists(settings),
            )
        )
    for registry in registries.registries(settings):
        process = registries.daemon(settings, registry)
        found.append(_Component(registry.name, process.owner_file, process.stop, process.running))
    return found


def down(settings: Settings, owner: str | None, purge: bool) -> int:
    """Stop what ``owner`` started (everything without an owner); delete the KWOK cluster."""
    stopped: list[str] = []
    left: list[str] = []
    for component in _components(settings):
        if daemons.owned_by(component.owner_file, owner):
            if component.stop():
                stopped.append(component.name)
            component.owner_file.unlink(missing_ok=True)
        elif component.present():
            left.append(component.name)
    print(f"cluster: stopped {', '.join(stopped) or 'nothing'}")
    if left:
        print(f"cluster: left running, not started by {owner}: {', '.join(left)}")
    elif purge:
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        print(f"cluster: removed {settings.state_dir}")
    return 0


def _real_node_rows(settings: Settings) -> list[tuple[str, str, int | None]]:
    if settings.real_node_name is None:
        return []
    api = kwok_cluster.api_client(settings) if kwok_cluster.apiserver_ready(settings) else None
    try:
        return real_node.status_rows(Layout(settings), api)
    finally:
        if api is not None:
            api.close()  # type: ignore[no-untyped-call, unused-ignore]


def status(settings: Settings) -> int:
    """Print each component with its pid and resident memory; 0 if everything runs."""
    rows: list[tuple[str, str, int | None]] = []
    for registry in registries.registries(settings):
        pid = registries.daemon(settings, registry).pid()
        up_ = pid is not None and registries.responds(registry.address)
        rows.append((f"{registry.name} ({registry.address})", "up" if up_ else "down", pid))
    if settings.existing_kubeconfig is None:
        states = kwok_cluster.components(settings)
        pids = kwok_cluster.pids(settings)
        for name in sorted(states) or ["kwok cluster"]:
            rows.append((name, states.get(name, "absent"), pids.get(name)))
        agent_pid = _log_agent(settings).pid()
        rows.append((LOG_AGENT, "up" if agent_pid else "down", agent_pid))
        rows += _real_node_rows(settings)
    total = 0
    for name, state, pid in rows:
        rss = daemons.rss_kib(pid) if pid else 0
        total += rss
        print(f"{name:40} {state:8} pid={pid or '-':<8} rss={rss / 1024:7.1f} MiB")
    print(f"{'total':40} {'':8} {'':12} rss={total / 1024:7.1f} MiB")
    healthy = all(state in ("up", "Ready") for _, state, _ in rows)
    return 0 if healthy else 1


def environment(settings: Settings) -> dict[str, str]:
    """The variables tests and the demo read (``KAAPANA_*``, ``KUBECONFIG``)."""
    credentials = registries.load_credentials(settings) or registries.ensure_credentials(settings)
    return {
        "KUBECONFIG": settings.kubeconfig,
        "KAAPANA_REGISTRY": settings.registry_address,
        "KAAPANA_REGISTRY_AUTH": settings.registry_auth_address,
        "KAAPANA_REGISTRY_USER": credentials.user,
        "KAAPANA_REGISTRY_PASSWORD": credentials.password,
        "KAAPANA_EXISTING_CLUSTER": "1" if settings.existing_kubeconfig is not None else "0",
        "KAAPANA_EXECUTOR_STATE": str(settings.state_dir),
        "KAAPANA_BIN_DIR": str(settings.bin_dir),
        # The real node's name ("" without one); pods reach it from namespaces labelled
        # KAAPANA_REAL_NODE_NAMESPACE_LABEL=true (scripts/cluster.d/real_node_policy.py).
        "KAAPANA_REAL_NODE": settings.real_node_name or "",
        "KAAPANA_REAL_NODE_NAMESPACE_LABEL": real_node_policy.NAMESPACE_LABEL,
    }


def env(settings: Settings, as_json: bool) -> int:
    values = environment(settings)
    if as_json:
        print(json.dumps(values, indent=2))
        return 0
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    # kubectl and helm of the same builds, for the demo and for poking around.
    print(f'export PATH={shlex.quote(str(settings.bin_dir))}:"$PATH"')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/cluster", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start what is not running (idempotent)")
    owner = os.environ.get("KAAPANA_CLUSTER_OWNER") or None
    up_parser.add_argument(
        "--owner",
        default=owner,
        help="record TOKEN on what this call starts (default: $KAAPANA_CLUSTER_OWNER)",
    )
    up_parser.add_argument(
        "--no-build", action="store_true", help="fail instead of building missing tools"
    )
    down_parser = commands.add_parser("down", help="stop (and delete the KWOK cluster)")
    down_parser.add_argument(
        "--owner",
        default=owner,
        help="stop only what `up --owner TOKEN` started (default: $KAAPANA_CLUSTER_OWNER)",
    )
    down_parser.add_argument("--purge", action="store_true", help="also remove all state")
    commands.add_parser("status", help="what runs, pids, memory")
    env_parser = commands.add_parser("env", help="shell exports (or --json)")
    env_parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"scripts/cluster: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            return up(settings, args.owner, build=not args.no_build)
        if args.command == "down":
            return down(settings, args.owner, args.purge)
        if args.command == "status":
            return status(settings)
        return env(settings, args.json)
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"scripts/cluster {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
