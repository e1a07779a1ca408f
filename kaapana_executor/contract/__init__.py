"""The task contract: schema validation, templating, semantic checks and merging."""
