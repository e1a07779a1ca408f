"""Build the example processing-container images (no Docker) and push them to a registry.

Each image is a real userland (Debian's static busybox, :mod:`kaapana_executor.oci.busybox`)
plus one layer with the image's scripts (``bin/*.sh`` → ``/opt/<name>/``) and its
processing-container.json. The document is in the image twice, as Kaapana images should carry
it: as the file ``/processing-container.json`` and in the config label the executor reads first
(one small blob instead of a layer). The images run as the unprivileged user 1000, like
hardened processing containers do, so every run also shows that a non-root container can write
its output channels.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kaapana_executor.images.locate import LABEL
from kaapana_executor.oci.build import File, Image, ImageBuilder
from kaapana_executor.oci.busybox import USER, with_userland
from kaapana_executor.oci.push import PushClient

HERE = Path(__file__).parent
IMAGES = {"dummy": "kaapana/dummy", "toolbox": "kaapana/toolbox"}
TAG = "1"


def build_example(name: str) -> Image:
    """The image of ``examples/images/<name>``."""
    folder = HERE / name
    document = (folder / "processing-container.json").read_text()
    scripts = {
        f"opt/{name}/{script.name}": File(script.read_bytes(), mode=0o755)
        for script in sorted((folder / "bin").glob("*.sh"))
    }
    return (
        with_userland(ImageBuilder())
        .layer({**scripts, "processing-container.json": document})
        .labels({LABEL: document})
        .user(USER)
        .workdir("/tmp")
        .build()
    )


def push_examples(registry: str) -> dict[str, str]:
    """Push every example image; returns name → image reference."""
    client = PushClient(registry)
    pushed = {}
    try:
        for name, repository in IMAGES.items():
            client.push_image(repository, TAG, build_example(name))
            pushed[name] = client.reference(repository, TAG)
    finally:
        client.close()
    return pushed


if __name__ == "__main__":
    for name, reference in push_examples(sys.argv[1]).items():
        print(f"{name}: {reference}")
