"""Where the project's shared data lives: `shared/` beside the checkout (as the workplace and CI lay it out),
or `$ARKS_SHARED_DIR`."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("ARKS_SHARED_DIR") or Path(__file__).resolve().parents[4] / "shared")
