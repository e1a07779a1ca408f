"""Removing finished pods that nobody will finish any more.

Finishing records the final state before it deletes the pod, so a scheduler that dies between
the two leaves a finished pod of a task instance Airflow no longer calls running: no scheduler
adopts it (adoption is for running task instances), and the pod would stay forever. So every
``interval`` seconds (and once at start) the janitor lists this executor's pods and deletes,
by the deletion policy, those whose container has ended and whose task instance is no longer
queued or running. The container log was persisted before the state was recorded, so nothing
is lost. Running pods are never touched, and neither are pods whose task instance is still
running (some scheduler finishes those), so two schedulers can both run a janitor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kaapana_executor.config import PodDeletion
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.gateway import KubeError, KubeGateway
from kaapana_executor.k8s.podstate import PodPhase, classify
from kaapana_executor.runtime.periodic import Periodic
from kaapana_executor.runtime.watcher import POD_SELECTOR

log = logging.getLogger(__name__)

#: task instance ids → their state now (None: no such task instance any more).
StateLookup = Callable[[Iterable[str]], Mapping[str, str | None]]

#: Task instance states whose pod a scheduler still finishes.
LIVE_STATES = frozenset({"queued", "running", "restarting", "scheduled"})


def leftovers(
    pods: Iterable[Any], states: Mapping[str, str | None], policy: PodDeletion
) -> list[Any]:
    """The pods to delete: ended, their task instance done, the policy allowing it (pure)."""
    found = []
    for pod in pods:
        ti_id = (pod.metadata.annotations or {}).get(labels.ANN_TI_ID)
        status = classify(pod)
        if ti_id is None or not status.phase.terminal or states.get(ti_id) in LIVE_STATES:
            continue
        succeeded = status.phase in (PodPhase.SUCCEEDED, PodPhase.SKIPPED)
        if policy is PodDeletion.ALWAYS or (policy is PodDeletion.ON_SUCCESS and succeeded):
            found.append(pod)
    return found


class Janitor:
    """A daemon thread deleting leftover pods; see the module docstring."""

    def __init__(
        self,
        gateway: KubeGateway,
        namespace: str | None,
        states: StateLookup,
        policy: PodDeletion,
        interval: float = 300.0,
    ) -> None:
        self._gateway = gateway
        self._namespace = namespace
        self._states = states
        self._policy = policy
        self._loop = Periodic("kaapana-janitor", interval, self._sweep_quietly)

    def start(self) -> None:
        if self._policy is not PodDeletion.NEVER:
            self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def sweep(self) -> int:
        """One pass; returns how many pods it deleted."""
        pods, _ = self._gateway.list_pods(self._namespace, POD_SELECTOR)
        ended = [p for p in pods if classify(p).phase.terminal]
        ids = [(p.metadata.annotations or {}).get(labels.ANN_TI_ID) for p in ended]
        states = self._states([i for i in ids if i]) if ended else {}
        deleted = 0
        for pod in leftovers(ended, states, self._policy):
            if self._gateway.delete_pod(pod.metadata.name, pod.metadata.namespace):
                log.info("deleted leftover pod %s/%s", pod.metadata.namespace, pod.metadata.name)
                deleted += 1
        return deleted

    def _sweep_quietly(self) -> None:
        try:
            self.sweep()
        except KubeError as exc:  # the API server will answer again; the next sweep retries
            log.warning("kaapana-executor: cleaning up leftover pods failed: %s", exc)
