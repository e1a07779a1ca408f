"""The executor's machinery: from a queued task instance to a reported final state."""
