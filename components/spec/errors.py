"""Spec errors: every problem named by its key path, all of them at once, never a traceback."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pydantic import ValidationError

from .base import PATTERN_RULES, case_twins

Path = tuple[str | int, ...]


class CrossFieldError(ValueError):
    """Problems found by a cross-field rule, each with the key path (relative to the model) it concerns.

    Raised from a pydantic validator, pydantic keeps the instance in the error's context,
    so `format_problems` can place each problem at its own key instead of at the model.
    """

    def __init__(self) -> None:
        super().__init__("")  # pragma: no mutate - raise_if_any sets the message before raising
        self.items: list[tuple[Path, str]] = []

    def add(self, path: Path, message: str) -> None:
        """Record one problem at `path`."""
        self.items.append((path, message))

    def raise_if_any(self) -> None:
        """Raise self when anything was recorded."""
        if self.items:
            self.args = ("; ".join(message for _, message in self.items),)
            raise self


def refuse_case_twins(data: object, collections: dict[str, str]) -> None:
    """Raise, before field validation, for keys of `data[collection]` differing only in letter case.

    `collections` maps each collection to the word for its keys ("name", "pool name"); every
    collection is checked before anything is raised, so all twins are reported at once.
    """
    problems = CrossFieldError()
    for collection, what in collections.items():
        keys = data.get(collection) if isinstance(data, dict) else None
        if isinstance(keys, dict):
            for wrong, right in case_twins([str(key) for key in keys]):
                problems.add((collection, wrong), f"{what} differs only in case from '{right}'")
    problems.raise_if_any()


#: Problems a SpecError lists; a hostile file can have thousands, which would bury the first.
MAX_SHOWN = 25


class SpecError(pulumi.RunError):
    """A stack's spec is invalid. Pulumi prints a RunError's message without a traceback."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:
            path, message = self.problems[0]
            text = f"{source}: {path}: {message}"
        else:
            shown = self.problems[:MAX_SHOWN]
            lines = "\n".join(f"  {path}: {message}" for path, message in shown)
            more = len(self.problems) - len(shown)
            if more:
                lines += f"\n  ... and {more} more"
            text = f"{source}: {len(self.problems)} problems in the stack's spec:\n{lines}"
        super().__init__(text)


def dotted(path: Path) -> str:
    """`("sites", "a", "admin_cidrs", 0)` -> `sites.a.admin_cidrs[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_FRIENDLY = {
    "extra_forbidden": "unknown key (not part of the spec; check the spelling)",
    "missing": "required key is missing",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
}


def format_problems(error: ValidationError, prefix: str) -> list[tuple[str, str]]:
    """Turn a pydantic error into (key path, message) pairs. Input values are never echoed (they may be secret)."""
    problems: list[tuple[str, str]] = []
    # The input is looked at only to say "empty"; it is never put into a message.
    for item in error.errors(include_url=False):  # pragma: no mutate - the url entry is never read
        loc: Path = tuple(part for part in item["loc"] if part != "[key]")
        pattern = (item.get("ctx") or {}).get("pattern")
        if item.get("input") in ("", [], {}) and item["type"] in (
            "string_pattern_mismatch",
            "string_too_short",
            "too_short",
        ):
            message = "must not be empty"
        elif pattern in PATTERN_RULES:
            message = PATTERN_RULES[pattern]
        elif item["type"] == "string_type" and isinstance(item.get("input"), int | float | bool):
            # YAML reads 111122223333, 1.30 and yes as numbers and booleans.
            message = "must be a string: quote the value in YAML"
        else:
            message = _FRIENDLY.get(item["type"], item["msg"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, CrossFieldError):
            for sub, sub_message in cause.items:
                problems.append((dotted((prefix, *loc, *sub)), sub_message))
            continue
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append((dotted((prefix, *loc)), message))
    return problems
