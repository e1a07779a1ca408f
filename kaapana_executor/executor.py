"""KaapanaExecutor: the Airflow side. A thin adapter between BaseExecutor and the engine.

Set ``[core] executor = kaapana_executor.KaapanaExecutor`` (alone or in a list). The api-server
also constructs executors (to read live logs) without starting them, so ``__init__`` does no
I/O and starts no thread: everything is built in :meth:`start`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.executors.base_executor import BaseExecutor

from kaapana_executor import airflow_compat
from kaapana_executor.adoption import adoption_stall_warning
from kaapana_executor.config import ExecutorSettings
from kaapana_executor.images.credentials import PullAccess
from kaapana_executor.images.metadata import ImageMetadata
from kaapana_executor.k8s import labels
from kaapana_executor.k8s.client import load_api_client
from kaapana_executor.k8s.gateway import KubeError, KubeGateway
from kaapana_executor.k8s.names import pod_name
from kaapana_executor.launch.identity import pod_name_of
from kaapana_executor.launch.pipeline import ImageAccess, ProcessingContainerSource
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.models import ProcessingContainer
from kaapana_executor.runtime.engine import AdoptedPod, Engine, Wiring
from kaapana_executor.runtime.refs import TaskRef
from kaapana_executor.runtime.tasklog import container_lines
from kaapana_executor.runtime.tracked import Outcome
from kaapana_executor.runtime.watcher import POD_SELECTOR, pod_changed
from kaapana_executor.status import status_path

log = logging.getLogger(__name__)


def _images(metadata: ImageMetadata) -> ProcessingContainerSource:
    """processing-container.json read with the pod's own pull credentials."""

    def get(image: str, access: ImageAccess) -> ProcessingContainer:
        return metadata.get(image, PullAccess(access.namespace, access.pull_secrets))

    return get


