"""A runtime emulator for end-to-end tests: an HTTP process that answers like a vLLM server.

It serves `/v1/completions` (OpenAI style) with latencies from a real-time continuous-batching engine whose step
times come from the benchmark simulator's model fitted to step times measured on an NVIDIA H100 80GB HBM3
(`shared/calibration/h100-llama8b-steptime.json`, via `bench/autoscaling/sim/steptime.py`), and `/metrics` in vLLM's
own exposition format (`bench/autoscaling/sim/exposition.py`), or SGLang's or Dynamo's (`--runtime`, `formats.py`).
It runs no model and must not be mistaken for one: the text it returns is filler.

Run from the repository root: `python -m bench.emulator --port 8000 --groups 4` (see `__main__.py`); the load
generator is `python -m bench.emulator.load`.
"""

import sys
from pathlib import Path

# The benchmark's simulator lives beside this package and is imported as `autoscaling` (as the unit tests and mypy
# see it), whichever way this package was reached (`python -m bench.emulator` from the repository root).
_BENCH = str(Path(__file__).resolve().parents[1])
if _BENCH not in sys.path:
    sys.path.insert(0, _BENCH)
