"""The status page and ``status.json`` on a real Airflow api-server, in a real browser.

Airflow here is an api-server and a dag-processor (the example DAGs, so the DAG ids exist
for the auth manager), with the simple auth manager's users ``admin`` (Admin), ``viewer``
(Viewer) and ``nobody`` (no role, so no permission); a second one runs in multi-team mode
(one DAG bundle per team, a viewer in each) for the per-DAG filtering. The status
document is the one the executor publishes: a real ``Ledger`` fed by the ``LedgerWatcher``
from the local cluster's KWOK nodes, a real ``AdmissionGate`` deciding, written through
``publish_status`` into the api-server's log folder. The screenshot is kept in
``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from kubernetes import client
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from kaapana_executor.contract.templating import RunContext
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.watch import LedgerWatcher
from kaapana_executor.runtime.gate import AdmissionGate
from kaapana_executor.status import StatusSource, publish_status, status_path
from tests.support.airflow import (
    EXAMPLE_DAGS,
    AirflowRest,
    LocalAirflow,
    airflow_env,
    free_port,
    prepare_home,
    running_airflow,
)
from tests.support.browser import chromium
from tests.support.cluster import Cluster
from tests.support.nodes import TrackedNodes
from tests.support.pods import pod_manifest, wait_for_phase
from tests.support.polling import wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
USERS = {
    "admin": ("admin", "admin"),
    "viewer": ("viewer", "viewer-pw"),
    "nobody": ("", "nobody-pw"),  # the simple auth manager: a user without a role
}
DAG = "kaapana_dummy"  # an example DAG: present in the metadata DB


@dataclass
class UI:
    airflow: LocalAirflow
    rest: AirflowRest

    @property
    def status_file(self) -> Path:
        return status_path(Path(self.airflow.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]))

    def get(self, path: str, token: str | None = None, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(
            f"{self.airflow.url}{path}",
            headers=headers,
            timeout=30,
            allow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    home = tmp_path_factory.mktemp("airflow-ui")
    components = ("api-server", "dag-processor")
    for airflow, rest in running_airflow(
        home, [EXAMPLE_DAGS], {}, users=USERS, components=components
    ):
        rest.wait_for_dag(DAG)
        yield UI(airflow, rest)


class Clock:
    """The gate's clock, set by the test: waited times are exact."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(task_id: str, run_id: str = "manual__status-1", map_index: int = -1) -> RunContext:
    return RunContext(dag_id=DAG, run_id=run_id, task_id=task_id, map_index=map_index)


def test_endpoints_need_a_login_and_the_view_permission(ui: UI) -> None:
    viewer = ui.rest.token("viewer", USERS["viewer"][1])
    ui.status_file.unlink(missing_ok=True)
    missing = ui.get("/kaapana-executor/", viewer)
    assert missing.status_code == 503 and "No status published yet" in missing.text
    ledger = Ledger()
    ledger.replace_all([], [], [])
    runs = {"seen": run("upstream"), "hidden": RunContext("no-such-dag", "r", "t")}
    gate = AdmissionGate(ledger, Clock(0.0))
    for key in runs:
        gate.add(key, pod_manifest(str(key), requests={"cpu": "1"}), priority=1)
    gate.next_pass()  # no nodes: both wait
    publish_status(ui.status_file, StatusSource.take(gate, runs, ledger))
    admin, viewer, nobody = (ui.rest.token(u, p) for u, (_, p) in USERS.items())

    assert ui.get("/kaapana-executor/status.json").status_code == 401
    page = ui.get("/kaapana-executor/")
    assert page.status_code == 303
    assert page.headers["location"] == "/api/v2/auth/login?next=%2Fkaapana-executor%2F"
    assert ui.get("/kaapana-executor/status.json", "not-a-jwt").status_code == 403
    for path in ("/kaapana-executor/status.json", "/kaapana-executor/"):
        assert ui.get(path, nobody).status_code == 403, path
        assert ui.get(path, viewer).status_code == 200, path
    assert ui.get("/api/v2/jobs", nobody).status_code == 403  # Airflow's own views agree

    shown = ui.get("/kaapana-executor/status.json", admin).json()
    assert [t["task_id"] for t in shown["waiting"]] == ["upstream"]
    assert shown["hidden_waiting"] == 1  # a DAG the auth manager does not let anyone read
    by_cookie = ui.get("/kaapana-executor/", cookies={"_token": viewer})  # the UI's login
    assert by_cookie.status_code == 200 and "kaapana_dummy / upstream" in by_cookie.text


