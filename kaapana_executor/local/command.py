"""``kaapana-task run`` and ``kaapana-task logs``: arguments, and the steps of a local run.

The CLI module holds only the parser lines and the dispatch; this module wires the pieces
(``docker`` is imported only in docker mode: it is an optional dependency):
:mod:`.prepare` (task.json → pod), :mod:`.channels` (inputs exist, outputs emptied),
:mod:`.docker_spec` + :mod:`.docker_runner` or :mod:`.k8s_runner`, :mod:`.record` and
:mod:`.report`. Container output goes to stdout, our own lines to stderr, so a log can be
piped as it is.
"""

from __future__ import annotations

import argparse
import enum
import importlib.util
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config

from kaapana_executor import quantity
from kaapana_executor.contract import documents
from kaapana_executor.contract.instance import TaskInstance
from kaapana_executor.contract.templating import Variables
from kaapana_executor.errors import KaapanaError
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.local import channels, k8s_runner, record, report
from kaapana_executor.local.docker_spec import container_spec
from kaapana_executor.local.monitor import Measurement
from kaapana_executor.local.prepare import (
    Prepared,
    ProcessingContainerSource,
    add_conf_argument,
    local_run_id,
    prepare,
    read_conf,
)
from kaapana_executor.models import ProcessingContainer

EXIT_INTERRUPTED = 130


class Mode(str, enum.Enum):
    DOCKER = "docker"
    K8S = "k8s"


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kaapana-task run`` (called by ``kaapana_executor.cli``)."""
    parser.add_argument("task", type=Path, metavar="TASK.json")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.DOCKER.value)
    parser.add_argument(
        "--watch",
        action="store_true",
        help="stream the log and exit with the container's exit code (default: start and return)",
    )
    parser.add_argument(
        "--monitor-container",
        action="store_true",
        help="docker mode: report peak memory against the ScaleRules (implies --watch)",
    )
    parser.add_argument(
        "--processing-container",
        type=Path,
        metavar="PC.json",
        help="use this file instead of the image's processing-container.json",
    )
    parser.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    add_conf_argument(parser)
    parser.add_argument("--dag-id", default="kaapana-task")
    parser.add_argument("--run-id", default=local_run_id(), help="default: a fresh local-... id")
    parser.add_argument("--task-id", help="default: the task file's name without .json")
    parser.add_argument("--try-number", type=int, default=1)
    parser.add_argument("--map-index", type=int, default=-1)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("kaapana-data"),
        help="unbound outputs go to DATA/RUN/TASK/CHANNEL (default: ./kaapana-data)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        help=f"the run record (default: <runs>/<name>.json; runs: ${record.RUNS_DIR_ENV}, "
        "else $XDG_STATE_HOME/kaapana-task/runs, i.e. ~/.local/state/kaapana-task/runs)",
    )
    parser.add_argument("--namespace", help="k8s (default: the task's config.namespace, default)")
    parser.add_argument("--kubeconfig", help="k8s (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument(
        "--start-timeout", type=float, default=300.0, help="k8s: seconds a pod may stay pending"
    )


def add_logs_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kaapana-task logs``."""
    parser.add_argument(
        "record",
        type=record.find,
        metavar="RUN_RECORD",
        help="a record file, or a run's name (looked up in the runs directory)",
    )
    parser.add_argument("--follow", action="store_true", help="until the container exits")


def complete_arguments(args: argparse.Namespace) -> None:
    """Defaults that depend on other arguments (before the run context is built)."""
    if args.task_id is None:
        args.task_id = args.task.name.removesuffix(".json") or "task"


def _require_docker() -> None:
    """A readable error instead of an ImportError when the optional package is missing."""
    if importlib.util.find_spec("docker") is None:
        raise KaapanaError(
            "docker mode needs the docker package: pip install 'kaapana-executor[docker]'"
        )


def _note(line: str) -> None:
    print(f"kaapana-task: {line}", file=sys.stderr, flush=True)


