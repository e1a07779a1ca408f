"""Errors a user can act on: every rejection names the source, the field path and the reason.

One small hierarchy for the whole package, so that the CLI and the executor can turn any
expected failure into one readable line (and never a traceback), while programming errors still
surface as ordinary exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathPart = str | int


def format_path(path: Sequence[PathPart]) -> str:
    """Render a JSON path the way users read it: ``inputs[0].volume_source``.

    A key that is not a plain identifier (a label such as ``app.kubernetes.io/name``) is
    quoted in brackets, so the path stays unambiguous: ``config.labels["app.kubernetes.io/name"]``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isidentifier():
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Problem:
    """One reason a document is rejected, located by a JSON path inside it."""

    path: tuple[PathPart, ...]
    reason: str

    def render(self, source: str) -> str:
        """``source: path: reason``; the path is left out for whole-document problems."""
        where = format_path(self.path)
        return f"{source}: {where}: {self.reason}" if where else f"{source}: {self.reason}"


class KaapanaError(Exception):
    """Base class of every error this package raises on purpose."""


class ContractError(KaapanaError):
    """A task.json, processing-container.json or user input was rejected.

    Carries every problem found, so a user fixes all of them in one round.
    """

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("a ContractError needs at least one problem")
        super().__init__(self.render())

    @classmethod
    def single(cls, source: str, reason: str, path: Sequence[PathPart] = ()) -> ContractError:
        """Shorthand for an error with exactly one problem."""
        return cls(source, [Problem(tuple(path), reason)])

    def lines(self) -> list[str]:
        """One line per problem, each naming the source."""
        return [p.render(self.source) for p in self.problems]

    def render(self) -> str:
        """All problems, one per line."""
        return "\n".join(self.lines())