class OwnNode:
    """A KWOK node only this test's pods use (label ``pool``, taint ``dedicated``)."""

    def __init__(self, nodes: TrackedNodes) -> None:
        self.name = f"kwok-status-{secrets.token_hex(3)}"
        taint = client.V1Taint(key="dedicated", value=self.name, effect="NoSchedule")
        nodes.add(
            self.name, cpu="4", memory="8Gi", gpus=2, labels={"pool": self.name}, taints=[taint]
        )

    def pod(self, name: str, namespace: str, **requests: str) -> client.V1Pod:
        built = pod_manifest(
            name,
            requests=requests,
            tolerations=[
                client.V1Toleration(key="dedicated", value=self.name),
                client.V1Toleration(key="nvidia.com/gpu", operator="Exists"),
            ],
            node_selector={"pool": self.name},
        )
        built.metadata.namespace = namespace
        return built


def _published(
    cluster: Cluster, nodes: TrackedNodes, namespace: str, ui: UI
) -> Iterator[tuple[OwnNode, AdmissionGate, Ledger, Clock, dict[str, RunContext]]]:
    """A real ledger watching the cluster, with a bound pod, a reservation and two waiting."""
    node = OwnNode(nodes)
    core = cluster.core_v1()
    core.create_namespaced_pod(namespace, node.pod("busy", namespace, cpu="1", memory="2Gi"))
    wait_for_phase(core, namespace, "busy", "Running")
    watcher = LedgerWatcher(KubeGateway(cluster.api_client), Ledger(), resync=30, watch_timeout=10)
    watcher.start()
    try:
        ledger = watcher.ledger
        wait_until(
            lambda: ledger.snapshot().node(node.name),
            lambda state: state is not None and state.requested.get("cpu") == 1000,
            what=f"the ledger counting the pod on {node.name}",
        )
        clock = Clock(1000.0)
        gate = AdmissionGate(ledger, clock)
        runs = {
            "first": run("upstream"),
            "big": run("downstream"),
            "small": run("upstream", run_id="manual__status-2", map_index=3),
        }
        gate.add("first", node.pod("first", namespace, cpu="2", memory="1Gi"), priority=1)
        gate.next_pass()  # admitted: 2 CPU, 1Gi reserved on the node
        gate.add("big", node.pod("big", namespace, cpu="2", **{"nvidia.com/gpu": "1"}), priority=5)
        clock.now += 10
        gate.add("small", node.pod("small", namespace, cpu="1"), priority=1)
        gate.next_pass()  # "big" heads the queue and holds the node; "small" may not take it
        clock.now += 115
        publish_status(ui.status_file, StatusSource.take(gate, runs, ledger))
        yield node, gate, ledger, clock, runs
    finally:
        watcher.stop(15)


@pytest.fixture
def published(
    cluster: Cluster, nodes: TrackedNodes, namespace: str, ui: UI
) -> Iterator[tuple[OwnNode, AdmissionGate, Ledger, Clock, dict[str, RunContext]]]:
    yield from _published(cluster, nodes, namespace, ui)


def _log_in(browser: WebDriver, ui: UI, page: str) -> None:
    """Open ``page`` as a stranger: Airflow's login form, then back to the page."""
    browser.get(f"{ui.airflow.url}{page}")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda b: "/auth/login" in b.current_url)
    username = wait.until(lambda b: b.find_element(By.NAME, "username"))
    username.send_keys("viewer")
    browser.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(USERS["viewer"][1])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda b: b.current_url.rstrip("/").endswith(page.rstrip("/")))


def _node_text(browser: WebDriver, node: str, resource: str) -> str:
    card = browser.find_element(By.CSS_SELECTOR, f'[data-node="{node}"]')
    return str(card.find_element(By.CSS_SELECTOR, f'[data-resource="{resource}"]').text)


