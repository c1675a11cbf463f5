"""Package data: the default runtime profiles (`default.yaml`), read by `arks_planner.core.profiles`."""
