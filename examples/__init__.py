"""Examples: processing-container images and DAGs (used by the demo and the end-to-end tests)."""
