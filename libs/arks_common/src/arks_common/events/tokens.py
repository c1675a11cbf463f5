"""Reversible, subject-safe encoding of namespaces and names as NATS subject tokens.

A Kubernetes name may contain dots, which separate NATS tokens. Letters, digits and `-` stay as they are,
`.` becomes `_` (readable for the usual names), and every other byte becomes `~XX` (hex), `_` and `~`
included, so any string round-trips and no token is ever empty, a wildcard or split.
"""

from __future__ import annotations

import re

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_EMPTY = "~"
_ESCAPE = re.compile(r"~([0-9A-F]{2})|_")


def encode_token(value: str) -> str:
    """One subject token for `value`; empty strings become `~` so the token still exists."""
    if not value:
        return _EMPTY
    out: list[str] = []
    for ch in value:
        if ch in _PLAIN:
            out.append(ch)
        elif ch == ".":
            out.append("_")
        else:
            out.extend(f"~{b:02X}" for b in ch.encode())
    return "".join(out)


def decode_token(token: str) -> str:
    """The inverse of `encode_token`; raises ValueError on a token it could not have produced."""
    if token == _EMPTY:
        return ""
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(token):
        raw.extend(_plain_bytes(token[pos : match.start()]))
        raw.extend(b"." if match.group(0) == "_" else bytes([int(match.group(1), 16)]))
        pos = match.end()
    raw.extend(_plain_bytes(token[pos:]))
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise ValueError(f"subject token {token!r} is not valid UTF-8 once decoded") from exc


def _plain_bytes(chunk: str) -> bytes:
    bad = set(chunk) - _PLAIN
    if bad:
        raise ValueError(f"subject token contains characters that encode_token never emits: {sorted(bad)}")
    return chunk.encode()
