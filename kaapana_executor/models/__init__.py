"""Typed views of contract documents.

The classes in :mod:`.generated` are produced from ``schemas/v1`` by ``scripts/generate-models``
and checked in; this module gives them the names the rest of the code uses. They forbid unknown
fields. Instances are only built from documents that passed schema validation.
"""

from kaapana_executor.models.generated.processing_container_schema import (
    IOMount,
    ProcessingContainer,
    Resources,
    ScaleRule,
    TaskTemplate,
    TaskTemplateEnv,
)
from kaapana_executor.models.generated.task_schema import (
    ChannelLink,
    InputChannel,
    OutputChannel,
    PvcSource,
    RunnerConfig,
    Task,
    TaskEnv,
    UserInputPolicy,
    VolumeSource,
)

__all__ = [
    "ChannelLink",
    "IOMount",
    "InputChannel",
    "OutputChannel",
    "ProcessingContainer",
    "PvcSource",
    "Resources",
    "RunnerConfig",
    "ScaleRule",
    "Task",
    "TaskEnv",
    "TaskTemplate",
    "TaskTemplateEnv",
    "UserInputPolicy",
    "VolumeSource",
]
