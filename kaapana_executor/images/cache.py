"""What was found in an image, kept by manifest digest: in memory and in a directory.

A digest names immutable content, so an entry never goes stale: each image is read once per
cache directory, ever. Cached is the raw outcome (the document's text, or why there is none),
not the validated model, so a newer schema re-validates old finds. Two kinds of entries:

- ``Entry``: image manifest digest -> document text or the reason it has none;
- alias: (index digest, platform) -> image manifest digest, so a multi-platform tag costs one
  HEAD request when warm, like a single-platform one.

On disk, one small JSON file per entry under ``<dir>/v1/`` written atomically (temporary
file, then rename), so concurrent processes sharing the directory never see half a file. A
file that cannot be read or does not match its name is ignored (and rewritten on the next
find); failing to write only costs a re-read later, it never fails a lookup.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kaapana_executor.images.reference import is_digest

log = logging.getLogger(__name__)
FORMAT = "v1"


@dataclass(frozen=True)
class Entry:
    """The outcome for one image manifest; ``document`` is None when the image has none."""

    digest: str
    document: str | None
    origin: str  # where the document came from, or why there is none


class MetadataCache:
    """Thread-safe; ``directory=None`` keeps entries in memory only."""

    def __init__(self, directory: Path | None, max_memory_entries: int = 4096) -> None:
        self.directory = directory
        self._max = max_memory_entries
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, Entry | str] = OrderedDict()

    def entry(self, digest: str) -> Entry | None:
        found = self._remembered(digest)
        if isinstance(found, Entry):
            return found
        loaded = self._load(self._entry_path(digest))
        if loaded is None:
            return None
        try:
            entry = Entry(**loaded)
        except TypeError:
            return None
        if entry.digest != digest:
            return None
        self._remember(digest, entry)
        return entry

    def put(self, entry: Entry) -> None:
        self._remember(entry.digest, entry)
        self._store(self._entry_path(entry.digest), asdict(entry))

    def alias(self, index_digest: str, platform: str) -> str | None:
        key = f"{index_digest} {platform}"
        found = self._remembered(key)
        if isinstance(found, str):
            return found
        loaded = self._load(self._alias_path(index_digest, platform))
        target = loaded.get("manifest") if loaded else None
        if not isinstance(target, str) or not is_digest(target):
            return None
        self._remember(key, target)
        return target

    def put_alias(self, index_digest: str, platform: str, manifest_digest: str) -> None:
        self._remember(f"{index_digest} {platform}", manifest_digest)
        self._store(self._alias_path(index_digest, platform), {"manifest": manifest_digest})

    # -- memory

    def _remembered(self, key: str) -> Entry | str | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
            return found

    def _remember(self, key: str, value: Entry | str) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self._max:
                self._memory.popitem(last=False)

    # -- disk

    def _entry_path(self, digest: str) -> Path | None:
        if self.directory is None or not is_digest(digest):
            return None
        algorithm, _, hexdigest = digest.partition(":")
        return self.directory / FORMAT / "manifests" / algorithm / f"{hexdigest}.json"

    def _alias_path(self, index_digest: str, platform: str) -> Path | None:
        if self.directory is None or not is_digest(index_digest):
            return None
        algorithm, _, hexdigest = index_digest.partition(":")
        slug = platform.replace("/", "_")
        return self.directory / FORMAT / "indexes" / algorithm / hexdigest / f"{slug}.json"

    def _load(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable image metadata cache file %s: %s", path, exc)
            return None
        return loaded if isinstance(loaded, dict) else None

    def _store(self, path: Path | None, value: dict[str, Any]) -> None:
        if path is None:
            return
        temporary: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, prefix=".tmp-", delete=False
            ) as handle:
                temporary = handle.name
                json.dump(value, handle)
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("cannot write image metadata cache file %s: %s", path, exc)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
