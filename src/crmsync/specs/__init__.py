"""The spec language: YAML files (connectors, mappings, pipelines, canonical schemas) and their checks."""
