"""A tracked try's pod as it changes: what is logged, which deadlines are armed, when it ends.

The pod watcher says what a pod looks like; this decides what that means for the try — a
terminal pod is finished, a pod stuck for a reason that will not fix itself is given a grace
time, a pod that never starts or outlives its deadline is ended by the executor, and a pod
whose deletion its node never confirms is lost. Deadlines are :class:`.Timers`, checked by
:meth:`Progress.fire` on every ``sync``; scheduler thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.k8s.podstate import PodPhase, PodStatus
from kaapana_executor.runtime.metrics import Metrics
from kaapana_executor.runtime.timers import TimerKind, Timers
from kaapana_executor.runtime.tracked import Tracked

#: Seconds past a task's execution timeout after which the executor ends a pod itself. The
#: kubelet's activeDeadlineSeconds is the limit, but it reports DeadlineExceeded only once the
#: container has stopped: a container that ignores SIGTERM (a shell as PID 1) is killed only
#: after the pod's grace period (30 s by default). The executor does not wait that long.
DEADLINE_BACKSTOP = 5.0
#: Seconds a pod may take to stop once its deletion was requested (Kubernetes' default grace
#: period is 30 s) before the executor takes its node for lost: an evicted pod on a node whose
#: kubelet is gone stays Terminating forever, and its task with it.
DELETION_WAIT = 60.0


class Progress:
    """Turns pod status changes and due deadlines into calls of ``finish``."""

    def __init__(
        self,
        settings: ExecutorSettings,
        clock: Callable[[], float],
        metrics: Metrics,
        finish: Callable[[Tracked, PodStatus], None],
    ) -> None:
        self._graces = {
            PodPhase.IMAGE_PULL_ERROR: settings.image_pull_grace,
            PodPhase.CONFIG_ERROR: settings.config_error_grace,
            PodPhase.UNSCHEDULABLE: settings.unschedulable_timeout,
        }
        self._clock = clock
        self._metrics = metrics
        self._finish = finish
        self._timers = Timers()

    def created(self, tracked: Tracked) -> None:
        """The pod exists: the startup timeout runs from now."""
        tracked.created_at = now = self._clock()
        self._metrics.timing("launch.queued_to_created", now - tracked.submitted_at)
        startup = tracked.launched.startup_timeout if tracked.launched else None
        if startup is not None:
            self._timers.add(now + startup, tracked.ref.key, TimerKind.STARTUP, startup)

    def changed(self, tracked: Tracked, status: PodStatus) -> None:
        """The pod's status as the watcher (or adoption) saw it."""
        previous, tracked.status = tracked.status, status
        moved = previous is None or previous.phase != status.phase
        if moved:
            where = f" on node {status.node}" if status.node else ""
            tracked.log.event(f"pod {tracked.pod}: {status.describe()}{where}")
        if tracked.finishing:
            return
        if moved and status.phase is PodPhase.RUNNING:
            self._running(tracked)
        if status.deleting and (previous is None or not previous.deleting):
            self._timers.add(
                self._clock() + DELETION_WAIT, tracked.ref.key, TimerKind.DELETION, 0.0
            )
        if status.phase.terminal:
            self._finish(tracked, status)
        elif status.phase.stuck:
            if tracked.stuck_since is None:
                tracked.stuck_since = now = self._clock()
                grace = self._graces[status.phase]
                self._timers.add(now + grace, tracked.ref.key, TimerKind.STUCK, now)
        else:
            tracked.stuck_since = None

    def _running(self, tracked: Tracked) -> None:
        """Arm a backstop behind the kubelet's activeDeadlineSeconds (a node that stops
        enforcing it, a stopped kubelet): the executor ends the try itself a little later."""
        now = self._clock()
        timeout = tracked.launched.execution_timeout if tracked.launched else None
        if timeout is not None:
            due = now + timeout + DEADLINE_BACKSTOP
            self._timers.add(due, tracked.ref.key, TimerKind.EXECUTION, timeout)
        if tracked.created_at is not None:
            self._metrics.timing("launch.created_to_running", now - tracked.created_at)

    def fire(self, lookup: Callable[[Hashable], Tracked | None]) -> None:
        """Finish the tries whose deadline is due and still meant (stale timers are dropped:
        the token no longer matches the try's state)."""
        for timer in self._timers.due(self._clock()):
            tracked = lookup(timer.key)
            if tracked is None or tracked.finishing:
                continue
            status = tracked.status
            ended = _overdue(timer.kind, timer.token, tracked, status)
            if ended is not None:
                self._finish(tracked, ended)


def _overdue(
    kind: TimerKind, token: float, tracked: Tracked, status: PodStatus | None
) -> PodStatus | None:
    """The status a due timer ends its try with; None when the timer is stale."""
    node = status.node if status is not None else None
    match kind:
        case TimerKind.STUCK if status is not None and tracked.stuck_since == token:
            return status
        case TimerKind.STARTUP if status is None or not _started(status.phase):
            why = f"not running {token:g} s after it was created (startup timeout)"
            return PodStatus(PodPhase.NOT_STARTED, why, None, node)
        case TimerKind.EXECUTION if status is not None and not status.phase.terminal:
            why = f"still running {DEADLINE_BACKSTOP:g} s after its deadline; stopped"
            return PodStatus(PodPhase.TIMED_OUT, why, None, node)
        case TimerKind.DELETION if status is not None and status.deleting:
            why = (
                f"it was being deleted (evicted?) and its node did not stop it within "
                f"{DELETION_WAIT:g} s: the node is gone or its kubelet stopped"
            )
            return PodStatus(PodPhase.LOST, why, None, node)
    return None


def _started(phase: PodPhase) -> bool:
    return phase is PodPhase.RUNNING or phase.terminal
