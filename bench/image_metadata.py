"""Reading processing-container.json through the registry API versus pulling the image.

The image: a large base layer of incompressible (seeded) random bytes (200 MB by default), then a
small layer holding ``/processing-container.json``. A second image has the same base and the
document in the config label instead. Measured in one run against the local registry
(``scripts/cluster up``), each case the median of ``--repeat`` runs:

- full pull: every blob of the image downloaded and its digest checked (what a pull, or
  Kaapana's helper pod, costs at least, before a container even starts);
- layer path, uncached: a fresh cache; HEAD, manifest, config, the top layer;
- label path, uncached: HEAD, manifest, config;
- cached in memory / on disk (a new instance on the same directory): one HEAD;
- by digest, cached: no request.

    .venv/bin/python -m bench.image_metadata [--size-mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from kaapana_executor.images import LABEL, ImageMetadata
from kaapana_executor.images.manifest import ACCEPT_MANIFESTS
from kaapana_executor.images.transport import Reading
from kaapana_executor.oci.build import Image, ImageBuilder
from kaapana_executor.oci.push import PushClient
from tests.support.registry import unique_repository

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = json.dumps(
    {
        "name": "bench",
        "description": "benchmark image",
        "templates": [{"identifier": "main", "description": "the only template"}],
    }
)


@dataclass(frozen=True)
class Result:
    case: str
    requests: int
    bytes: int
    seconds: float


def registry_address() -> str:
    """``$KAAPANA_REGISTRY``, else what ``scripts/cluster env`` says (the cluster must be up)."""
    if os.environ.get("KAAPANA_REGISTRY"):
        return os.environ["KAAPANA_REGISTRY"]
    output = subprocess.run(
        [str(REPO / "scripts/cluster"), "env", "--json"], capture_output=True, text=True, check=True
    ).stdout
    address: str = json.loads(output)["KAAPANA_REGISTRY"]
    return address


def build_images(size: int) -> tuple[Image, Image]:
    # Seeded: incompressible like os.urandom, but the same blob every run, so repeated runs
    # do not fill the shared registry with 200 MB each.
    base = random.Random(size).randbytes(size)
    layered = (
        ImageBuilder().layer({"opt/base.bin": base}).layer({"processing-container.json": DOCUMENT})
    )
    labelled = ImageBuilder().layer({"opt/base.bin": base}).labels({LABEL: DOCUMENT})
    return layered.build(), labelled.layer({"etc/motd": "bench"}).build()


def full_pull(session: requests.Session, address: str, repository: str, tag: str) -> Result:
    """Manifest and every blob, streamed and verified, as a pull would."""
    base = f"http://{address}/v2/{repository}"
    started, received = time.perf_counter(), 0
    manifest = session.get(
        f"{base}/manifests/{tag}", headers={"Accept": ACCEPT_MANIFESTS}, timeout=60
    )
    manifest.raise_for_status()
    received += len(manifest.content)
    document = manifest.json()
    for descriptor in [document["config"], *document["layers"]]:
        digest = hashlib.sha256()
        with session.get(f"{base}/blobs/{descriptor['digest']}", stream=True, timeout=60) as blob:
            blob.raise_for_status()
            for chunk in blob.iter_content(1024 * 1024):
                digest.update(chunk)
                received += len(chunk)
        assert "sha256:" + digest.hexdigest() == descriptor["digest"]
    return Result(
        "full pull (all blobs)",
        2 + len(document["layers"]),
        received,
        time.perf_counter() - started,
    )


def measure(case: str, metadata: ImageMetadata, image: str) -> Result:
    before, started = metadata.meter.reading(), time.perf_counter()
    assert metadata.get(image).name == "bench"
    elapsed = time.perf_counter() - started
    cost: Reading = metadata.meter.reading() - before
    return Result(case, cost.requests, cost.bytes, elapsed)


def median(runs: list[Result]) -> Result:
    seconds = statistics.median(r.seconds for r in runs)
    return Result(runs[0].case, runs[0].requests, runs[0].bytes, seconds)


def repeat(count: int, run: Callable[[Path], Result]) -> Result:
    results = []
    for _ in range(count):
        with tempfile.TemporaryDirectory() as directory:
            results.append(run(Path(directory)))
    return median(results)


def cases(layered: str, labelled: str, digest_ref: str, count: int) -> list[Result]:
    def cold(image: str, case: str) -> Callable[[Path], Result]:
        return lambda directory: measure(case, ImageMetadata(directory), image)

    def warm(directory: Path) -> Result:
        metadata = ImageMetadata(directory)
        measure("warm-up", metadata, layered)
        return measure("cached, memory (HEAD)", metadata, layered)

    def disk(directory: Path) -> Result:
        measure("warm-up", ImageMetadata(directory), layered)
        return measure("cached, disk, new instance (HEAD)", ImageMetadata(directory), layered)

    def pinned(directory: Path) -> Result:
        measure("warm-up", ImageMetadata(directory), layered)
        return measure("cached, by digest (no request)", ImageMetadata(directory), digest_ref)

    return [
        repeat(count, cold(layered, "layer path, uncached")),
        repeat(count, cold(labelled, "label path, uncached")),
        repeat(count, warm),
        repeat(count, disk),
        repeat(count, pinned),
    ]


def table(full: Result, results: list[Result]) -> str:
    header = ("case", "requests", "bytes", "time ms", "bytes/full", "speed-up")
    lines = ["{:36} {:>8} {:>13} {:>9} {:>11} {:>9}".format(*header)]
    for result in [full, *results]:
        ratio = result.bytes / full.bytes
        speedup = full.seconds / result.seconds if result.seconds else float("inf")
        lines.append(
            f"{result.case:36} {result.requests:>8} {result.bytes:>13,} "
            f"{result.seconds * 1000:>9.1f} {ratio:>11.2e} {speedup:>8.0f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="base layer size (MB)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    address = registry_address()
    registry = PushClient(address, timeout=300)
    layered_image, labelled_image = build_images(args.size_mb * 1000 * 1000)
    repository = unique_repository("bench")
    registry.push_image(repository, "layer", layered_image)
    registry.push_image(repository, "label", labelled_image)
    layered = registry.reference(repository, "layer")
    labelled = registry.reference(repository, "label")
    digest_ref = registry.reference(repository, layered_image.digest)
    with requests.Session() as session:
        full = median(
            [full_pull(session, address, repository, "layer") for _ in range(args.repeat)]
        )
    results = cases(layered, labelled, digest_ref, args.repeat)
    base = layered_image.layers[0].size
    print(f"registry {address}, repository {repository}")
    print(f"base layer {base:,} bytes (gzip of {args.size_mb} MB random), median of {args.repeat}")
    print(table(full, results))


if __name__ == "__main__":
    main()
