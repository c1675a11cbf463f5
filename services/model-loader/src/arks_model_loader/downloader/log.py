"""Structured log lines on stderr: one JSON object per line, constant message plus fields, never the token.

Configures logging only; must not decide anything about the download.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FIELDS = "arks_fields"


class _JsonFormatter(logging.Formatter):
    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        text = json.dumps(line, default=str, ensure_ascii=False)
        # Library records are free text we do not control: scrub the token whatever they contain.
        return text.replace(self._secret, "<redacted>") if self._secret else text


def configure(secret: str | None, level: int = logging.INFO) -> None:
    """Send every record (ours and huggingface_hub's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(secret))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # huggingface_hub installs its own plain-text handler; drop it so its records reach ours exactly once.
    hub = logging.getLogger("huggingface_hub")
    hub.handlers.clear()
    hub.propagate = True
    hub.setLevel(logging.WARNING)
    # One line per HTTP request is noise for a model of hundreds of files; our own events say what happened.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


def event(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log a constant message with key/value fields."""
    logger.log(level, msg, extra={_FIELDS: fields})
