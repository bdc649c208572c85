"""Models: the registry, architecture adapters, loading, and the embedded model."""
