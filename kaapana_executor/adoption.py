"""How long Airflow's timers let a crashed scheduler's tasks wait before they are adopted.

When a scheduler dies, its running task instances keep their pods, but no result is reported
until another (or the restarted) scheduler adopts them. Airflow does that in
``adopt_or_reset_orphaned_tasks``: at start-up and then every
``[scheduler] orphaned_tasks_check_interval`` seconds, for the task instances of schedulers
whose last heartbeat is older than ``[scheduler] scheduler_health_check_threshold`` seconds.
A scheduler restarted at once still sees the old one as alive at its start-up check, so the
worst case is about threshold + interval: 330 s with Airflow's defaults (30 s and 300 s),
during which finished tasks are not reported. Nothing is lost, but a workflow stands still.

The threshold must stay well above ``[scheduler] scheduler_heartbeat_sec`` (5 s): a live
scheduler whose loop stalls longer than the threshold is taken for dead, and with two
schedulers the other one adopts its tasks while it still runs them.
"""

from __future__ import annotations

from typing import Final

#: What the README and the Helm chart recommend: adoption within about 25 s of a crash.
RECOMMENDED_HEALTH_CHECK_THRESHOLD: Final = 15.0
RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL: Final = 10.0

#: A worst-case stall at least this long (seconds) is worth a warning at start-up.
STALL_WARNING_SECONDS: Final = 60.0


def worst_adoption_delay(
    health_check_threshold: float, orphaned_tasks_check_interval: float
) -> float:
    """Seconds a crashed scheduler's tasks may wait for adoption (see the module docstring)."""
    return health_check_threshold + orphaned_tasks_check_interval


def adoption_stall_warning(
    health_check_threshold: float, orphaned_tasks_check_interval: float
) -> str | None:
    """The start-up warning for these two ``[scheduler]`` values, or None when they are fine."""
    worst = worst_adoption_delay(health_check_threshold, orphaned_tasks_check_interval)
    if worst < STALL_WARNING_SECONDS:
        return None
    return (
        f"after a scheduler crash its running tasks may wait up to {worst:.0f} s before they "
        f"are adopted and their results reported ([scheduler] scheduler_health_check_threshold "
        f"= {health_check_threshold:g} s + orphaned_tasks_check_interval = "
        f"{orphaned_tasks_check_interval:g} s); recommended: "
        f"{RECOMMENDED_HEALTH_CHECK_THRESHOLD:g} and "
        f"{RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL:g} (see the README, 'Scheduler restarts')"
    )
