"""A blob stream delivers only verified content: digest, size, budget and deadline."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from kaapana_executor.images.errors import CorruptBlob, LimitExceeded
from kaapana_executor.images.limits import Deadline
from kaapana_executor.images.manifest import Descriptor
from kaapana_executor.images.stream import Budget, VerifiedStream

DATA = bytes(range(256)) * 40


def _descriptor(data: bytes = DATA, size: int | None = None) -> Descriptor:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return Descriptor("application/octet-stream", digest, len(data) if size is None else size)


def _stream(
    served: bytes,
    descriptor: Descriptor,
    *,
    budget: int = 1 << 20,
    deadline: Deadline | None = None,
    counted: list[int] | None = None,
) -> VerifiedStream:
    chunks: Iterator[bytes] = (served[i : i + 1000] for i in range(0, len(served), 1000))
    return VerifiedStream(
        chunks,
        descriptor,
        image="reg/img:v1",
        digest="sha256:" + "e" * 64,
        deadline=deadline or Deadline(60),
        budget=Budget(budget, "layers"),
        on_bytes=(counted if counted is not None else []).append,
        label="layer 1/1",
    )


def test_matching_content_reads_back_and_counts_every_byte() -> None:
    counted: list[int] = []
    stream = _stream(DATA, _descriptor(), counted=counted)

    assert stream.read() == DATA
    assert sum(counted) == len(DATA) == stream.received


def test_finish_verifies_what_a_partial_reader_left() -> None:
    stream = _stream(DATA, _descriptor())
    assert stream.read(10) == DATA[:10]

    stream.finish()

    assert stream.received == len(DATA)


def test_changed_content_is_a_digest_mismatch_at_the_end() -> None:
    changed = DATA[:-1] + b"\x00"
    stream = _stream(changed, _descriptor())
    assert stream.read(100) == changed[:100]  # the beginning is not yet known to be bad

    with pytest.raises(CorruptBlob) as raised:
        stream.finish()

    text = str(raised.value)
    assert text.startswith(f"reg/img:v1 (sha256:{'e' * 64}): corrupt content: layer 1/1 ")
    assert "does not match its digest (content is sha256:" in text


@pytest.mark.parametrize(
    ("served", "size", "message"),
    [(DATA[:-10], None, "has 10230 bytes, its descriptor says 10240"), (DATA, 5000, "longer")],
)
def test_sizes_other_than_the_descriptor_are_corrupt(
    served: bytes, size: int | None, message: str
) -> None:
    with pytest.raises(CorruptBlob, match=message):
        _stream(served, _descriptor(DATA, size)).read()


def test_the_budget_stops_reading() -> None:
    with pytest.raises(LimitExceeded, match="read more than 3000 bytes of layers"):
        _stream(DATA, _descriptor(), budget=3000).read()


def test_the_deadline_stops_reading() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    with pytest.raises(LimitExceeded, match="time limit of 5 s reached while reading layer 1/1"):
        _stream(DATA, _descriptor(), deadline=Deadline(5, clock)).read()
