"""``kaapana-task``: validate, render and print contract documents.

Exit codes: 0 valid, 1 invalid input (every problem on its own line: file, field path, reason),
2 usage. Expected failures never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kaapana_executor import datadir
from kaapana_executor.contract import documents, merge, schema
from kaapana_executor.contract.schema import Kind
from kaapana_executor.contract.templating import RunContext, Variables
from kaapana_executor.errors import ContractError, KaapanaError
from kaapana_executor.images import command as image_command
from kaapana_executor.launch import pod
from kaapana_executor.launch.identity import pod_identity
from kaapana_executor.local import command as local_command
from kaapana_executor.local.prepare import link_inputs
from kaapana_executor.models import ProcessingContainer, VolumeSource
from kaapana_executor.resources.plan import plan_memory

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _variables(pairs: Sequence[str], parser: argparse.ArgumentParser, run: RunContext) -> Variables:
    """``--var`` values: ``env.X=V`` overrides the environment, ``custom.X=V`` or ``X=V`` sets
    a custom variable, ``run.X=V`` a run-context field."""
    env = dict(os.environ)
    custom: dict[str, str] = {}
    run_fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--var expects KEY=VALUE, got {pair!r}")
        namespace, dot, name = key.partition(".")
        if dot and namespace == "env":
            env[name] = value
        elif dot and namespace == "run":
            if name not in RunContext.__dataclass_fields__ or name == "logical_date":
                parser.error(f"--var run.{name}: not a settable run field")
            run_fields[name] = int(value) if name in {"try_number", "map_index"} else value
        else:
            custom[name if dot and namespace == "custom" else key] = value
    return Variables(env=env, custom=custom, run=replace(run, **run_fields))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaapana-task", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="validate a task or processing-container file")
    validate.add_argument("file", type=Path)
    validate.add_argument("--kind", choices=[k.value for k in Kind], help="default: from content")
    validate.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")

    render = sub.add_parser("render", help="print the resolved task instance and its pod")
    render.add_argument("task", type=Path)
    render.add_argument("--processing-container", type=Path, metavar="PC.json")
    render.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    render.add_argument("--dag-id", default="kaapana-task")
    render.add_argument("--run-id", default="manual")
    render.add_argument("--task-id", default="task")
    render.add_argument("--try-number", type=int, default=1)
    render.add_argument("--map-index", type=int, default=-1)
    render.add_argument("--namespace", default="default")
    render.add_argument(
        "--data-dir",
        help="data root: binds unbound outputs and links to {data}/{run}/{task}/{channel}",
    )

    show = sub.add_parser("schema", help="print a JSON Schema")
    show.add_argument("kind", choices=[k.value for k in Kind])

    image = sub.add_parser(
        "processing-container", help="print the validated processing-container.json of an image"
    )
    image_command.add_arguments(image)

    local_run = sub.add_parser("run", help="run a task locally: docker mode or a pod (k8s)")
    local_command.add_run_arguments(local_run)
    local_logs = sub.add_parser("logs", help="print the log of an earlier run (its run record)")
    local_command.add_logs_arguments(local_logs)
    return parser


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "schema":
        sys.stdout.write(schema.schema_text(Kind(args.kind)))
        return EXIT_OK
    if args.command == "processing-container":
        return image_command.run(args)
    if args.command == "logs":
        return local_command.logs(args)
    if args.command == "run":
        local_command.complete_arguments(args)
    run = RunContext(
        dag_id=getattr(args, "dag_id", "kaapana-task"),
        run_id=getattr(args, "run_id", "manual"),
        task_id=getattr(args, "task_id", "task"),
        try_number=getattr(args, "try_number", 1),
        map_index=getattr(args, "map_index", -1),
    )
    variables = _variables(args.var, parser, run)
    if args.command == "validate":
        return _validate(args.file, Kind(args.kind) if args.kind else None, variables)
    if args.command == "run":
        return local_command.run(args, variables, parser)
    return _render(args, variables)


def _validate(path: Path, kind: Kind | None, variables: Variables) -> int:
    parsed = documents.parse(
        documents.read_text(path), path.name, kind=kind, variables=variables, lenient=True
    )
    print(f"{path.name}: valid {parsed.kind.value}")
    if parsed.unresolved:
        print(
            f"{path.name}: note: checked without values for {', '.join(parsed.unresolved)} "
            "(set them with --var to check the rendered file)",
            file=sys.stderr,
        )
    return EXIT_OK


def _render(args: argparse.Namespace, variables: Variables) -> int:
    task = documents.load_task(args.task, variables)
    pc: ProcessingContainer | None = None
    if args.processing_container:
        pc = documents.load_processing_container(args.processing_container, variables)
    template = merge.select_template(task, pc, args.task.name)
    run = variables.run
    assert run is not None
    default_output = None
    if args.data_dir:

        def default_output(channel: str) -> VolumeSource:
            path = datadir.channel_dir(
                args.data_dir, run.dag_id, run.run_id, run.task_id, channel, run.map_index
            )
            return VolumeSource(host_path=str(path))

        task = link_inputs(task, Path(args.data_dir), run)
    instance = merge.merge(task, template, args.task.name, default_output=default_output)
    instance, scale_results = plan_memory(instance)
    identity = pod_identity(run, instance.template)
    built = pod.build_pod(instance, identity, pod.PodSettings(namespace=args.namespace))
    out = {
        "task_instance": instance.model_dump(mode="json", exclude_none=True),
        "scale_rules": [r.model_dump() for r in scale_results],
        "pod": pod.to_dict(built),
    }
    print(json.dumps(out, indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kaapana-task`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(args, parser)
    except ContractError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_INVALID
    except KaapanaError as exc:
        print(f"kaapana-task: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
