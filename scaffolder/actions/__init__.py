"""Template actions: the registry, the context handlers receive, and the built-in actions."""
