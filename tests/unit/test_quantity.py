"""Kubernetes quantities: every suffix, exponents, millicores, rounding up, formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kaapana_executor import quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", Decimal(0)),
        ("2", Decimal(2)),
        ("500m", Decimal("0.5")),
        ("1n", Decimal("1e-9")),
        ("250u", Decimal("0.00025")),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1Ki", Decimal(1024)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("123Mi", Decimal(128974848)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("129e6", Decimal(129 * 10**6)),
        ("5e-3", Decimal("0.005")),
        (".5", Decimal("0.5")),
        ("+2", Decimal(2)),
    ],
)
def test_parse_every_suffix(text: str, value: Decimal) -> None:
    assert quantity.parse(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1XB", "-1", "1.2.3", "Mi", "nan", "inf"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse(text)


def test_numbers_and_bools() -> None:
    assert quantity.parse(2) == 2
    assert quantity.parse(0.25) == Decimal("0.25")
    with pytest.raises(quantity.QuantityError):
        quantity.parse(True)


@pytest.mark.parametrize(
    ("text", "millis"),
    [("1", 1000), ("0.1", 100), ("100m", 100), ("1n", 1), ("1.0001", 1001), ("2k", 2_000_000)],
)
def test_millicores_round_up(text: str, millis: int) -> None:
    assert quantity.millicores(text) == millis


def test_whole_rounds_up() -> None:
    assert quantity.whole("1.5Ki") == 1536
    assert quantity.whole("100m") == 1
    assert quantity.whole("1Gi") == 2**30


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (1, "1"),
        (1024, "1Ki"),
        (1536, "1536"),
        (2**20, "1Mi"),
        (3 * 2**30, "3Gi"),
        (2**60, "1Ei"),
        (1000, "1000"),
    ],
)
def test_format_bytes_is_exact_and_round_trips(count: int, text: str) -> None:
    assert quantity.format_bytes(count) == text
    assert quantity.whole(text) == count


def test_format_millicores() -> None:
    assert quantity.format_millicores(1500) == "1500m"
    assert quantity.format_millicores(2000) == "2"
    assert quantity.millicores(quantity.format_millicores(1500)) == 1500
