"""The one place that says how a simulated pod behaves on the local KWOK cluster.

KWOK has no container runtime: the KWOK controller moves each pod through its phases by
applying *stages* (``scripts/cluster.d/stages.yaml``). Our pod stages read the annotations
below, so a test or the demo says in the pod itself what its "container" does. Every
annotation is optional; a pod without any of them starts after ``DEFAULT_START_DELAY``,
runs for ``DEFAULT_RUN_DURATION`` and exits 0 (reason ``Completed``).

The stages implement this lifecycle, for every container of the pod alike:

1. scheduled by the real kube-scheduler → ``Pending`` with ``ContainerCreating``
   (``hostIP``, ``podIP`` and ``startTime`` set);
2. after ``START_DELAY``: either ``Running`` (all containers running, ``Ready=True``), or,
   with ``IMAGE_PULL_ERROR``, the pod stays ``Pending`` for good with every container
   ``waiting`` for that reason (plus a ``Failed`` warning event);
3. after ``RUN_DURATION``: ``Succeeded`` when the exit code is 0, else ``Failed``; each
   container ``terminated`` with ``EXIT_CODE`` and ``TERMINATION_REASON``. With
   ``NEVER_FINISH`` the pod stays ``Running``;
4. a pod with a ``deletionTimestamp`` (and no finalizers) is removed at once, whatever its
   phase: there is no grace period to sit out.

Not simulated: container restarts (``restartPolicy`` is ignored), probes, per-container
behaviour, resource usage.

Logs: a pod's containers print the lines of ``LOG_LINES``. A small agent started by
``scripts/cluster up`` (``scripts/cluster.d/log_agent.py``) writes them, in CRI log format,
to a file under the state directory as soon as the pod is bound to a node, and attaches
that file to the pod with a KWOK ``Logs`` object; the API server then serves it through
``read_namespaced_pod_log`` (``tail_lines``, ``since_seconds``, ``timestamps``, ``follow``).
So a pod seen ``Running`` has its log (with ``START_DELAY`` near 0 allow a few ms).
Differences from a kubelet: a pod still starting already shows its lines; KWOK cannot
tell when a container stopped, so a ``follow`` stream never ends by itself: read the lines
you expect, or set ``_request_timeout``, then close it. A pod with ``IMAGE_PULL_ERROR``
never gets a log: the API answers 400, as for a real container that is still waiting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import Enum
from typing import Final

PREFIX: Final = "kwok.kaapana.io/"

START_DELAY: Final = PREFIX + "start-delay"
"""Go duration (``"500ms"``, ``"3s"``) from scheduling to ``Running`` (or to the image-pull
error)."""

RUN_DURATION: Final = PREFIX + "run-duration"
"""Go duration the containers run before they terminate."""

EXIT_CODE: Final = PREFIX + "exit-code"
"""Exit code of every container, a decimal string; 0 gives ``Succeeded``, anything else
``Failed``. Defaults to 137 when the reason is ``OOMKilled``, else 0."""

TERMINATION_REASON: Final = PREFIX + "termination-reason"
"""``state.terminated.reason`` of every container. Defaults to ``Completed`` for exit code 0,
else ``Error``."""

NEVER_FINISH: Final = PREFIX + "never-finish"
"""``"true"``: the pod stays ``Running`` until it is deleted."""

IMAGE_PULL_ERROR: Final = PREFIX + "image-pull-error"
"""A waiting reason (``ErrImagePull``, ``ImagePullBackOff``): the pod never starts and stays
``Pending`` with every container waiting for that reason."""

LOG_LINES: Final = PREFIX + "log-lines"
"""JSON list of strings: what every container of the pod prints to stdout."""

ALL_ANNOTATIONS: Final = (
    START_DELAY,
    RUN_DURATION,
    EXIT_CODE,
    TERMINATION_REASON,
    NEVER_FINISH,
    IMAGE_PULL_ERROR,
    LOG_LINES,
)

DEFAULT_START_DELAY: Final = "500ms"
"""What ``stages.yaml`` uses without ``START_DELAY`` (kept equal by a test)."""

DEFAULT_RUN_DURATION: Final = "1s"
"""What ``stages.yaml`` uses without ``RUN_DURATION`` (kept equal by a test)."""

OOM_EXIT_CODE: Final = 137
"""128 + SIGKILL: what a kubelet reports for a container killed by the OOM killer."""


class TerminationReason(str, Enum):
    """Termination reasons a kubelet reports and the executor has to tell apart."""

    COMPLETED = "Completed"
    ERROR = "Error"
    OOM_KILLED = "OOMKilled"


class ImagePullError(str, Enum):
    """Waiting reasons of a container whose image cannot be pulled."""

    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"


# Go's time.ParseDuration accepts a sequence of decimal numbers with units.
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def go_duration(value: str | float) -> str:
    """Return ``value`` as a Go duration string; a number means seconds.

    KWOK parses delays with Go's ``time.ParseDuration``; a malformed value would silently
    fall back to the default, so it is rejected here instead.
    """
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return f"{round(value * 1000)}ms"
    if not _GO_DURATION.match(value):
        raise ValueError(f"not a Go duration (like '500ms', '2s', '1m30s'): {value!r}")
    return value


def lifecycle(
    *,
    start_delay: str | float | None = None,
    run: str | float | None = None,
    exit_code: int | None = None,
    reason: TerminationReason | str | None = None,
    never_finish: bool = False,
    image_pull_error: ImagePullError | str | None = None,
    log_lines: Sequence[str] | None = None,
) -> dict[str, str]:
    """Build the pod annotations that make the simulated containers behave as described.

    ``start_delay`` and ``run`` are Go durations or seconds; ``exit_code`` 0-255; ``reason``
    overrides the termination reason (``OOMKilled`` implies exit code 137); ``never_finish``
    keeps the pod ``Running``; ``image_pull_error`` keeps it ``Pending``; ``log_lines`` is
    what the containers print. Only the given settings are returned, so the stage defaults
    apply to the rest. Contradictory settings raise ``ValueError``.
    """
    annotations: dict[str, str] = {}
    if start_delay is not None:
        annotations[START_DELAY] = go_duration(start_delay)
    if run is not None:
        annotations[RUN_DURATION] = go_duration(run)
    reason_text = reason.value if isinstance(reason, TerminationReason) else reason
    if exit_code is None and reason_text == TerminationReason.OOM_KILLED.value:
        exit_code = OOM_EXIT_CODE
    if exit_code is not None:
        if not 0 <= exit_code <= 255:
            raise ValueError(f"exit code must be within 0..255: {exit_code}")
        annotations[EXIT_CODE] = str(exit_code)
    if reason_text is not None:
        annotations[TERMINATION_REASON] = reason_text
    if never_finish:
        if run is not None or exit_code is not None or reason_text is not None:
            raise ValueError("never_finish contradicts run, exit_code and reason")
        annotations[NEVER_FINISH] = "true"
    if image_pull_error is not None:
        pull = (
            image_pull_error.value
            if isinstance(image_pull_error, ImagePullError)
            else image_pull_error
        )
        annotations[IMAGE_PULL_ERROR] = pull
    if log_lines is not None:
        annotations[LOG_LINES] = log_annotation(log_lines)
    return annotations


def log_annotation(lines: Sequence[str]) -> str:
    """Encode the lines a pod prints as the value of ``LOG_LINES``.

    Each line must be a single line: the CRI log format the lines are stored in is one
    record per line.
    """
    if isinstance(lines, str):
        raise TypeError("log_lines takes a sequence of lines, not one string")
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ValueError(f"a log line must not contain a line break: {line!r}")
    return json.dumps(list(lines))


def parse_log_annotation(value: str | None) -> list[str]:
    """Decode ``LOG_LINES``; a missing or malformed value means no output.

    The log agent uses this, so whatever a hand-written manifest puts there never stops
    the agent.
    """
    if not value:
        return []
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError:
        return [value]
    if isinstance(decoded, list):
        return [str(item) for item in decoded]
    return [str(decoded)]
