"""The autoscaling benchmark: our slo-scaler against fixed replicas, an HPA and a KPA, in a simulated LLM service.

Run it with `.venv/bin/python -m bench.autoscaling.run` from the repository root (see README.md here). Modules
import each other relatively, so the package works both as `bench.autoscaling` and, for mypy and the unit tests,
as `autoscaling` with `bench/` on the path.
"""
