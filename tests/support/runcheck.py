"""What a fault did to a DAG run: lost, duplicated and stuck tasks, and pods left behind.

Judged from outside the executor only: Airflow's REST API (each task's state and try number)
and the pods a :class:`~tests.support.podrecord.PodRecorder` saw in the namespace.

- **lost**: a task that did not end in ``success`` although every pod of these DAGs exits 0;
- **duplicated**: a task try that had more than one pod, or a later try of a task whose
  earlier try's pod had already succeeded (a rerun of finished work);
- **stuck**: a task not in a final state when the check is made;
- **left**: a pod of the run that still exists (finished pods are deleted by the executor).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kaapana_executor.k8s import labels
from tests.support.airflow import AirflowRest
from tests.support.podrecord import PodRecorder
from tests.support.polling import wait_until

FINAL_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


@dataclass
class Verdict:
    """The findings for one run; ``clean`` when all four lists are empty."""

    states: dict[str, tuple[str | None, int]]
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck or self.left)

    def summary(self) -> str:
        return (
            f"lost {len(self.lost)} {self.lost}, duplicated {len(self.duplicated)} "
            f"{self.duplicated}, stuck {len(self.stuck)} {self.stuck}, pods left "
            f"{len(self.left)} {self.left}"
        )


@dataclass
class RunCheck:
    rest: AirflowRest
    core: client.CoreV1Api
    namespace: str
    dag: str
    run: str

    def states(self) -> dict[str, tuple[str | None, int]]:
        """Every task's (state, try number), page by page (the API returns 100 at most)."""
        states: dict[str, tuple[str | None, int]] = {}
        path = f"/dags/{self.dag}/dagRuns/{self.run}/taskInstances"
        while True:
            page = self.rest.call("GET", path, params={"limit": 100, "offset": len(states)})
            for ti in page["task_instances"]:
                states[ti["task_id"]] = (ti["state"], int(ti["try_number"] or 0))
            if not page["task_instances"] or len(states) >= int(page["total_entries"]):
                return states

    def pods(self) -> list[client.V1Pod]:
        """The run's pods that exist now."""
        return [
            p
            for p in self.core.list_namespaced_pod(self.namespace).items
            if (p.metadata.annotations or {}).get(labels.ANN_RUN_ID) == self.run
            and (p.metadata.annotations or {}).get(labels.ANN_DAG_ID) == self.dag
        ]

    def remaining_pods(self) -> list[str]:
        return sorted(p.metadata.name for p in self.pods())

    def running_pods(self) -> list[client.V1Pod]:
        return [p for p in self.pods() if p.status and p.status.phase == "Running"]

    def wait_running(self, count: int, timeout: float = 180) -> list[client.V1Pod]:
        """Wait until at least ``count`` of the run's pods run."""
        found: list[client.V1Pod] = wait_until(
            self.running_pods,
            lambda pods: len(pods) >= count,
            what=f"{count} running pods of {self.dag}/{self.run}",
            timeout=timeout,
            interval=1,
            describe=lambda pods: str([p.metadata.name for p in pods]),
        )
        return found

    def settle(self, timeout: float = 60) -> None:
        """Give the executor a moment to delete finished pods (a pod may outlive the report
        of its state by a moment); returns when none is left or the time is up."""
        deadline = time.monotonic() + timeout
        while self.remaining_pods() and time.monotonic() < deadline:
            time.sleep(1)

    def verdict(self, recorder: PodRecorder, expect: str = "success") -> Verdict:
        states = self.states()
        verdict = Verdict(states)
        for task, (state, _) in sorted(states.items()):
            if state not in FINAL_STATES:
                verdict.stuck.append(f"{task}: {state}")
            elif state != expect:
                verdict.lost.append(f"{task}: {state}")
        verdict.duplicated = self._duplicates(recorder, states)
        verdict.left = self.remaining_pods()
        return verdict

    def _duplicates(
        self, recorder: PodRecorder, states: dict[str, tuple[str | None, int]]
    ) -> list[str]:
        found: list[str] = []
        tries: dict[str, list[tuple[int, Any]]] = {}
        for key, pods in sorted(recorder.by_try().items(), key=lambda kv: kv[0]):
            dag, task, run, _, try_number = key
            if dag != self.dag or run != self.run:
                continue
            if len(pods) > 1:
                found.append(f"{task} try {try_number}: {len(pods)} pods")
            tries.setdefault(task, []).extend((try_number, p) for p in pods)
        for task, seen in tries.items():
            last = max(states.get(task, (None, 0))[1], *(t for t, _ in seen))
            for try_number, pod in seen:
                if pod.succeeded and try_number < last:
                    described = ", ".join(
                        f"try {t} {p.name} {'/'.join(p.phases)}{' deleted' if p.deleted else ''}"
                        for t, p in sorted(seen, key=lambda tp: tp[0])
                    )
                    found.append(
                        f"{task}: try {try_number} succeeded, then try {last} ran "
                        f"(Airflow: {states.get(task)}; pods: {described})"
                    )
        return found
