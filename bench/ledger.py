"""Resource-ledger benchmark: admission pass cost at scale, and packing quality on a trace.

Run: ``.venv/bin/python -m bench.ledger [--tasks 10000 --nodes 1000 --trace 1500 --seed 1]``
(no cluster needed: nodes and pods are real ``V1Node``/``V1Pod`` objects fed to the ledger).

(a) One admission pass (``plan``) over N waiting tasks against M nodes that are already
    mostly full (the state in which thousands of tasks wait), plus the cost of one watch
    event (``apply_pod``) and of the ``snapshot`` that follows it. Median of repeated runs.
(b) A synthetic batch trace (mixed CPU/memory/GPU sizes and durations, all submitted at
    t=0) on a 20-node cluster of mixed shapes, simulated event by event:
    - ``ledger``: our plan, pods placed where the plan says;
    - ``kaapana``: Kaapana's gate (launch when the *first* node's free memory, counting
      only pods bound there, covers the task's memory request), then kube-scheduler's
      behaviour for the launched pods (each pending pod goes to the eligible node with the
      most free room once one fits; until then it sits Pending);
    - ``ffd``: an offline reference that knows every task up front and, whenever room
      frees, starts the remaining tasks in first-fit-decreasing order (largest first).
    Reported: makespan, CPU and memory utilisation, makespan relative to FFD and to the
    trivial lower bound (total work / capacity), and pending pods (launched, not bound).
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client

from kaapana_executor.ledger.admission import Policy, Waiting, plan
from kaapana_executor.ledger.demand import Demand, Placement, Toleration
from kaapana_executor.ledger.eligibility import ineligible
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.node import NodeInfo
from kaapana_executor.ledger.snapshot import NodeState, Snapshot
from kaapana_executor.ledger.vector import CPU, GPU, MEMORY, ZERO, ResourceVector

GI = 2**30
GPU_TAINT = client.V1Taint(key=GPU, value="present", effect="NoSchedule")
GPU_PLACEMENT = Placement(tolerations=(Toleration(GPU, "Exists", "", "NoSchedule"),))
SHAPES = [  # (cpu millicores, memory GiB, gpus, weight)
    (500, 1, 0, 20),
    (1000, 2, 0, 20),
    (1000, 4, 0, 10),
    (2000, 4, 0, 10),
    (2000, 8, 0, 8),
    (4000, 8, 0, 8),
    (4000, 16, 0, 6),
    (6000, 24, 0, 4),
    (8000, 16, 0, 3),
    (12000, 48, 0, 2),
    (4000, 16, 1, 5),
    (8000, 32, 2, 2),
]


def node_obj(name: str, cpu: int, memory_gi: int, gpus: int = 0) -> client.V1Node:
    allocatable = {"cpu": str(cpu), "memory": f"{memory_gi}Gi", "pods": "110"}
    if gpus:
        allocatable[GPU] = str(gpus)
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels={}),
        spec=client.V1NodeSpec(taints=[GPU_TAINT] if gpus else None),
        status=client.V1NodeStatus(
            allocatable=allocatable,
            conditions=[client.V1NodeCondition(type="Ready", status="True")],
        ),
    )


def pod_obj(name: str, node: str | None, cpu_m: int, memory_gi: int) -> client.V1Pod:
    requests = {"cpu": f"{cpu_m}m", "memory": f"{memory_gi}Gi"}
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace="tenant"),
        spec=client.V1PodSpec(
            node_name=node,
            containers=[
                client.V1Container(
                    name="c", resources=client.V1ResourceRequirements(requests=requests)
                )
            ],
        ),
        status=client.V1PodStatus(phase="Running"),
    )


def demand_of(rng: random.Random, arrival: float, priority: int = 0) -> Demand:
    cpu, mem, gpus, _ = rng.choices(SHAPES, weights=[s[3] for s in SHAPES])[0]
    amounts = {CPU: cpu, MEMORY: mem * GI, "pods": 1}
    if gpus:
        amounts[GPU] = gpus
    return Demand(
        ResourceVector.of(amounts),
        placement=GPU_PLACEMENT if gpus else Placement(),
        priority=priority,
        arrival=arrival,
    )


def timed(run: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- (a) pass cost -----------------------------------------------------------------------
def bench_pass(tasks: int, nodes: int, seed: int, repeat: int) -> None:
    rng = random.Random(seed)
    node_list, pods = [], []
    for i in range(nodes):
        kind = i % 10
        cpu, mem, gpus = (16, 64, 2) if kind == 9 else (16, 64, 0) if kind >= 6 else (8, 32, 0)
        name = f"node-{i:04d}"
        node_list.append(node_obj(name, cpu, mem, gpus))
        used = rng.uniform(0.7, 1.0)  # a loaded cluster: that is when tasks wait
        for j in range(int(cpu * used) // 2):
            pods.append(pod_obj(f"{name}-p{j}", name, 2000, min(mem // cpu * 2, 8)))
    ledger = Ledger()
    build = time.perf_counter()
    ledger.replace_all(node_list, pods, [])
    build = time.perf_counter() - build
    waiting = [
        Waiting(i, demand_of(rng, arrival=rng.uniform(0, 600), priority=rng.randrange(4)))
        for i in range(tasks)
    ]
    snapshot = ledger.snapshot()
    result = plan(waiting, snapshot, 600.0)
    pass_time = timed(lambda: plan(waiting, snapshot, 600.0), repeat)

    flip = [pod_obj("churn", "node-0001", 1000, 1), pod_obj("churn", None, 1000, 1)]
    counter = iter(range(10**9))
    event_time = timed(lambda: ledger.apply_pod(flip[next(counter) % 2]), repeat * 50)

    def event_and_snapshot() -> None:
        ledger.apply_pod(flip[next(counter) % 2])
        ledger.snapshot()

    snap_time = timed(event_and_snapshot, repeat)
    print(f"(a) one admission pass: {tasks} waiting tasks, {nodes} nodes, {len(pods)} bound pods")
    print(f"    {'plan() per pass':<38} {pass_time * 1000:8.1f} ms   (target < 50 ms)")
    print(
        f"    {'  admitted / waiting / never':<38} {len(result.admit)} / {len(result.waiting)} "
        f"/ {len(result.never)}"
    )
    print(f"    {'apply_pod (one watch event)':<38} {event_time * 1e6:8.1f} µs")
    print(f"    {'apply_pod + snapshot()':<38} {snap_time * 1000:8.2f} ms")
    print(f"    {'initial replace_all (relist)':<38} {build * 1000:8.0f} ms")


# --- (b) packing quality on a trace ------------------------------------------------------
@dataclass(frozen=True)
class Task:
    id: int
    demand: Demand
    duration: float


class Cluster:
    """Simulated nodes: free room per node, changed only by starting and ending tasks."""

    def __init__(self, infos: list[NodeInfo]) -> None:
        self.infos = {info.name: info for info in infos}
        self.free = {info.name: info.allocatable for info in infos}
        self.first = infos[0].name
        self._eligible: dict[Placement, list[str]] = {}

    def eligible(self, placement: Placement) -> list[str]:
        if placement not in self._eligible:
            self._eligible[placement] = [
                name for name, info in self.infos.items() if ineligible(info, placement) is None
            ]
        return self._eligible[placement]

    def snapshot(self) -> Snapshot:
        return Snapshot(
            nodes=tuple(
                NodeState(info, info.allocatable - self.free[name], ZERO, self.free[name])
                for name, info in self.infos.items()
            )
        )


class LedgerPolicy:
    name = "ledger"

    def __init__(self, tasks: list[Task], cluster: Cluster) -> None:
        self.waiting = {t.id: t for t in tasks}
        self.cluster = cluster

    def step(self, now: float) -> list[tuple[Task, str]]:
        items = [Waiting(t.id, t.demand) for t in self.waiting.values()]
        result = plan(items, self.cluster.snapshot(), now, Policy(aging_seconds=60))
        for key in result.never:
            del self.waiting[key]
        return [(self.waiting.pop(key), node) for key, node in result.admit]

    def pending(self) -> int:
        return 0


class KaapanaPolicy:
    """First node only, memory only, pods not yet bound ignored; kube-scheduler places."""

    name = "kaapana"

    def __init__(self, tasks: list[Task], cluster: Cluster) -> None:
        self.queue = list(tasks)
        self.launched: list[Task] = []
        self.cluster = cluster

    def step(self, now: float) -> list[tuple[Task, str]]:
        first_free_memory = self.cluster.free[self.cluster.first].get(MEMORY)
        still = []
        for task in self.queue:
            if task.demand.requests.get(MEMORY) <= first_free_memory:
                self.launched.append(task)
            else:
                still.append(task)
        self.queue = still
        started, pending = [], []
        for task in self.launched:
            node = self._least_allocated(task)
            if node is None:
                pending.append(task)
            else:
                started.append((task, node))
                self.cluster.free[node] = self.cluster.free[node] - task.demand.requests
        self.launched = pending
        for task, node in started:  # the simulation subtracts again when it starts them
            self.cluster.free[node] = self.cluster.free[node] + task.demand.requests
        return started

    def _least_allocated(self, task: Task) -> str | None:
        best, best_score = None, -1.0
        for name in self.cluster.eligible(task.demand.placement):
            free = self.cluster.free[name]
            if task.demand.requests.fits_in(free):
                alloc = self.cluster.infos[name].allocatable
                score = free.get(CPU) / alloc.get(CPU) + free.get(MEMORY) / alloc.get(MEMORY)
                if score > best_score:
                    best, best_score = name, score
        return best

    def pending(self) -> int:
        return len(self.launched)


class FirstFitDecreasing:
    """Offline reference: all tasks known; whenever room frees, largest first, first fit."""

    name = "ffd (offline)"

    def __init__(self, tasks: list[Task], cluster: Cluster) -> None:
        self.cluster = cluster
        self.order = sorted(tasks, key=self._size, reverse=True)

    def _size(self, task: Task) -> float:
        r = task.demand.requests
        return max(r.get(CPU) / 16000, r.get(MEMORY) / (64 * GI), r.get(GPU) / 2)

    def step(self, now: float) -> list[tuple[Task, str]]:
        started, rest = [], []
        free = self.cluster.free
        for task in self.order:
            node = next(
                (
                    n
                    for n in self.cluster.eligible(task.demand.placement)
                    if task.demand.requests.fits_in(free[n])
                ),
                None,
            )
            if node is None:
                rest.append(task)
            else:
                started.append((task, node))
                free[node] = free[node] - task.demand.requests
        for task, node in started:
            free[node] = free[node] + task.demand.requests
        self.order = rest
        return started

    def pending(self) -> int:
        return 0


@dataclass
class Outcome:
    makespan: float
    mean_wait: float
    pending_seconds: float
    max_pending: int


def simulate(policy_type: type, tasks: list[Task], infos: list[NodeInfo]) -> Outcome:
    cluster = Cluster(infos)
    policy = policy_type(tasks, cluster)
    now, waits = 0.0, []
    ends: list[tuple[float, int, str, ResourceVector]] = []
    pending_seconds, max_pending = 0.0, 0
    while True:
        for task, node in policy.step(now):
            cluster.free[node] = cluster.free[node] - task.demand.requests
            heapq.heappush(ends, (now + task.duration, task.id, node, task.demand.requests))
            waits.append(now)
        max_pending = max(max_pending, policy.pending())
        if not ends:
            break
        end = ends[0][0]
        pending_seconds += policy.pending() * (end - now)
        now = end
        while ends and ends[0][0] == now:
            _, _, node, requests = heapq.heappop(ends)
            cluster.free[node] = cluster.free[node] + requests
    return Outcome(now, statistics.fmean(waits), pending_seconds, max_pending)


def bench_trace(count: int, seed: int) -> None:
    rng = random.Random(seed)
    shapes = [(8, 32, 0)] * 8 + [(16, 64, 0)] * 8 + [(16, 64, 2)] * 4
    infos = [NodeInfo.from_node(node_obj(f"n{i:02d}", *s)) for i, s in enumerate(shapes)]
    tasks = [
        Task(i, demand_of(rng, arrival=0.0), rng.choice((1, 2, 3)) * rng.uniform(30, 300))
        for i in range(count)
    ]
    capacity = ZERO
    for info in infos:
        capacity = capacity + info.allocatable
    work = {
        r: sum(t.demand.requests.get(r) * t.duration for t in tasks) for r in (CPU, MEMORY, GPU)
    }
    longest = max(t.duration for t in tasks)
    bound = max(longest, *(work[r] / capacity.get(r) for r in work))
    outcomes = {
        p.name: simulate(p, tasks, infos) for p in (FirstFitDecreasing, LedgerPolicy, KaapanaPolicy)
    }
    reference = outcomes[FirstFitDecreasing.name].makespan
    gpu_tasks = sum(1 for t in tasks if t.demand.requests.get(GPU))
    print(
        f"\n(b) trace: {count} tasks at t=0 ({len(SHAPES)} shapes, {gpu_tasks} "
        f"with GPUs), 20 nodes (8x 8CPU/32Gi, 8x 16CPU/64Gi, 4x 16CPU/64Gi/2GPU tainted)"
    )
    print(f"    lower bound (work / capacity): {bound:,.0f} s")
    header = (
        "policy",
        "makespan s",
        "vs FFD",
        "vs bound",
        "CPU util",
        "mem util",
        "mean wait s",
        "pending pod-s",
        "max pending",
    )
    print("    " + " ".join(f"{h:>13}" for h in header))
    for name, out in outcomes.items():
        row = (
            name,
            f"{out.makespan:,.0f}",
            f"{reference / out.makespan:.1%}",
            f"{bound / out.makespan:.1%}",
            f"{work[CPU] / (capacity.get(CPU) * out.makespan):.1%}",
            f"{work[MEMORY] / (capacity.get(MEMORY) * out.makespan):.1%}",
            f"{out.mean_wait:,.0f}",
            f"{out.pending_seconds:,.0f}",
            str(out.max_pending),
        )
        print("    " + " ".join(f"{c:>13}" for c in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--trace", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    bench_pass(args.tasks, args.nodes, args.seed, args.repeat)
    bench_trace(args.trace, args.seed)


if __name__ == "__main__":
    main()
