"""spec.extraOptions as the runtime will see them: one argv word per item, or a flag and its value split.

Rule (docs/runtimes.md): an item that begins with `-` and holds whitespace is split the way a POSIX shell
splits words (quotes group, backslashes escape), so the upstream Arks spelling `"--max-model-len 32768"`
reaches the runtime as two words, exactly as it did through upstream's shell line. Any other item is one
word, verbatim: a value (`"0.7"`, a JSON document, a chat template) never needs quoting.

Pure: no I/O. Precheck reports an item that cannot be split (an unclosed quote); the plan only splits items
that precheck accepted.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OptionError:
    index: int
    message: str


def split_item(item: str) -> list[str]:
    """The argv words of one extraOptions item; raises ValueError on an unclosed quote."""
    if item.startswith("-") and any(c.isspace() for c in item):
        return shlex.split(item, comments=False, posix=True)
    return [item]


def split_options(items: Sequence[str]) -> list[str]:
    """Every item's words, in order (call after `option_errors` found none)."""
    return [word for item in items for word in split_item(item)]


def option_errors(items: Sequence[str]) -> list[OptionError]:
    errors: list[OptionError] = []
    for i, item in enumerate(items):
        try:
            split_item(item)
        except ValueError as exc:
            errors.append(
                OptionError(i, f"cannot be split into words ({exc}): close the quote or use one item per word")
            )
    return errors


def flag_name(word: str) -> str | None:
    """`--pp-size` for `--pp-size` or `--pp-size=2`, `-pp` for vLLM's short `-pp` / `-pp=2`; None for a value
    (`0.7`, `-1`, `-.5`, `-`)."""
    if not word.startswith("-") or word in ("-", "--") or word[1] in "0123456789.":
        return None
    return word.split("=", 1)[0]


def option_value(words: Sequence[str], *names: str) -> str | None:
    """The value the runtime would read for any of `names` (the last one given wins, as argparse does)."""
    found: str | None = None
    for i, word in enumerate(words):
        name = flag_name(word)
        if name not in names:
            continue
        if "=" in word:
            found = word.split("=", 1)[1]
        elif i + 1 < len(words):
            found = words[i + 1]
    return found


def item_of_word(items: Sequence[str], word_index: int) -> int:
    """Which extraOptions item the `word_index`-th split word came from (for messages naming the field)."""
    seen = 0
    for i, item in enumerate(items):
        seen += len(split_item(item))
        if word_index < seen:
            return i
    return len(items) - 1
