"""Local runs for processing-container authors: ``kaapana-task run`` and ``kaapana-task logs``.

The developer loop of the design document: resolve a task.json as the executor does, run it
once through a Docker-compatible API (``--mode docker``) or as a pod on a cluster
(``--mode k8s``), stream its log, exit with its exit code, and measure its peak memory
against the ScaleRules. Both modes start from the same pod (``prepare``), so what runs
locally is what the executor would run.
"""
