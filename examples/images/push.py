"""Build the example images (no Docker) and push them to a registry.

Each image carries its processing-container.json twice, as Kaapana images should: as the file
``/processing-container.json`` and in the config label the executor reads first (one small
blob instead of a layer).
"""

from __future__ import annotations

import sys
from pathlib import Path

from kaapana_executor.images.locate import LABEL
from tests.support.oci import ImageBuilder
from tests.support.registry import RegistryClient

HERE = Path(__file__).parent
IMAGES = {"dummy": "kaapana/dummy", "toolbox": "kaapana/toolbox"}
TAG = "1"


def push_examples(registry: str) -> dict[str, str]:
    """Push every example image; returns name → image reference."""
    client = RegistryClient(registry)
    pushed = {}
    try:
        for name, repository in IMAGES.items():
            document = (HERE / name / "processing-container.json").read_text()
            image = (
                ImageBuilder()
                .layer({"bin/tool": "#!/bin/sh\necho simulated\n"})
                .layer({"processing-container.json": document})
                .labels({LABEL: document})
                .build()
            )
            client.push_image(repository, TAG, image)
            pushed[name] = client.reference(repository, TAG)
    finally:
        client.close()
    return pushed


if __name__ == "__main__":
    for name, reference in push_examples(sys.argv[1]).items():
        print(f"{name}: {reference}")
