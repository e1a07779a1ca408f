"""Retries against a real local HTTP server: Retry-After honoured, budgets and deadlines kept."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import pytest
import requests

from kaapana_executor.images.client import scheme_for
from kaapana_executor.images.limits import Deadline, Limits
from kaapana_executor.images.transport import (
    GaveUp,
    Meter,
    OutOfTime,
    Reading,
    Transport,
    backoff_seconds,
    retry_after_seconds,
)
from tests.support.images import Reply, ScriptedServer, free_port


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


def _transport(
    session: requests.Session, waits: list[float], limits: Limits | None = None
) -> Transport:
    return Transport(session, limits or Limits(), Meter(), sleep=waits.append)


def test_retry_after_is_honoured_then_backoff_is_exponential(session: requests.Session) -> None:
    server = ScriptedServer(
        [Reply(429, {"Retry-After": "3"}), Reply(503), Reply(502), Reply(200)], upstream=None
    )
    waits: list[float] = []
    try:
        response = _transport(session, waits).send(
            "GET", f"http://{server.address}/v2/", Deadline(60)
        )
    finally:
        server.close()

    assert response.status_code == 200
    assert waits == [3.0, 0.5, 1.0]
    assert len(server.seen) == 4


def test_persistent_failures_give_up_naming_the_status(session: requests.Session) -> None:
    server = ScriptedServer([Reply(503)], repeat_last=True)
    waits: list[float] = []
    try:
        with pytest.raises(GaveUp) as raised:
            _transport(session, waits, Limits(attempts=3)).send(
                "GET", f"http://{server.address}/v2/x", Deadline(60)
            )
    finally:
        server.close()

    assert str(raised.value).endswith("/v2/x: 503 Service Unavailable (after 3 attempts)")
    assert len(waits) == 2


def test_a_retry_after_beyond_the_deadline_stops_early(session: requests.Session) -> None:
    server = ScriptedServer([Reply(429, {"Retry-After": "120"})], repeat_last=True)
    waits: list[float] = []
    try:
        with pytest.raises(OutOfTime, match=r"time limit of 5 s reached .*429"):
            _transport(session, waits, Limits(max_retry_wait=300)).send(
                "GET", f"http://{server.address}/v2/", Deadline(5)
            )
    finally:
        server.close()

    assert waits == []


def test_refused_connections_are_retried_then_given_up(session: requests.Session) -> None:
    waits: list[float] = []

    with pytest.raises(GaveUp, match="ConnectionError"):
        _transport(session, waits, Limits(attempts=2)).send(
            "GET", f"http://127.0.0.1:{free_port()}/v2/", Deadline(30)
        )

    assert waits == [0.25]


def test_slow_answers_hit_the_read_timeout(session: requests.Session) -> None:
    server = ScriptedServer([Reply(200, delay=1.0)], repeat_last=True)
    try:
        with pytest.raises(GaveUp, match="ReadTimeout"):
            _transport(session, [], Limits(attempts=1, read_timeout=0.3)).send(
                "GET", f"http://{server.address}/v2/", Deadline(30)
            )
    finally:
        server.close()


def test_the_meter_counts_requests() -> None:
    meter = Meter()
    meter.add_request()
    meter.add_bytes(10)
    before = meter.reading()
    meter.add_request()
    meter.add_bytes(5)

    assert meter.reading() - before == Reading(1, 5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (email.utils.formatdate(1_000_030, usegmt=True), 30.0),
        (email.utils.formatdate(999_000, usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=1_000_000.0) == expected


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_seconds(n) for n in range(1, 8)] == [0.25, 0.5, 1, 2, 4, 8, 8]


@pytest.mark.parametrize(
    ("host", "plain", "scheme"),
    [
        ("127.0.0.1:35000", (), "http"),
        ("localhost:5000", (), "http"),
        ("[::1]:5000", (), "http"),
        ("registry-1.docker.io", (), "https"),
        ("reg.example.com:5000", (), "https"),
        ("reg.example.com:5000", ("reg.example.com:5000",), "http"),
        ("10.0.0.5:5000", (), "https"),
    ],
)
def test_plain_http_only_for_loopback_and_listed_registries(
    host: str, plain: tuple[str, ...], scheme: str
) -> None:
    assert scheme_for(host, plain) == scheme
