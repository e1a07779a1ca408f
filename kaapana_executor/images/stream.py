"""A blob as a file object that checks what it delivers: digest, size, budget and deadline.

The layer scanner reads a blob through ``tarfile`` in stream mode and never holds more than
a buffer of it. This reader hashes every byte on the way; at the end of the blob it compares
size and digest with the descriptor, so content from a corrupt or tampered blob is never
returned (the caller drains the rest with ``finish()`` before trusting a find).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import requests

from kaapana_executor.images.errors import CorruptBlob, LimitExceeded, RegistryUnavailable
from kaapana_executor.images.limits import Deadline
from kaapana_executor.images.manifest import Descriptor
from kaapana_executor.images.reference import digest_hasher

CHUNK = 64 * 1024


class Budget:
    """Bytes one lookup may still read from a class of blobs (e.g. all layers)."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.spent = 0

    def spend(self, count: int) -> bool:
        """Record ``count`` bytes; False once the budget is exceeded."""
        self.spent += count
        return self.spent <= self.limit


class VerifiedStream(io.RawIOBase):
    """Reads ``chunks`` of the blob ``descriptor``; errors name ``image`` and ``digest``."""

    def __init__(
        self,
        chunks: Iterator[bytes],
        descriptor: Descriptor,
        *,
        image: str,
        digest: str | None,
        deadline: Deadline,
        budget: Budget,
        on_bytes: Callable[[int], None],
        label: str,
    ) -> None:
        super().__init__()
        self._chunks = chunks
        self._descriptor = descriptor
        self._image = image
        self._digest = digest
        self._deadline = deadline
        self._budget = budget
        self._on_bytes = on_bytes
        self._label = label
        self._hasher = digest_hasher(descriptor.digest)
        self._received = 0
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = memoryview(self._next_chunk())
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def finish(self) -> None:
        """Read to the end of the blob and verify it (what a partial reader leaves unread)."""
        self._pending = memoryview(b"")
        while self._next_chunk():
            pass

    @property
    def received(self) -> int:
        return self._received

    def _next_chunk(self) -> bytes:
        if self._done:
            return b""
        self._deadline.check(self._image, self._digest, f"reading {self._label}")
        try:
            chunk = next(self._chunks, b"")
        except (requests.RequestException, OSError) as exc:
            raise RegistryUnavailable(
                self._image, f"connection broke while reading {self._label}: {exc}", self._digest
            ) from None
        if not chunk:
            self._verify()
            return b""
        self._received += len(chunk)
        self._on_bytes(len(chunk))
        if self._received > self._descriptor.size:
            raise CorruptBlob(
                self._image,
                f"{self._label} is longer than its descriptor's {self._descriptor.size} bytes",
                self._digest,
            )
        if not self._budget.spend(len(chunk)):
            raise LimitExceeded(
                self._image,
                f"read more than {self._budget.limit} bytes of {self._budget.what}",
                self._digest,
            )
        self._hasher.update(chunk)
        return chunk

    def _verify(self) -> None:
        self._done = True
        if self._received != self._descriptor.size:
            raise CorruptBlob(
                self._image,
                f"{self._label} has {self._received} bytes, its descriptor says "
                f"{self._descriptor.size}",
                self._digest,
            )
        actual = f"{self._descriptor.digest.partition(':')[0]}:{self._hasher.hexdigest()}"
        if actual != self._descriptor.digest:
            raise CorruptBlob(
                self._image,
                f"{self._label} does not match its digest (content is {actual})",
                self._digest,
            )


def response_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body in chunks; the response is closed when the iterator is exhausted or dropped."""
    try:
        yield from response.iter_content(CHUNK)
    finally:
        response.close()
