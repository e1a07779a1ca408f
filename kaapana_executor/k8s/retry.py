"""The one retry policy for Kubernetes API calls (tenacity), classified here once.

429, 5xx and connection errors are retried with exponential backoff and jitter, honouring
``Retry-After`` (capped at 30 s); everything else is final at once. A call gives up after 8
attempts or 60 s, whichever comes first, and re-raises the last error for the caller to
translate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0


def retriable(exc: BaseException) -> bool:
    """Whether another attempt may succeed."""
    if isinstance(exc, ApiException):
        return exc.status in RETRIABLE_STATUS
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


_backoff = wait_exponential_jitter(multiplier=0.2, max=10)


def retry_after(exc: BaseException | None) -> float | None:
    """The seconds an API error's ``Retry-After`` asks for (capped), or None."""
    if isinstance(exc, ApiException) and exc.headers:
        after = exc.headers.get("Retry-After")
        if after and after.isdigit():
            return min(float(after), MAX_RETRY_AFTER)
    return None


def wait(state: RetryCallState) -> float:
    """Retry-After when the server sends one, else exponential backoff with jitter."""
    after = retry_after(state.outcome.exception() if state.outcome else None)
    return after if after is not None else float(_backoff(state))


_policy = retry(
    retry=retry_if_exception(retriable),
    wait=wait,
    stop=stop_after_attempt(8) | stop_after_delay(60),
    reraise=True,
)

P = ParamSpec("P")
R = TypeVar("R")


def api_retry(call: Callable[P, R]) -> Callable[P, R]:
    """Decorate an API call of :class:`~kaapana_executor.k8s.gateway.KubeGateway` with the
    policy (typed, so the decorated method keeps its signature)."""
    retried: Callable[P, R] = _policy(call)
    return retried