def _stdout(chunk: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(chunk.decode("utf-8", "replace"))
    else:
        buffer.write(chunk)
        buffer.flush()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def memory_limit(instance: TaskInstance) -> int | None:
    """The final memory limit in bytes, or None when there is none."""
    limits = instance.resources.limits or {}
    return quantity.whole(limits["memory"]) if "memory" in limits else None


def _images(
    args: argparse.Namespace, variables: Variables, mode: Mode
) -> ProcessingContainerSource:
    """Where the processing-container.json comes from: read only if the task names a template
    by identifier (an inline template needs no image and no daemon)."""
    if args.processing_container is not None:
        path: Path = args.processing_container
        return lambda _image, _access: documents.load_processing_container(path, variables)
    if mode is Mode.DOCKER:
        _require_docker()
        from kaapana_executor.images.docker_mode import DockerImageMetadata
        from kaapana_executor.local import docker_runner

        docker = DockerImageMetadata(connect=docker_runner.connect)
        return lambda image, _access: docker.get(image)

    def from_registry(image: str, _access: object) -> ProcessingContainer:
        from kaapana_executor.images import DockerConfigFile, ImageMetadata
        from kaapana_executor.paths import image_cache_dir

        source = ImageMetadata(image_cache_dir(), DockerConfigFile())
        try:
            return source.get(image)
        finally:
            source.close()

    return from_registry


def _first_record(prepared: Prepared, target: record.Target) -> record.RunRecord:
    return record.RunRecord(
        target=target,
        image=prepared.instance.image,
        task_instance=prepared.instance,
        scale_rules=list(prepared.scale),
        started_at=_now(),
        memory_limit_bytes=memory_limit(prepared.instance),
    )


def run(args: argparse.Namespace, variables: Variables, parser: argparse.ArgumentParser) -> int:
    """``kaapana-task run``: the container's exit code with ``--watch``, else 0 once started."""
    mode = Mode(args.mode)
    if args.monitor_container and mode is Mode.K8S:
        parser.error("--monitor-container needs --mode docker (in k8s the cgroup is on the node)")
    prepared = prepare(
        args.task,
        variables,
        args.data_dir.resolve(),
        _images(args, variables, mode),
        namespace=args.namespace,
        conf=read_conf(args.conf),
    )
    path = args.record or record.runs_dir() / f"{prepared.name}.json"
    watch = args.watch or args.monitor_container
    try:
        if mode is Mode.DOCKER:
            return _run_docker(prepared, path, watch, args.monitor_container)
        return _run_k8s(prepared, path, watch, args)
    except KeyboardInterrupt:
        if path.exists():  # started: the container or pod goes on without us
            _note(f"interrupted; it keeps running: kaapana-task logs {path} --follow")
        return EXIT_INTERRUPTED


def _finish(
    path: Path, started: record.RunRecord, termination: report.Termination, **more: Any
) -> int:
    finished = started.model_copy(
        update={
            "finished_at": _now(),
            "exit_code": termination.exit_code,
            "reason": termination.reason.value,
            **more,
        }
    )
    record.save(finished, path)
    _note(f"{termination.describe()}; run record {path}")
    return termination.exit_code


def _run_docker(prepared: Prepared, path: Path, watch: bool, monitor_container: bool) -> int:
    _require_docker()
    from kaapana_executor.local import docker_runner

    spec = container_spec(prepared.pod)
    for item in spec.ignored:
        _note(f"not applied in docker mode: {item}")
    channels.check_inputs(prepared.instance)
    channels.prepare_outputs(prepared.instance, protected=[Path.home(), Path.cwd()])
    api = docker_runner.connect()
    try:
        runner = docker_runner.DockerRunner(api, _note)
        container = runner.start(spec)
        target = record.DockerTarget(
            container_id=str(container.id),
            container_name=spec.name,
            docker_host=os.environ.get("DOCKER_HOST"),
        )
        started = _first_record(prepared, target)
        record.save(started, path)
        _note(f"started container {spec.name} ({target.container_id[:12]})")
        if not watch:
            _note(f"follow it: kaapana-task logs {path} --follow")
            return 0
        finished = runner.watch(container, _stdout, spec.mem_limit)
    finally:
        api.close()
    measured = finished.measurement
    if monitor_container:
        _print_memory(prepared, measured, spec.mem_limit)
    return _finish(
        path,
        started,
        finished.termination,
        peak_memory_bytes=measured.peak_bytes if measured else None,
        peak_memory_source=measured.source if measured else None,
    )


def _print_memory(prepared: Prepared, measured: Measurement | None, limit: int | None) -> None:
    rules = {c.name: c.scale_rule for c in prepared.instance.inputs if c.scale_rule}
    lines, warnings = report.memory_report(
        measured, limit, channels.input_sizes(prepared.instance), prepared.scale, rules
    )
    for line in lines:
        _note(line)
    for warning in warnings:
        _note(f"warning: {warning}")


def _gateway(kubeconfig: str | None) -> KubeGateway:
    try:
        return KubeGateway(load_api_client(kubeconfig))
    except (kube_config.ConfigException, OSError) as exc:
        raise KaapanaError(f"cannot load the Kubernetes configuration: {exc}") from None


def _run_k8s(prepared: Prepared, path: Path, watch: bool, args: argparse.Namespace) -> int:
    # The output directories are prepared here, as the executor prepares them: right for a
    # local cluster, whose node is this machine (docs/local-runs.md says what a remote one needs).
    protected = [Path.home(), Path.cwd()]
    channels.prepare_outputs(prepared.instance, protected, host_paths_only=True)
    gateway = _gateway(args.kubeconfig)
    name, namespace = prepared.name, str(prepared.pod.metadata.namespace)
    timing = k8s_runner.Timing(start_timeout=args.start_timeout)
    runner = k8s_runner.PodRunner(gateway, _note, timing)
    runner.start(prepared.pod)
    target = record.PodTarget(pod_name=name, namespace=namespace, kubeconfig=args.kubeconfig)
    started = _first_record(prepared, target)
    record.save(started, path)
    _note(f"created pod {namespace}/{name}")
    if not watch:
        _note(f"follow it: kaapana-task logs {path} --follow")
        return 0
    return _finish(path, started, runner.watch(name, namespace, _stdout))


def logs(args: argparse.Namespace) -> int:
    """``kaapana-task logs``: the run's log on stdout, its state on stderr."""
    found = record.load(args.record)
    target = found.target
    if isinstance(target, record.DockerTarget):
        _require_docker()
        from kaapana_executor.local import docker_runner

        api = docker_runner.connect(target.docker_host)
        try:
            state = docker_runner.stream_logs(api, target.container_id, _stdout, args.follow)
        finally:
            api.close()
        _note(f"container {target.container_name}: {state}")
        return 0
    gateway = _gateway(target.kubeconfig)
    state = k8s_runner.stream_logs(gateway, target.pod_name, target.namespace, _stdout, args.follow)
    _note(f"pod {target.namespace}/{target.pod_name}: {state}")
    return 0
