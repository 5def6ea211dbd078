r"""Pulumi property paths (`a.b[0]["meridian.io/pool"]`), written and read as the engine does.

One form everywhere a plan names a place inside a resource's inputs: the plan's
`secret_paths`, the gate's wire form, `meridian diff`'s changes, and the engine's own
`ignoreChanges` / `replaceOnChanges` (resource/properties_path.go): outside brackets a
key runs up to the next `.` or `[`; inside, a number, `*`, or a double-quoted key in
which only `\"` is an escape.
"""

from __future__ import annotations

#: Characters that force a key into brackets and quotes.
SPECIAL = frozenset('.[]"')
WILDCARD = "*"


def property_path(parent: str, key: str | int) -> str:
    """`parent` extended by a key or list index: `a.b`, `a[0]`, `a["meridian.io/pool"]`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if key and key != WILDCARD and not SPECIAL.intersection(key):
        return f"{parent}.{key}" if parent else key
    escaped = key.replace('"', '\\"')
    return f'{parent}["{escaped}"]'


def path_segments(path: str) -> list[str]:
    """The keys and indices of a path (`a.b[0]["x.y"]` -> a, b, 0, x.y); ValueError when malformed."""
    segments: list[str] = []
    position = 0
    while position < len(path):
        if path[position] == "[":
            if path.startswith('["', position):
                end = position + 2
                key = []
                while end < len(path) and path[end] != '"':
                    if path.startswith('\\"', end):
                        key.append('"')
                        end += 2
                    else:
                        key.append(path[end])
                        end += 1
                if not path.startswith('"]', end):
                    raise ValueError(f"unterminated quoted key in property path {path!r}")
                segments.append("".join(key))
                position = end + 2
                continue
            end = path.find("]", position)
            inner = path[position + 1 : end] if end > 0 else ""
            if not (inner.isdigit() or inner == WILDCARD):
                raise ValueError(f"bad index in property path {path!r}")
            segments.append(inner)
            position = end + 1
            continue
        if path[position] == ".":
            if position == 0:
                raise ValueError(f"property path {path!r} starts with '.'")
            position += 1
        end = position
        while end < len(path) and path[end] not in ".[":
            end += 1
        if end == position:
            raise ValueError(f"empty key in property path {path!r}")
        segments.append(path[position:end])
        position = end
    return segments


def covers(pattern: str, path: str) -> bool:
    """Whether `pattern` (an ignore_changes / replace_on_changes / secret path) names `path` or an ancestor.

    `*` alone is every property; a `*` or `[*]` segment is any key or index at its level.
    """
    if pattern == WILDCARD:
        return True
    try:
        wanted, actual = path_segments(pattern), path_segments(path)
    except ValueError:
        return pattern == path
    return len(wanted) <= len(actual) and all(w in (WILDCARD, a) for w, a in zip(wanted, actual, strict=False))


def overlaps(one: str, other: str) -> bool:
    """Whether either path names the other or one of its ancestors (a value holding a secret, or inside one)."""
    return covers(one, other) or covers(other, one)
