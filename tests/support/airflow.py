"""A real local Airflow (api-server, scheduler, dag-processor on SQLite) running KaapanaExecutor.

Used by the end-to-end tests (fixture ``airflow``) and by ``scripts/demo``. Processes are
started in the background with their own AIRFLOW_HOME and stopped by PID; the REST client
speaks the public API v2 with a JWT from ``/auth/token``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.statsd import StatsdListener

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "examples" / "dags"
USER = PASSWORD = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The simple auth manager's users: name -> (role, password); role "" means no permission.
Users = Mapping[str, tuple[str, str]]
DEFAULT_USERS: Users = {USER: ("admin", PASSWORD)}


def airflow_env(
    home: Path,
    port: int,
    kaapana: Mapping[str, str],
    extra: Mapping[str, str] = {},
    users: Users = DEFAULT_USERS,
) -> dict[str, str]:
    """Environment for all three components (they must agree on secrets and the executor)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    secret = (
        (home / ".secret").read_text() if (home / ".secret").exists() else secrets.token_hex(16)
    )
    (home / ".secret").write_text(secret)
    (home / "passwords.json").write_text(json.dumps({u: p for u, (_, p) in users.items()}))
    settings = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "kaapana_executor.KaapanaExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{u}:{r}" for u, (r, _) in users.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    settings.update({f"AIRFLOW__KAAPANA_EXECUTOR__{k.upper()}": v for k, v in kaapana.items()})
    settings.update(extra)
    return {**env, **settings}


