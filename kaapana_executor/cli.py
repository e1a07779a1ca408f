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

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents, schema
from kaapana_executor.contract.schema import Kind
from kaapana_executor.contract.templating import RunContext, Variables
from kaapana_executor.errors import ContractError, KaapanaError
from kaapana_executor.images import command as image_command
from kaapana_executor.launch.pod import to_dict
from kaapana_executor.local import command as local_command
from kaapana_executor.local.prepare import add_conf_argument, prepare, read_conf
from kaapana_executor.models import ProcessingContainer

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
        default=ExecutorSettings().data_root,
        help="data root: binds unbound outputs and links to {data}/{dag}/{run}/{task}/{channel} "
        "(default: the executor's default data_root, %(default)s)",
    )
    add_conf_argument(render)

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
        print(schema.schema_text(Kind(args.kind)).rstrip("\n"))
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
    path: Path | None = args.processing_container

    def images(image: str, _access: object) -> ProcessingContainer:
        if path is None:
            raise KaapanaError(
                f"the task names a template of {image}: give its processing-container.json "
                "with --processing-container"
            )
        return documents.load_processing_container(path, variables)

    prepared = prepare(
        args.task,
        variables,
        Path(args.data_dir),
        images,
        namespace=args.namespace,
        ti_id="rendered",
        conf=read_conf(args.conf),
    )
    out = {
        "task_instance": prepared.instance.model_dump(mode="json", exclude_none=True),
        "scale_rules": [r.model_dump() for r in prepared.scale],
        "pod": to_dict(prepared.pod),
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
