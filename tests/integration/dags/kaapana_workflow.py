"""A workflow written for Kaapana's operator, as Kaapana's own dummy workflow is written.

Only the imports differ from a Kaapana DAG file: ``kaapana_executor.kaapana`` instead of
``task_api`` / ``task_api_operators``. The platform constants (``DEFAULT_REGISTRY``,
``KAAPANA_BUILD_VERSION``) are the deployment's business; here they point at the local
registry's example images.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

from kaapana_executor.kaapana import IOMapping, KaapanaTaskOperator, pc_models

DEFAULT_REGISTRY = f"{os.environ.get('KAAPANA_REGISTRY', 'registry.invalid')}/kaapana"
KAAPANA_BUILD_VERSION = "1"

args = {"ui_visible": True, "owner": "kaapana"}

with DAG("kaapana-workflow", default_args=args, schedule=None, catchup=False) as dag:
    upstream = KaapanaTaskOperator(
        task_id="upstream",
        image=f"{DEFAULT_REGISTRY}/dummy:{KAAPANA_BUILD_VERSION}",
        taskTemplate="upstream",
        env=[pc_models.BaseEnv(name="MODE", value="thorough")],
    )

    downstream = KaapanaTaskOperator(
        task_id="downstream",
        image=f"{DEFAULT_REGISTRY}/dummy:{KAAPANA_BUILD_VERSION}",
        taskTemplate="downstream",
        iochannel_maps=[
            IOMapping(
                upstream_operator=upstream,
                upstream_output_channel="channel1",
                input_channel="channel1",
            ),
            IOMapping(
                upstream_operator=upstream,
                upstream_output_channel="channel2",
                input_channel="channel2",
            ),
        ],
        execution_timeout=timedelta(minutes=30),
    )

    upstream >> downstream
