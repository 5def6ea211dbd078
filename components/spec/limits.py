"""Limits on what a stack's configuration may be, so hostile input ends in one clean error.

A stack file is input from people and from merge requests. Whatever it holds, reading it
must end with a clear error naming the file, never a traceback, a hang or a memory
blow-up. The Pulumi CLI reads stack files with go-yaml v3, which has limits of its own
(it refuses "excessive aliasing" and nesting beyond 10,000 levels); the limits below are
Meridian's, far below those and far above anything a real platform needs (the spec nests
about ten levels deep and its largest value is an SSH key), and they hold on both paths:

* offline, `scripts/stackfile.py` enforces all of them while composing the YAML, before
  any value is constructed (so an alias bomb is refused without being expanded);
* under the real CLI, the program receives `meridian:platform` as JSON text
  (`components/spec/load.py`), which is checked against the size and depth limits before
  and while it is decoded.
"""

from __future__ import annotations

from typing import Any

#: Bytes a stack file may have (the bundled ones have about 3 KB).
MAX_STACK_FILE_BYTES = 1 << 20
#: Characters the JSON text of `meridian:platform` may have when the CLI hands it over.
MAX_CONFIG_CHARS = 1 << 20
#: Nesting of mappings and sequences (a stack file's document is level 1, `config:`'s value
#: level 2, `meridian:platform` level 3; the spec's deepest mapping, the `custom` of
#: clusters.<c>.node_pools.<p>.gpu.mig.custom, is level 10).
MAX_DEPTH = 64
#: Characters a single scalar (a key or a value) may have.
MAX_SCALAR_CHARS = 64 * 1024
#: Nodes of the document once every alias is expanded (what the program would receive):
#: a "billion laughs" document of a few hundred bytes expands far beyond it and is refused.
MAX_EXPANDED_NODES = 100_000
#: Integers are read as 64-bit values by the CLI; larger ones would not mean the same thing.
INT64_RANGE = (-(1 << 63), (1 << 64) - 1)


def depth_of(value: Any) -> int:
    """The nesting depth of decoded JSON/YAML data (a scalar is 0), computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        if level + 1 > MAX_DEPTH:
            return level + 1
        stack.extend((child, level + 1) for child in children)
    return deepest
