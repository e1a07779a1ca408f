"""Kubernetes quantities: parsing with the official client, plus the integer views we compute in.

The client's ``parse_quantity`` knows every suffix (binary Ki..Ei, decimal n..E, exponents);
we add what the ledger and the scale rules need: exact integer millicores and bytes (rounded up,
as the API server rounds requests), and a compact canonical formatting of byte counts.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation

from kubernetes.utils.quantity import parse_quantity

from kaapana_executor.errors import KaapanaError

#: Binary byte units, largest first: the one table for parsing results and for formatting.
BINARY_UNITS = (
    ("Ei", 2**60),
    ("Pi", 2**50),
    ("Ti", 2**40),
    ("Gi", 2**30),
    ("Mi", 2**20),
    ("Ki", 2**10),
)


class QuantityError(KaapanaError, ValueError):
    """A string that is not a non-negative Kubernetes quantity."""


def parse(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity; numbers are taken as they are."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    elif isinstance(value, int | float):
        result = Decimal(str(value))
    else:
        try:
            result = Decimal(parse_quantity(value.strip()))
        except (ValueError, InvalidOperation, TypeError) as exc:
            raise QuantityError(f"{value!r} is not a quantity: {exc}") from None
    if not result.is_finite() or result < 0:
        raise QuantityError(f"{value!r} is not a non-negative finite quantity")
    return result


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def millicores(value: str | int | float | Decimal) -> int:
    """CPU in integer millicores, rounded up (``0.1`` → 100, ``1n`` → 1)."""
    return _ceil(parse(value) * 1000)


def whole(value: str | int | float | Decimal) -> int:
    """A count resource (memory bytes, GPUs, pods) as an integer, rounded up."""
    return _ceil(parse(value))


def format_bytes(count: int) -> str:
    """The shortest exact binary form: 1048576 → ``1Mi``; other counts stay plain bytes."""
    if count < 0:
        raise QuantityError(f"negative byte count {count}")
    for suffix, size in BINARY_UNITS:
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def describe_bytes(count: int) -> str:
    """A byte count as a person reads it (``7.5Gi``, ``-2Mi``): rounded, negatives allowed."""
    sign, size = ("-", -count) if count < 0 else ("", count)
    for suffix, unit in BINARY_UNITS:
        if size >= unit:
            whole, rest = divmod(size, unit)
            if rest == 0:
                return f"{sign}{whole}{suffix}"
            return f"{sign}{size / unit:.1f}{suffix}"
    return f"{sign}{size}"


def format_millicores(count: int) -> str:
    """``1500`` → ``1500m``, ``2000`` → ``2``."""
    return str(count // 1000) if count % 1000 == 0 else f"{count}m"


def round_up_bytes(count: int, unit: int = 2**20) -> int:
    """Round a byte count up to a multiple of ``unit`` (MiB by default) for readable limits."""
    return -(-count // unit) * unit