class KaapanaExecutor(BaseExecutor):  # type: ignore[misc]  # Airflow is untyped here
    """Runs Kaapana processing containers as Kubernetes pods; see the README."""

    supports_ad_hoc_ti_run = False
    serve_logs = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built in start(): the api-server constructs executors it never starts.
        self._engine: Engine | None = None
        self._gateway: KubeGateway | None = None
        self._settings: ExecutorSettings | None = None
        self._api: airflow_compat.ExecutionApi | None = None

    def _config(self) -> ExecutorSettings:
        if self._settings is None:
            self._settings = airflow_compat.load_settings()
        return self._settings

    def _kube(self) -> KubeGateway:
        if self._gateway is None:
            settings = self._config()
            pool = settings.create_concurrency + settings.finish_concurrency + 4
            api = load_api_client(settings.kubeconfig, pool_size=pool)
            self._gateway = KubeGateway(api, component="executor")
        return self._gateway

    def start(self) -> None:
        """Validate the configuration (a bad value stops the scheduler with a clear error)."""
        settings = self._config()
        gateway = self._kube()
        api = airflow_compat.ExecutionApi(
            airflow_compat.execution_api_url(), settings.heartbeat_concurrency + 8
        )
        self._api = api
        log_folder = airflow_compat.base_log_folder()
        self._engine = Engine(
            Wiring(
                settings=settings,
                gateway=gateway,
                reporter=lambda ref: api.reporter(ref.ti_id, ref.token, pod_name_of(ref.run)),
                images=_images(ImageMetadata.from_settings(settings, gateway)),
                upstream=airflow_compat.upstream_task,
                log_folder=log_folder,
                watch_namespace=None if settings.allowed_namespaces else settings.namespace,
                ledger=Ledger() if settings.resource_admission else None,
                status_file=status_path(log_folder),
                remote_log=airflow_compat.upload_remote_log,
                metrics=airflow_compat.AirflowMetrics(),
                ti_states=airflow_compat.ti_states,
            )
        )
        self._engine.start()
        if stall := adoption_stall_warning(*airflow_compat.adoption_timers()):
            log.warning("KaapanaExecutor: %s", stall)
        log.info(
            "KaapanaExecutor started: namespace %s, data root %s",
            settings.namespace,
            settings.data_root,
        )

    def _process_workloads(self, workloads: Sequence[Any]) -> None:
        assert self._engine is not None, "start() first"
        for workload in workloads:
            ref: TaskRef = airflow_compat.parse_workload(workload)
            del self.queued_tasks[ref.key]
            self.running.add(ref.key)
            self._engine.submit(ref)

    def sync(self) -> None:
        """Apply what the worker threads found; never waits on the network."""
        if self._engine is None:
            return
        for key, outcome in self._engine.sync():
            if outcome in (Outcome.SUCCEEDED, Outcome.ENDED):
                self.success(key)
            elif outcome in (Outcome.FAILED, Outcome.UNREPORTED):
                self.fail(key)
            else:
                self.running.discard(key)

    def revoke_task(self, *, ti: Any) -> None:
        """Remove a queued or launching task (Airflow requeues it); never raises."""
        self.queued_tasks.pop(ti.key, None)
        self.running.discard(ti.key)
        if self._engine is not None:
            self._engine.revoke(ti.key)

    def try_adopt_task_instances(self, tis: Sequence[Any]) -> Sequence[Any]:
        """Adopt running tasks of a dead scheduler whose pods still exist; return the rest.

        Pods carry the task instance id; an adopted task keeps its pod and is reported with a
        freshly minted token. Tasks without a pod are returned, and the scheduler resets them.
        If the pods cannot be listed (API server unreachable after retries), nothing is
        adopted: the tasks run again as new tries, and their old pods are removed once their
        task instances have moved on.
        """
        if self._engine is None or self._api is None or not tis:
            return tis
        settings = self._config()
        namespace = None if settings.allowed_namespaces else settings.namespace
        try:
            pods, _ = self._kube().list_pods(namespace, POD_SELECTOR)
        except KubeError as exc:
            log.error("cannot adopt %d task instances: %s", len(tis), exc)
            return tis
        by_ti = {(pod.metadata.annotations or {}).get(labels.ANN_TI_ID): pod for pod in pods}
        orphans = []
        for ti in tis:
            pod = by_ti.get(str(ti.id))
            if pod is None or pod.metadata.deletion_timestamp is not None:
                orphans.append(ti)
                continue
            self._adopt(ti, pod)
        return orphans

    def _adopt(self, ti: Any, pod: Any) -> None:
        assert self._engine is not None and self._api is not None
        token = airflow_compat.mint_token(self, str(ti.id))
        ref, should_retry = airflow_compat.ref_from_task_instance(ti, token)
        limits = (
            pod.spec.containers[0].resources.limits if pod.spec.containers[0].resources else None
        )
        memory = (limits or {}).get("memory")
        status = pod_changed(pod).status
        adopted = AdoptedPod(pod.metadata.name, pod.metadata.namespace, memory, status)
        reporter = self._api.reporter(ref.ti_id, token, pod.metadata.name)
        self.running.add(ref.key)
        self._engine.adopt(ref, adopted, reporter, should_retry)
        log.info("adopted %s (pod %s)", ref.label, pod.metadata.name)

    def get_task_log(self, ti: Any, try_number: int) -> tuple[list[str], list[str]]:
        """Live container log of a running task, read from its pod (api-server side)."""
        try:
            settings = self._config()
            name = pod_name(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, try_number)
            for namespace in [settings.namespace, *settings.allowed_namespaces]:
                text = self._kube().read_log(name, namespace, settings.log_tail_lines)
                if text:
                    return [f"pod {namespace}/{name}"], container_lines(text)
        except Exception as exc:  # a log view must never break the api-server
            return [f"could not read the pod log: {exc}"], []
        return [], []

    def end(self) -> None:
        """Stop the threads and wait for in-flight calls; pods keep running."""
        if self._engine is not None:
            self._engine.stop(wait=True)
        if self._api is not None:
            self._api.close()

    def terminate(self) -> None:
        """SIGTERM: stop without waiting."""
        if self._engine is not None:
            self._engine.stop(wait=False)
