"""Pod names: DNS-1123 labels, ≤ 63 characters, deterministic, unique per try."""

from __future__ import annotations

import random
import string

from kaapana_executor.k8s.names import DNS1123_LABEL, MAX_LENGTH, pod_name


def test_short_names_stay_readable() -> None:
    name = pod_name("dummy", "upstream", "manual__2026-01-01T00:00:00+00:00", -1, 1)
    assert name.startswith("dummy-upstream-t1-")
    assert DNS1123_LABEL.fullmatch(name)


def test_deterministic() -> None:
    args = ("dag", "task", "run", 3, 2)
    assert pod_name(*args) == pod_name(*args)


def test_each_part_of_the_identity_changes_the_name() -> None:
    base = ("dag", "task", "run", -1, 1)
    variants = [
        ("dag2", "task", "run", -1, 1),
        ("dag", "task2", "run", -1, 1),
        ("dag", "task", "run2", -1, 1),
        ("dag", "task", "run", 0, 1),
        ("dag", "task", "run", -1, 2),
    ]
    names = {pod_name(*base), *(pod_name(*v) for v in variants)}
    assert len(names) == 6


def test_part_boundaries_matter() -> None:
    assert pod_name("a-b", "c", "r", -1, 1) != pod_name("a", "b-c", "r", -1, 1)


def test_odd_characters_and_empty_readable_part() -> None:
    for dag, task in [("ÄÖÜ", "___"), ("", ""), ("UPPER.case", "x.y_z"), ("-", "-")]:
        name = pod_name(dag, task, "r", -1, 1)
        assert DNS1123_LABEL.fullmatch(name), name
        assert len(name) <= MAX_LENGTH


def test_ten_thousand_long_names_are_valid_and_unique() -> None:
    rng = random.Random(1234)
    alphabet = string.ascii_letters + string.digits + "_-.:+ äß"
    shared_prefix = "a-very-long-dag-id-shared-by-everything-" * 3
    names = set()
    for i in range(10_000):
        dag = shared_prefix + "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        task = shared_prefix + "".join(rng.choices(alphabet, k=rng.randint(1, 80)))
        name = pod_name(dag, task, f"run-{i % 7}", rng.randint(-1, 3), rng.randint(1, 4))
        assert len(name) <= MAX_LENGTH
        assert DNS1123_LABEL.fullmatch(name), name
        names.add(name)
    assert len(names) == 10_000
