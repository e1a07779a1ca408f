"""The start-up warning about Airflow timers that stall adoption after a scheduler crash."""

from __future__ import annotations

import pytest

from kaapana_executor.adoption import (
    RECOMMENDED_HEALTH_CHECK_THRESHOLD,
    RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL,
    adoption_stall_warning,
    worst_adoption_delay,
)


def test_airflow_defaults_warn_with_the_worst_case_and_the_recommendation() -> None:
    warning = adoption_stall_warning(30, 300)
    assert warning is not None
    assert "up to 330 s" in warning
    assert "scheduler_health_check_threshold = 30 s" in warning
    assert "orphaned_tasks_check_interval = 300 s" in warning
    assert "recommended: 15 and 10" in warning


def test_recommended_values_do_not_warn() -> None:
    assert (
        adoption_stall_warning(
            RECOMMENDED_HEALTH_CHECK_THRESHOLD, RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL
        )
        is None
    )
    assert worst_adoption_delay(
        RECOMMENDED_HEALTH_CHECK_THRESHOLD, RECOMMENDED_ORPHANED_TASKS_CHECK_INTERVAL
    ) == pytest.approx(25)


@pytest.mark.parametrize(
    ("threshold", "interval", "warns"),
    [(30, 29.9, False), (30, 30, True), (59, 0.5, False), (5, 120, True), (90, 1, True)],
)
def test_either_timer_alone_can_stall_adoption(
    threshold: float, interval: float, warns: bool
) -> None:
    assert (adoption_stall_warning(threshold, interval) is not None) is warns
