"""Benchmarks run by hand against the local registry (``python -m bench.<name>``)."""
