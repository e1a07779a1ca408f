"""Cancelling an in-flight launch without leaving a pod behind.

A launch runs on worker threads (prepare, maybe wait for admission, create) while the
scheduler thread may revoke or forget the task at any moment. The ticket is the one place
both sides agree on where the launch is: a cancel before creation stops it; a cancel while
the create call is in flight is seen by the creating thread when the call returns, and that
thread deletes the pod itself. So the delete always lands after the create.
"""

from __future__ import annotations

import enum
import threading


class Stage(enum.Enum):
    PREPARING = "preparing"
    CREATING = "creating"
    CREATED = "created"
    CANCELLED = "cancelled"


class LaunchTicket:
    """Thread-safe state of one launch."""

    def __init__(self, stage: Stage = Stage.PREPARING) -> None:
        self._stage = stage
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._stage is Stage.CANCELLED

    def begin_create(self) -> bool:
        """Called by the creating thread; False when the launch was cancelled."""
        with self._lock:
            if self._stage is Stage.CANCELLED:
                return False
            self._stage = Stage.CREATING
            return True

    def created(self) -> bool:
        """Called after the create returned; False when cancelled meanwhile (delete it)."""
        with self._lock:
            if self._stage is Stage.CANCELLED:
                return False
            self._stage = Stage.CREATED
            return True

    def not_created(self) -> None:
        """The create failed: nothing exists."""
        with self._lock:
            if self._stage is Stage.CREATING:
                self._stage = Stage.PREPARING

    def cancel(self) -> bool:
        """Stop the launch; True when a pod exists that the caller must delete.

        A pod whose create is still in flight is deleted by the creating thread instead.
        """
        with self._lock:
            exists = self._stage is Stage.CREATED
            self._stage = Stage.CANCELLED
            return exists
