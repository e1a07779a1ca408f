"""Example processing-container images, built in Python and pushed to a registry."""
