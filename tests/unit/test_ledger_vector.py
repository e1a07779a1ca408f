"""ResourceVector: parsing in ledger units, exact integer math, fit and shortfall, messages."""

from __future__ import annotations

import pytest

from kaapana_executor.ledger.vector import ResourceVector, format_amount

GI = 2**30
V = ResourceVector.of


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"cpu": "500m", "memory": "1Gi"}, {"cpu": 500, "memory": GI}),
        ({"cpu": "2", "pods": "110"}, {"cpu": 2000, "pods": 110}),
        ({"cpu": "0.1", "nvidia.com/gpu": "1"}, {"cpu": 100, "nvidia.com/gpu": 1}),
        ({"cpu": "1n"}, {"cpu": 1}),  # rounded up, as the API server does
        (
            {"memory": "1.5Gi", "ephemeral-storage": "10G"},
            {"memory": 3 * 2**29, "ephemeral-storage": 10**10},
        ),
        ({"cpu": "0", "memory": "0"}, {}),  # zeros are not stored
        (None, {}),
    ],
)
def test_from_k8s_in_ledger_units(mapping: dict[str, str] | None, expected: dict[str, int]) -> None:
    assert ResourceVector.from_k8s(mapping).as_dict() == expected


@pytest.mark.parametrize(
    ("left", "right", "total", "difference"),
    [
        (V(cpu=1000), V(cpu=500), V(cpu=1500), V(cpu=500)),
        (V(cpu=1000), V(memory=GI), V(cpu=1000, memory=GI), V(cpu=1000, memory=-GI)),
        (V(cpu=1000, pods=1), V(cpu=1000, pods=1), V(cpu=2000, pods=2), V()),
        (V(), V(), V(), V()),
    ],
)
def test_add_and_sub_are_exact(
    left: ResourceVector, right: ResourceVector, total: ResourceVector, difference: ResourceVector
) -> None:
    assert left + right == total
    assert left - right == difference
    assert (left + right) - right == left
    assert (left - right).is_zero() == (left == right)


@pytest.mark.parametrize(
    ("need", "have", "fits", "shortfall"),
    [
        (V(cpu=1000), V(cpu=1000, memory=GI), True, {}),
        (V(cpu=1001), V(cpu=1000), False, {"cpu": 1}),
        (V(cpu=500, memory=2 * GI), V(cpu=4000, memory=GI), False, {"memory": GI}),
        (V({"nvidia.com/gpu": 1}), V(cpu=16000), False, {"nvidia.com/gpu": 1}),
        (V(), V(cpu=-1000), True, {}),  # asking nothing fits even an over-committed node
        (V(cpu=100), V(cpu=-1000), False, {"cpu": 1100}),
    ],
)
def test_fits_in_and_shortfall(
    need: ResourceVector, have: ResourceVector, fits: bool, shortfall: dict[str, int]
) -> None:
    assert need.fits_in(have) is fits
    assert need.shortfall(have) == shortfall


def test_maximum_is_per_resource() -> None:
    assert V(cpu=2000, memory=GI).maximum(V(cpu=1000, memory=4 * GI)) == V(cpu=2000, memory=4 * GI)


def test_equal_vectors_hash_alike_whatever_the_order() -> None:
    one = ResourceVector((("memory", GI), ("cpu", 1000)))
    other = ResourceVector.of({"cpu": 1000, "memory": GI, "pods": 0})
    assert one == other and hash(one) == hash(other)


@pytest.mark.parametrize(
    ("name", "amount", "text"),
    [
        ("cpu", 4000, "4 CPU"),
        ("cpu", 1500, "1500m CPU"),
        ("memory", 8 * GI, "8Gi memory"),
        ("memory", 7 * GI + GI // 2, "7.5Gi memory"),
        ("memory", 100, "100 memory"),
        ("pods", 1, "1 pod"),
        ("pods", 3, "3 pods"),
        ("nvidia.com/gpu", 2, "2 nvidia.com/gpu"),
        ("limits.memory", GI, "1Gi limits.memory"),
    ],
)
def test_format_amount(name: str, amount: int, text: str) -> None:
    assert format_amount(name, amount) == text


def test_describe_puts_cpu_and_memory_first_and_clamped_drops_negatives() -> None:
    vector = V({"nvidia.com/gpu": 1, "pods": 2, "memory": GI, "cpu": 500})
    assert vector.describe() == "500m CPU, 1Gi memory, 1 nvidia.com/gpu, 2 pods"
    assert V(cpu=-500, memory=GI).clamped() == V(memory=GI)
    assert vector.describe(["cpu"]) == "500m CPU"