def test_page_in_a_browser_shows_nodes_and_the_queue(
    ui: UI,
    published: tuple[OwnNode, AdmissionGate, Ledger, Clock, dict[str, RunContext]],
    tmp_path: Path,
) -> None:
    node, gate, ledger, clock, runs = published
    with chromium() as browser:
        _log_in(browser, ui, "/kaapana-executor/")
        assert "3 of 4 CPU in use (75%)" in _node_text(browser, node.name, "CPU")
        assert "1 CPU requested · 2 CPU reserved · 1 CPU free" in _node_text(
            browser, node.name, "CPU"
        )
        assert "3Gi of 8Gi in use (38%)" in _node_text(browser, node.name, "Memory")
        assert "0 of 2 GPUs in use (0%)" in _node_text(browser, node.name, "GPUs")
        rows = browser.find_elements(By.CSS_SELECTOR, "#waiting tbody tr")
        cells = [[c.text for c in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        assert [c[0] for c in cells] == ["1", "2"]  # the admission order
        assert cells[0][1] == "kaapana_dummy / downstream"
        assert cells[0][4] == "7 (from 5)"  # priority_weight 5, aged two steps
        assert cells[0][5] == "2 CPU, 1 GPU"
        assert f"the most free eligible node has 1 CPU ({node.name})" in cells[0][6]
        assert cells[0][7] == "2m 05s"
        assert cells[1][1] == "kaapana_dummy / upstream[3]"
        assert f"{node.name} has room, held for a task ahead in the queue" in cells[1][6]
        assert cells[1][7] == "1m 55s"
        link = rows[1].find_element(By.TAG_NAME, "a").get_attribute("href")
        assert link == (
            f"{ui.airflow.url}/dags/kaapana_dummy/runs/manual__status-2/tasks/upstream/mapped/3"
        )
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, int(height) + 120)  # the whole page in the screenshot
        shot = tmp_path / "status-page.png"
        browser.save_screenshot(str(shot))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "status-page.png")

        gate.discard("small")  # the next publish: one task fewer; the page refreshes itself
        clock.now += 1
        publish_status(ui.status_file, StatusSource.take(gate, runs, ledger))
        WebDriverWait(browser, 60).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, "#waiting tbody tr")) == 1
        )

        browser.get(f"{ui.airflow.url}/plugin/kaapana-executor")  # inside the Airflow UI
        frame = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.TAG_NAME, "iframe"))
        browser.switch_to.frame(frame)
        WebDriverWait(browser, 60).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, f'[data-node="{node.name}"]')
        )


TEAM_DAGS = {"team_a": "kaapana_dummy", "team_b": "kaapana_fan_in"}


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """Airflow in multi-team mode: one DAG bundle per team, a viewer in each team."""
    home = tmp_path_factory.mktemp("airflow-teams")
    prepare_home(home, [EXAMPLE_DAGS])
    bundles = []
    for team, dag in TEAM_DAGS.items():
        folder = home / "bundles" / team
        folder.mkdir(parents=True)
        shutil.copy(home / "dags" / f"{dag}.py", folder)
        shutil.copytree(home / "dags" / "tasks", folder / "tasks", dirs_exist_ok=True)
        local = "airflow.dag_processing.bundles.local.LocalDagBundle"
        bundles.append(
            {"name": team, "classpath": local, "kwargs": {"path": str(folder)}, "team_name": team}
        )
    extra = {
        "AIRFLOW__CORE__MULTI_TEAM": "True",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    users = {
        "admin": ("admin", "admin"),
        "alice": ("viewer:team_a", "a"),
        "bob": ("viewer:team_b", "b"),
    }
    port = free_port()
    env = airflow_env(home, port, {}, extra, users)
    airflow = LocalAirflow(home, env, port, components=("api-server", "dag-processor"))
    airflow.migrate()
    command = [str(Path(sys.executable).parent / "airflow"), "teams", "sync"]  # from the bundles
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    try:
        rest = airflow.start()
        for dag in TEAM_DAGS.values():
            rest.wait_for_dag(dag)
        yield UI(airflow, rest)
    finally:
        airflow.stop()


def test_a_viewer_sees_waiting_tasks_of_their_teams_dags_only(teams: UI) -> None:
    ledger = Ledger()
    ledger.replace_all([], [], [])
    runs = {team: RunContext(dag, "manual__t", "task") for team, dag in TEAM_DAGS.items()}
    gate = AdmissionGate(ledger, Clock(0.0))
    for key in runs:
        gate.add(key, pod_manifest(key.replace("_", "-"), requests={"cpu": "1"}), priority=1)
    gate.next_pass()
    publish_status(teams.status_file, StatusSource.take(gate, runs, ledger))

    for user, password, dag in (("alice", "a", "kaapana_dummy"), ("bob", "b", "kaapana_fan_in")):
        shown = teams.get("/kaapana-executor/status.json", teams.rest.token(user, password))
        assert shown.status_code == 200, shown.text
        assert [t["dag_id"] for t in shown.json()["waiting"]] == [dag], user
        assert shown.json()["hidden_waiting"] == 1
    page = teams.get("/kaapana-executor/", teams.rest.token("alice", "a"))
    assert "1 more waiting task(s) belong to DAGs you may not read" in page.text
    admin = teams.get("/kaapana-executor/status.json", teams.rest.token("admin", "admin"))
    assert sorted(t["dag_id"] for t in admin.json()["waiting"]) == sorted(TEAM_DAGS.values())
