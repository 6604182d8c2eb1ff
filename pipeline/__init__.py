"""vigia runtime: camera processes, shared-memory rings, batched inference."""
