"""Tests against the real local control plane and registries (``-m cluster``)."""
