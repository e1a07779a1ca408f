"""Everything that shapes Kubernetes objects (pure: no API calls here)."""
