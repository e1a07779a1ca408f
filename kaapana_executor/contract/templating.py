"""Jinja templating of contract files, as Kaapana does it, but sandboxed and strict.

Kaapana renders the whole file text with ``env`` (the process environment) and ``custom``
(caller variables) before parsing JSON. We keep that, add the Airflow run context as ``run``,
and use a sandbox (templates cannot reach Python internals) with strict undefined handling:
an unknown variable is an error that names it and its line. ``validate`` renders leniently
instead, so a file can be checked before the values it needs exist; it reports which variables
it could not check.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from kaapana_executor.errors import ContractError


@dataclass(frozen=True)
class RunContext:
    """Where a task runs in Airflow; available to templates as ``run.<field>``."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int = 1
    map_index: int = -1
    logical_date: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """Template-friendly values (dates as ISO strings)."""
        values = asdict(self)
        if self.logical_date is not None:
            values["logical_date"] = self.logical_date.isoformat()
        return values


class Namespace(Mapping[str, Any]):
    """A named read-only mapping, so undefined lookups can say ``env.X`` instead of a type."""

    def __init__(self, label: str, values: Mapping[str, Any]) -> None:
        self.label = label
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _undefined_name(undefined: jinja2.Undefined) -> str:
    obj = undefined._undefined_obj
    name = undefined._undefined_name
    if isinstance(obj, Namespace):
        return f"{obj.label}.{name}"
    return str(name)


class _StrictUndefined(jinja2.StrictUndefined):
    """Strict undefined whose message names the variable with its namespace."""

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise jinja2.UndefinedError(f"undefined variable {_undefined_name(self)!r}")

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = (
        _fail_with_undefined_error
    )
    __getattr__ = __getitem__ = _fail_with_undefined_error


@dataclass
class Variables:
    """Everything a template may refer to."""

    # Empty unless the caller says what templates may see: the executor passes its
    # ``template_env`` option, never the scheduler's environment (which holds its secrets);
    # the CLI passes the invoking user's own environment.
    env: Mapping[str, str] = field(default_factory=dict)
    custom: Mapping[str, Any] = field(default_factory=dict)
    run: RunContext | None = None

    def context(self) -> dict[str, Any]:
        """The Jinja globals."""
        ctx: dict[str, Any] = {
            "env": Namespace("env", self.env),
            "custom": Namespace("custom", self.custom),
        }
        if self.run is not None:
            ctx["run"] = Namespace("run", self.run.as_dict())
        return ctx


def _template_line(tb: TracebackType | None) -> int | None:
    """The line of the template being rendered when an error was raised (Jinja maps it)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


#: The one strict sandbox every render uses: a Jinja environment is meant to be shared, and
#: its compiled templates render from many threads at once.
_STRICT = SandboxedEnvironment(
    undefined=_StrictUndefined, autoescape=False, keep_trailing_newline=True
)


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> jinja2.Template:
    """``text`` compiled once: every try of a task renders the same task.json (and every task
    of a template the same processing-container.json); compiling was most of a render. A
    syntax error is not cached (it is raised again for the next task)."""
    return _STRICT.from_string(text)


def render(text: str, source: str, variables: Variables) -> str:
    """Render ``text`` strictly; any template error becomes a ContractError naming the line."""
    try:
        return _compiled(text).render(variables.context())
    except jinja2.TemplateSyntaxError as exc:
        raise ContractError.single(
            source, f"template syntax error at line {exc.lineno}: {exc}"
        ) from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc.__traceback__)
        where = f" at line {line}" if line else ""
        raise ContractError.single(source, f"template error{where}: {exc}") from None


class _RecordingUndefined(jinja2.ChainableUndefined):
    """Lenient undefined that renders as an empty string and records what was missing."""

    missing: set[str]

    def __str__(self) -> str:
        type(self).missing.add(_undefined_name(self))
        return ""


def render_lenient(text: str, source: str, variables: Variables) -> tuple[str, list[str]]:
    """Render with unknown variables as empty strings; returns the text and their names.

    Used by ``validate`` so that a file can be checked structurally before its variables are
    known. Syntax errors are still errors.
    """
    undefined: type[_RecordingUndefined] = type(
        "_Undefined", (_RecordingUndefined,), {"missing": set()}
    )
    env = SandboxedEnvironment(undefined=undefined, autoescape=False, keep_trailing_newline=True)
    try:
        rendered = env.from_string(text).render(variables.context())
    except jinja2.TemplateSyntaxError as exc:
        raise ContractError.single(
            source, f"template syntax error at line {exc.lineno}: {exc}"
        ) from None
    except jinja2.TemplateError as exc:
        raise ContractError.single(source, f"template error: {exc}") from None
    return rendered, sorted(undefined.missing)
