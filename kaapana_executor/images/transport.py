"""Sending one HTTP request: timeouts, retries and byte counting. The retry policy lives here.

Retried: connection errors, timeouts, 429 and 5xx (``Retry-After`` honoured up to a cap),
otherwise exponential backoff, all within the lookup's deadline. Not retried: every other
status (the caller decides what a 401 or 404 means) and failures in the middle of a body
(a layer is not re-read from the start behind the caller's back).

The transport knows nothing about images; its two errors carry a description and the
registry client adds the image and digest when turning them into ``ImageMetadataError``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base

from kaapana_executor.images.limits import Deadline, Limits

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransportError(Exception):
    """Base of the two ways a request fails for reasons other than its status."""


class GaveUp(TransportError):
    """Transient failures (connection, timeout, 429, 5xx) outlasted the retries."""


class OutOfTime(TransportError):
    """The lookup's deadline passed before a response arrived."""


class _Transient(Exception):
    def __init__(self, description: str, retry_after: float | None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Request:
    """One request as a plain value, sent again as is on every retry."""

    method: str
    url: str
    headers: dict[str, str]
    auth: tuple[str, str] | None
    params: dict[str, str]
    stream: bool


@dataclass(frozen=True)
class Reading:
    """Requests sent and body bytes received, at one moment."""

    requests: int
    bytes: int

    def __sub__(self, other: Reading) -> Reading:
        return Reading(self.requests - other.requests, self.bytes - other.bytes)


class Meter:
    """Thread-safe counters of what the registry was asked for and sent (for tests and bench)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._bytes = 0

    def add_request(self) -> None:
        with self._lock:
            self._requests += 1

    def add_bytes(self, count: int) -> None:
        with self._lock:
            self._bytes += count

    def reading(self) -> Reading:
        with self._lock:
            return Reading(self._requests, self._bytes)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), if valid."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def backoff_seconds(attempt: int) -> float:
    """Wait after failed attempt ``attempt`` (1-based) when the server gave no Retry-After."""
    return float(min(8.0, 0.25 * 2 ** (attempt - 1)))


class _StopAtDeadline(stop_base):
    """Stop when the next wait would end after the lookup's deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self._deadline.remaining()


class Transport:
    """Sends requests through one ``requests.Session`` (shared by threads; never mutated)."""

    def __init__(
        self,
        session: requests.Session,
        limits: Limits,
        meter: Meter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._limits = limits
        self.meter = meter
        self._sleep = sleep
        self._wall_clock = wall_clock

    def send(
        self,
        method: str,
        url: str,
        deadline: Deadline,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """The first response that is not transient, or ``GaveUp``/``OutOfTime``."""
        request = _Request(method, url, dict(headers or {}), auth, dict(params or {}), stream)
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=self._wait,
            stop=stop_any(stop_after_attempt(self._limits.attempts), _StopAtDeadline(deadline)),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, request, deadline)
        except _Transient as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if attempts < self._limits.attempts:  # stopped early: the next try would be too late
                raise OutOfTime(
                    f"{method} {url}: time limit of {deadline.seconds:g} s reached "
                    f"(last attempt: {exc.description})"
                ) from None
            raise GaveUp(f"{method} {url}: {exc.description} (after {attempts} attempts)") from None

    def _attempt(self, request: _Request, deadline: Deadline) -> requests.Response:
        """One try; transient outcomes raise ``_Transient`` for tenacity to retry."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise OutOfTime(
                f"{request.method} {request.url}: time limit of {deadline.seconds:g} s reached"
            )
        timeout = (
            min(self._limits.connect_timeout, remaining),
            min(self._limits.read_timeout, remaining),
        )
        try:
            response = self._session.request(
                request.method,
                request.url,
                headers=request.headers,
                auth=request.auth,
                params=request.params,
                stream=request.stream,
                timeout=timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}", None) from None
        self.meter.add_request()
        if response.status_code in RETRY_STATUSES:
            header = response.headers.get("Retry-After")
            response.close()
            raise _Transient(
                f"{response.status_code} {response.reason}",
                retry_after_seconds(header, self._wall_clock()),
            )
        return response

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            return min(error.retry_after, self._limits.max_retry_wait)
        return backoff_seconds(state.attempt_number)
