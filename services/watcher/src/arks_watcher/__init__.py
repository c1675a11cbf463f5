"""The Arks watcher service."""