@dataclass
class AirflowRest:
    """The public REST API v2, authenticated as the test user."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def login(self, username: str = USER, password: str = PASSWORD) -> None:
        self.session.headers["Authorization"] = f"Bearer {self.token(username, password)}"

    def token(self, username: str = USER, password: str = PASSWORD) -> str:
        """A JWT for ``username`` from the simple auth manager's ``/auth/token``."""
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": username, "password": password},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/api/v2{path}", timeout=60, **kwargs
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.session.get(f"{self.base_url}/api/v2/dags/{dag_id}", timeout=30)
            if response.status_code == 200:
                return
            time.sleep(1)
        errors = self.call("GET", "/importErrors")
        raise AssertionError(
            f"DAG {dag_id} did not appear within {timeout}s; import errors: {errors}"
        )

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})}
        self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        state = wait_until(
            lambda: self._finished(dag_id, run_id), timeout, f"run {dag_id}/{run_id}"
        )
        return str(state)

    def _finished(self, dag_id: str, run_id: str) -> str | None:
        state = self.run_state(dag_id, run_id)
        return state if state in ("success", "failed") else None

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in found["task_instances"]}

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        state = self.task_instances(dag_id, run_id)[task_id]["state"]
        return None if state is None else str(state)

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        body = {"dry_run": False, "task_ids": task_ids, "dag_run_id": run_id, "only_failed": False}
        self.call("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)

    def mark(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        self.call("PATCH", path, json={"new_state": state})

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        found = self.call(
            "GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"}
        )
        content = found.get("content", [])
        if isinstance(content, str):
            return content
        return "\n".join(str(c.get("event", c)) if isinstance(c, dict) else str(c) for c in content)


def wait_until(probe: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``probe`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class LocalAirflow:
    """Three Airflow processes sharing one home; ``start`` blocks until the API answers."""

    home: Path
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    components: tuple[str, ...] = COMPONENTS

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    def restart(self, component: str) -> None:
        """Stop one component (SIGTERM, as a deployment would) and start it again."""
        process = self.processes[component]
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        self._spawn(component)

    def _spawn(
        self, component: str, name: str | None = None, extra_env: Mapping[str, str] = {}
    ) -> None:
        args = [self._airflow(), component]
        if component == "api-server":
            args += ["--port", str(self.port)]
        name = name or component
        log = (self.home / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def spawn(
        self, component: str, name: str | None = None, extra_env: Mapping[str, str] = {}
    ) -> None:
        """Start one more process of ``component`` (e.g. a second scheduler), known as
        ``name`` (default: the component; its log is ``{home}/{name}.log``), with
        ``extra_env`` on top of the shared environment."""
        self._spawn(component, name, extra_env)

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
        """Send ``sig`` (default SIGKILL: a crash, no clean-up) to a process and its children
        and wait for it to end; returns its exit status."""
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
        return process.wait(timeout=timeout)

    def wait_exit(self, name: str, timeout: float) -> int:
        """Wait until a process ends by itself (e.g. an injected crash); its exit status."""
        return self.processes[name].wait(timeout=timeout)

    def migrate(self) -> None:
        done = subprocess.run(
            [self._airflow(), "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-4000:]
            raise AssertionError(f"airflow db migrate failed:\n{output}")

    def start(self, timeout: float = 120) -> AirflowRest:
        self.migrate()
        for component in self.components:
            self._spawn(component)
        rest = AirflowRest(self.url)
        wait_until(self._healthy, timeout, "the Airflow api-server")
        rest.login()
        return rest

    def _healthy(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"airflow {name} exited with {process.returncode}:\n{tail}")
        try:
            return requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def prepare_home(home: Path, dag_dirs: list[Path]) -> None:
    """A fresh AIRFLOW_HOME with the given DAG folders' files copied into ``dags/``."""
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    for folder in dag_dirs:
        shutil.copytree(
            folder, dags, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )


def running_airflow(
    home: Path,
    dag_dirs: list[Path],
    kaapana: Mapping[str, str],
    extra: Mapping[str, str] = {},
    users: Users = DEFAULT_USERS,
    components: tuple[str, ...] = COMPONENTS,
) -> Iterator[tuple[LocalAirflow, AirflowRest]]:
    """Start Airflow for the duration of the generator (fixtures and the demo use it)."""
    prepare_home(home, dag_dirs)
    port = free_port()
    env = airflow_env(home, port, kaapana, extra, users)
    airflow = LocalAirflow(home=home, env=env, port=port, components=components)
    try:
        rest = airflow.start()
        yield airflow, rest
    finally:
        airflow.stop()


# --- pytest fixtures ----------------------------------------------------------------------

E2E_NAMESPACE_PREFIX = "kaapana-e2e-"
QUEUED_TIMEOUT = 15
TEST_DAGS = REPO / "tests" / "integration" / "dags"


@dataclass
class E2E:
    """A running Airflow with KaapanaExecutor against the local cluster."""

    rest: AirflowRest
    airflow: LocalAirflow
    namespace: str
    data_root: Path
    images: dict[str, str]
    project_namespace: str = ""  # an allowed namespace a run's conf may choose
    statsd: StatsdListener | None = None  # what the scheduler sent to statsd


def _ensure_namespace(core: Any, name: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    except ApiException as exc:
        if exc.status != 409:
            raise


#: Kaapana's kind of platform environment: a plain value and a secret the kubelet resolves.
PLATFORM_SECRET = "oidc-client-secret"
PLATFORM_ENV = [
    {"name": "KAAPANA_AII_URL", "value": "http://aii-service.services.svc:8080"},
    {
        "name": "KAAPANA_CLIENT_SECRET",
        "valueFrom": {"secretKeyRef": {"name": PLATFORM_SECRET, "key": PLATFORM_SECRET}},
    },
]


def local_settings(
    namespace: str, kubeconfig: str, registries: list[str], home: Path, **more: str
) -> dict[str, str]:
    """``[kaapana_executor]`` of an executor on the local cluster: its namespace, the run data
    below ``home/data``, the local (plain HTTP) registries, which task.json templates name as
    ``env.KAAPANA_REGISTRY`` (and ``env.KAAPANA_REGISTRY_AUTH``); ``more`` adds or overrides."""
    names = dict(zip(("KAAPANA_REGISTRY", "KAAPANA_REGISTRY_AUTH"), registries, strict=False))
    return {
        "namespace": namespace,
        "kubeconfig": kubeconfig,
        "data_root": str(home / "data"),
        "insecure_registries": ",".join(registries),
        "cache_dir": str(home / "image-cache"),
        # the only values task.json templates see as env.* (never the scheduler's environment)
        "template_env": json.dumps(names),
        **more,
    }


def ensure_platform_secret(core: Any, namespace: str) -> None:
    from kubernetes import client

    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name=PLATFORM_SECRET),
        string_data={PLATFORM_SECRET: "the-client-secret"},
    )
    core.create_namespaced_secret(namespace, secret)


def _e2e(cluster: Any, tmp_path_factory: Any) -> Iterator[E2E]:
    from examples.images.push import push_examples

    images = push_examples(cluster.registry)
    namespace = E2E_NAMESPACE_PREFIX + secrets.token_hex(3)  # pods of earlier sessions stay apart
    project = f"{namespace}-project"
    core = cluster.core_v1()
    for name in (namespace, project):
        _ensure_namespace(core, name)
        ensure_platform_secret(core, name)
    home = tmp_path_factory.mktemp("airflow")
    data_root = home / "data"
    data_root.mkdir()
    kaapana = local_settings(
        namespace,
        cluster.kubeconfig,
        [cluster.registry],
        home,
        heartbeat_interval="2",
        image_pull_grace="3",
        unschedulable_timeout="15",
        pod_deletion="never",
        allowed_namespaces=project,
        pod_env=json.dumps(PLATFORM_ENV),
        pod_labels=json.dumps({"kaapana.ai/type": "processing-container"}),
    )
    statsd = StatsdListener()
    extra = {
        "KUBECONFIG": cluster.kubeconfig,
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        # for DAG files written like Kaapana's (python constants, not templates)
        "KAAPANA_REGISTRY": cluster.registry,
        # short, so that a task waiting for resources outlives it (it must not matter)
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT),
        # remote logging to a local "remote" directory (tests/support/remote_log.py)
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "tests.support.remote_log.LOGGING_CONFIG",
        "KAAPANA_TEST_REMOTE_LOG_DIR": str(home / "remote-logs"),
    }
    try:
        for airflow, rest in running_airflow(home, [EXAMPLE_DAGS, TEST_DAGS], kaapana, extra):
            yield E2E(rest, airflow, namespace, data_root, images, project, statsd)
    finally:
        statsd.close()
        for name in (namespace, project):
            core.delete_namespace(name)


try:
    import pytest

    @pytest.fixture(scope="session")
    def e2e(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
        """Airflow (api-server, scheduler, dag-processor) running KaapanaExecutor on the cluster."""
        yield from _e2e(cluster, tmp_path_factory)

except ImportError:  # the demo runs without pytest
    pass
