"""Pod names: valid DNS-1123 labels, unique per (dag, run, task, map index, try).

Names must be deterministic (a restarted scheduler finds its pods again, and a retry never
collides with the previous try's pod) and readable. The readable part (dag and task ids) is
truncated to fit 63 characters; uniqueness comes from a hash of the full identity, so two long
ids that share a prefix still get different names.
"""

from __future__ import annotations

import base64
import hashlib
import re

MAX_LENGTH = 63
_HASH_CHARS = 10  # base32: 50 bits; ~1e-7 chance of any collision among 10,000 names
_INVALID = re.compile(r"[^a-z0-9-]+")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _slug(text: str) -> str:
    return _INVALID.sub("-", text.lower()).strip("-")


def identity_hash(*parts: str | int) -> str:
    """Short lowercase base32 hash of the parts, unambiguous about where each part ends."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:_HASH_CHARS]


def pod_name(dag_id: str, task_id: str, run_id: str, map_index: int, try_number: int) -> str:
    """``<dag>-<task>-<try>-<hash>``, at most 63 characters, a valid DNS-1123 label."""
    suffix = f"-t{try_number}-{identity_hash(dag_id, task_id, run_id, map_index, try_number)}"
    readable = re.sub(r"-{2,}", "-", _slug(f"{dag_id}-{task_id}"))
    readable = readable[: MAX_LENGTH - len(suffix)].rstrip("-") or "task"
    return f"{readable}{suffix}"
