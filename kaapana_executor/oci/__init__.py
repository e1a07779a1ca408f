"""Build OCI images in memory and push them to a registry (no Docker needed).

Used by the example processing containers (``examples/images``), ``scripts/cluster`` (the
real node's pause image), the demo, the benchmarks and the tests. It lives in the product
package, not under ``tests/``, because examples and scripts must never import test code; the
executor itself only reads images (:mod:`kaapana_executor.images`).

- :mod:`.build`: ``ImageBuilder`` (layers from dicts of files, config, OCI or Docker media
  types), ``build_index``; reproducible digests.
- :mod:`.busybox`: a userland layer from Debian's static busybox.
- :mod:`.push`: ``PushClient``, the distribution API v2 push (and read-back) client.
"""
