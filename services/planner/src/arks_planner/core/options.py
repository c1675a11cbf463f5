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
from collections.abc import Iterable, Sequence
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


def canonical_flag(word: str) -> str | None:
    """The flag a runtime's parser takes `word` for, spelled as Arks spells flags (None for a value). vLLM's
    FlexibleArgumentParser turns `_` into `-` in a flag's name, and folds a dotted `--kv-transfer-config.kv_role`
    into the JSON of the flag before the dot, given after every other flag (vllm `vllm/utils/argparse_utils.py`
    parse_args, the 0.11-0.33 line); SGLang's plain argparse refuses both spellings, so reading them as the flag
    refuses nothing that would start."""
    name = flag_name(word)
    if name is None or not name.startswith("--"):
        return name
    return "--" + name[2:].split(".", 1)[0].replace("_", "-")


def read_as(flag: str, names: Iterable[str]) -> str | None:
    """Which of `names` a runtime reads the canonical `flag` as: the same name, else one it abbreviates.
    vLLM's, SGLang's and Dynamo's parsers are argparse parsers with `allow_abbrev` on (its default), which take
    any unambiguous prefix of a long flag (`--por` for `--port`); an ambiguous one the runtime refuses to start
    with, so it is counted too. (A runtime flag that is itself a prefix of one of `names` would be counted
    wrongly; none of the managed flags has one.)"""
    names = sorted(names)
    if flag in names:
        return flag
    if flag.startswith("--") and len(flag) > 2:
        return next((name for name in names if name.startswith(flag)), None)
    return None


def option_value(words: Sequence[str], *names: str) -> str | None:
    """The value the runtime would read for any of `names`, however spelled (`canonical_flag`, `read_as`): the
    last one given wins, as argparse does."""
    found: str | None = None
    for i, word in enumerate(words):
        flag = canonical_flag(word)
        if flag is None or read_as(flag, names) is None:
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
