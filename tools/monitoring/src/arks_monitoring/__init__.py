"""Arks observability as code: rules, scrape configuration and dashboards, rendered by `make gen`."""
