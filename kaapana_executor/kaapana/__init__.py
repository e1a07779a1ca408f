"""Kaapana's DAG signature on KaapanaExecutor.

A Kaapana workflow file changes only its imports::

    # before
    from task_api.processing_container import pc_models
    from task_api_operators.KaapanaTaskOperator import IOMapping, KaapanaTaskOperator
    # after
    from kaapana_executor.kaapana import IOMapping, KaapanaTaskOperator, pc_models
"""

from kaapana_executor.kaapana import pc_models
from kaapana_executor.kaapana.operator import IOMapping, KaapanaTaskOperator

__all__ = ["IOMapping", "KaapanaTaskOperator", "pc_models"]
