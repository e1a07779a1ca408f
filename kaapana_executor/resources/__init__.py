"""Kubernetes resource quantities and the memory scale rules of the task contract."""
