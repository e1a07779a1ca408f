"""Label and annotation keys on the pods this project creates: the one place they are named.

Labels are for selection (watchers, adoption, cleanup), so they hold only label-safe values;
annotations hold the exact Airflow identifiers, which may be longer or contain any character.
"""

from __future__ import annotations

import re

PREFIX = "kaapana.org"

# Labels (selectable)
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kaapana-executor"
COMPONENT = "app.kubernetes.io/component"
COMPONENT_VALUE = "processing-container"
EXECUTOR = f"{PREFIX}/executor"  # identity of the executor instance that owns the pod
DAG_ID = f"{PREFIX}/dag-id"
TASK_ID = f"{PREFIX}/task-id"
RUN_ID = f"{PREFIX}/run-id"
TRY_NUMBER = f"{PREFIX}/try-number"
MAP_INDEX = f"{PREFIX}/map-index"

# Annotations (exact values)
ANN_DAG_ID = f"{PREFIX}/dag-id"
ANN_TASK_ID = f"{PREFIX}/task-id"
ANN_RUN_ID = f"{PREFIX}/run-id"
ANN_TRY_NUMBER = f"{PREFIX}/try-number"
ANN_MAP_INDEX = f"{PREFIX}/map-index"
ANN_TI_ID = f"{PREFIX}/ti-id"
ANN_TEMPLATE = f"{PREFIX}/task-template"

#: Keys the executor sets itself and selects its pods by; a task may not set them.
RESERVED_KEYS = frozenset({MANAGED_BY, COMPONENT})


def is_reserved(key: str) -> bool:
    """Whether ``key`` (a label or annotation) belongs to the executor.

    A task that set ``app.kubernetes.io/managed-by`` took its pod away from the executor's
    watch: the task stayed running for good and the pod was never deleted.
    """
    return key in RESERVED_KEYS or key.startswith(f"{PREFIX}/")


_LABEL_INVALID = re.compile(r"[^A-Za-z0-9._-]+")
_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def label_problem(key: str, value: str) -> str | None:
    """Why ``key: value`` is not a valid Kubernetes label, or None."""
    prefix, _, name = key.rpartition("/")
    if not name or not _NAME.fullmatch(name):
        return f"label key {key!r} is not a valid name (alphanumerics, '-', '_', '.'; <= 63)"
    if prefix and (len(prefix) > 253 or not _PREFIX.fullmatch(prefix)):
        return f"label key {key!r} has an invalid prefix (a DNS subdomain)"
    if len(value) > 63 or not _NAME.fullmatch(value):
        return (
            f"label value {value!r} of {key!r} is not valid (alphanumerics, '-', '_', '.'; <= 63)"
        )
    if is_reserved(key):
        return f"label {key!r} is set by the executor itself"
    return None


def label_value(text: str) -> str:
    """A valid label value (≤ 63 chars, alphanumeric at both ends) that keeps what it can.

    Labels only narrow a selection; the exact value is always in the annotation.
    """
    value = _LABEL_INVALID.sub("_", text)[:63]
    return value.strip("._-")
