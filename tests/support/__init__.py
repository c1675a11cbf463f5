"""Test support: real servers for the integration tests, and small builders of test objects."""
