"""The Arks planner service."""
