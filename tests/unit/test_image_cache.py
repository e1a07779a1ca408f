"""The digest cache: memory, a directory shared by instances, and damage it survives."""

from __future__ import annotations

import json
from pathlib import Path

from kaapana_executor.images.cache import Entry, MetadataCache

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
INDEX = "sha256:" + "9" * 64


def test_entries_and_aliases_survive_in_the_directory(tmp_path: Path) -> None:
    first = MetadataCache(tmp_path)
    first.put(Entry(D1, '{"name": "x"}', "label"))
    first.put(Entry(D2, None, "deleted in layer 2/2"))
    first.put_alias(INDEX, "linux/arm64/v8", D2)

    second = MetadataCache(tmp_path)

    assert second.entry(D1) == Entry(D1, '{"name": "x"}', "label")
    assert second.entry(D2) == Entry(D2, None, "deleted in layer 2/2")
    assert second.alias(INDEX, "linux/arm64/v8") == D2
    assert second.alias(INDEX, "linux/amd64") is None
    assert (tmp_path / "v1/manifests/sha256" / f"{'1' * 64}.json").is_file()


def test_memory_only_cache_forgets_with_the_instance(tmp_path: Path) -> None:
    memory = MetadataCache(None)
    memory.put(Entry(D1, "{}", "label"))

    assert memory.entry(D1) == Entry(D1, "{}", "label")
    assert MetadataCache(None).entry(D1) is None
    assert list(tmp_path.iterdir()) == []


def test_damaged_or_mismatched_files_are_misses(tmp_path: Path) -> None:
    MetadataCache(tmp_path).put(Entry(D1, "{}", "label"))
    MetadataCache(tmp_path).put(Entry(D2, "{}", "label"))
    (tmp_path / "v1/manifests/sha256" / f"{'1' * 64}.json").write_text("{not json")
    (tmp_path / "v1/manifests/sha256" / f"{'2' * 64}.json").write_text(
        json.dumps({"digest": D1, "document": "{}", "origin": "label"})
    )

    fresh = MetadataCache(tmp_path)

    assert fresh.entry(D1) is None
    assert fresh.entry(D2) is None


def test_a_file_in_the_way_of_the_directory_does_not_fail_the_lookup(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    cache = MetadataCache(blocker)

    cache.put(Entry(D1, "{}", "label"))

    assert cache.entry(D1) == Entry(D1, "{}", "label")  # still remembered in memory


def test_memory_keeps_the_most_recently_used_entries() -> None:
    cache = MetadataCache(None, max_memory_entries=2)
    cache.put(Entry(D1, "1", "label"))
    cache.put(Entry(D2, "2", "label"))
    assert cache.entry(D1) is not None  # D1 is now the most recent

    cache.put_alias(INDEX, "linux/amd64", D1)

    assert cache.entry(D2) is None
    assert cache.entry(D1) is not None
