"""`meridian diff`: what `pulumi preview` would change between two plans of one stack, for pull requests.

The base is usually the plan of the target branch (`meridian plan STACK --json base.json` on
a checkout of it), the head the stack as the change leaves it. Resources are matched by URN
and, failing that, by the aliases the head declares, the way the engine matches them, so a
rename or re-parent that ships with its alias shows as the same resource and one without it
shows as a delete and a create. Paired resources are compared input by input, minus the
paths their `ignore_changes` names, exactly as the engine skips them.

What an offline diff cannot know, and says so instead of guessing:
* whether the provider replaces a resource for an input change (that is in the provider's
  schema, which needs its plugin): an input change is an **update** unless the resource's
  own `replace_on_changes` names the path, which the engine always honours as a
  **replace**;
* whether a secret changed: plans carry "[secret]" in place of every secret value, so an
  unchanged placeholder may hide a new value (reported as "secret, not compared").
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .harness import SECRET, STACK_TYPE, Plan, make_urn

#: Pulumi's step operations, plus "rename": a new URN matched by alias with no other change,
#: which the engine keeps as the same resource (its state just moves to the new URN).
Operation = Literal["create", "update", "replace", "delete", "rename"]
SYMBOLS: dict[str, str] = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- ", "rename": "> "}
#: Options whose change the engine acts on (or the reviewer must see) besides inputs.
OPTIONS = ("protect", "provider", "retain_on_delete", "delete_before_replace", "version")
#: A property-path key that needs no quoting (Pulumi's property path syntax).
PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class PropertyChange:
    """One changed input (or option) of a resource: its property path and both values."""

    path: str
    old: Any
    new: Any
    kind: Literal["add", "delete", "update"]


@dataclass
class ResourceChange:
    """One resource the head would create, update, replace or delete."""

    operation: Operation
    urn: str
    type: str
    name: str
    old_urn: str | None = None
    changes: list[PropertyChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class PlanDiff:
    """Every change between two plans of one stack, and how many resources stay the same."""

    stack: str
    changes: list[ResourceChange]
    unchanged: int
    #: Unchanged resources that hold secrets: their secret inputs could not be compared.
    unchanged_with_secrets: int = 0

    def counts(self) -> dict[str, int]:
        """How many resources each operation touches (only the operations that occur)."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.operation] = counts.get(change.operation, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The diff as a JSON document (`meridian diff --json`)."""
        return {
            "stack": self.stack,
            "summary": self.counts() | {"same": self.unchanged, "same_with_secrets": self.unchanged_with_secrets},
            "changes": [
                {
                    "operation": c.operation,
                    "urn": c.urn,
                    "type": c.type,
                    "name": c.name,
                    "old_urn": c.old_urn,
                    "changes": [{"path": p.path, "kind": p.kind, "old": p.old, "new": p.new} for p in c.changes],
                    "notes": c.notes,
                }
                for c in self.changes
            ],
        }


class DiffError(Exception):
    """The two plans cannot be compared (different stacks or projects)."""


def property_path(parent: str, key: str | int) -> str:
    """Extend a Pulumi property path: `a.b`, `a[0]`, `a["meridian.io/pool"]`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if PLAIN_KEY.match(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key)}]"


def compare(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """The leaf-level differences between two JSON values, by property path."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[PropertyChange] = []
        for key in sorted(old.keys() | new.keys()):
            child = property_path(path, key)
            if key not in new:
                changes.append(PropertyChange(child, old[key], None, "delete"))
            elif key not in old:
                changes.append(PropertyChange(child, None, new[key], "add"))
            else:
                changes.extend(compare(old[key], new[key], child))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            child = property_path(path, index)
            if index >= len(new):
                changes.append(PropertyChange(child, old[index], None, "delete"))
            elif index >= len(old):
                changes.append(PropertyChange(child, None, new[index], "add"))
            else:
                changes.extend(compare(old[index], new[index], child))
        return changes
    return [] if old == new else [PropertyChange(path, old, new, "update")]


#: One segment of a Pulumi property path: `name`, `.name`, `[0]`, `[*]`, `["quoted.key"]`, or `*`.
SEGMENT = re.compile(r'\.?([A-Za-z_$][\w$-]*|\*)|\[(\d+|\*)\]|\[("(?:[^"\\]|\\.)*")\]')


def path_segments(path: str) -> list[str]:
    """A property path split into keys (`a.b[0]["x.y"]` -> a, b, 0, x.y); ValueError if malformed."""
    segments, position = [], 0
    while position < len(path):
        match = SEGMENT.match(path, position)
        if match is None or match.end() == position:
            raise ValueError(f"not a property path: {path!r}")
        name, index, quoted = match.groups()
        segments.append(json.loads(quoted) if quoted else name if name is not None else index)
        position = match.end()
    return segments


def _covers(pattern: str, path: str) -> bool:
    """Whether an ignore_changes / replace_on_changes path names `path` or one of its ancestors.

    As the engine reads them: `*` alone is every property; a `*` or `[*]` segment is any
    key or index at that level.
    """
    if pattern == "*":
        return True
    try:
        wanted, actual = path_segments(pattern), path_segments(path)
    except ValueError:
        return pattern == path
    return len(wanted) <= len(actual) and all(w in ("*", a) for w, a in zip(wanted, actual, strict=False))


def _alias_urns(resource: dict[str, Any], stack: str, project: str) -> list[str]:
    """The URNs a head resource's aliases say it used to have."""
    urns = []
    for alias in resource["aliases"]:
        if isinstance(alias, str):
            urns.append(alias)
            continue
        parent = None if alias.get("no_parent") else alias.get("parent", resource["parent"])
        urns.append(
            make_urn(
                alias.get("stack", stack),
                alias.get("project", project),
                parent,
                alias.get("type", resource["type"]),
                alias.get("name", resource["name"]),
            )
        )
    return urns


def _masked(change: PropertyChange, old: dict[str, Any], new: dict[str, Any]) -> PropertyChange:
    """The change with both values shown as "[secret]" when either side holds the path as a secret.

    A value that becomes secret in the head was public in the base plan, but a diff is
    read beside the head: it must not be where that value is printed again.
    """
    if any(_covers(secret, change.path) for secret in (*old["secret_paths"], *new["secret_paths"])):
        return PropertyChange(
            change.path,
            None if change.old is None else SECRET,
            None if change.new is None else SECRET,
            change.kind,
        )
    return change


def _compare_resources(old: dict[str, Any], new: dict[str, Any]) -> ResourceChange | None:
    changes = [
        _masked(change, old, new)
        for change in compare(old["inputs"], new["inputs"])
        if not any(_covers(ignored, change.path) for ignored in new["ignore_changes"])
    ]
    notes = []
    for option in OPTIONS:
        if old.get(option) != new.get(option):
            changes.append(PropertyChange(f"({option})", old.get(option), new.get(option), "update"))
    renamed = old["urn"] != new["urn"]
    unseen = sorted(
        path
        for path in new["secret_paths"]
        if path in old["secret_paths"]
        and not any(c.path == path for c in changes)
        and not any(_covers(ignored, path) for ignored in new["ignore_changes"])
    )
    if not changes and not renamed:
        return None
    if unseen:
        notes.append(f"secret, not compared: {', '.join(unseen)}")
    replace = [c.path for c in changes if any(_covers(p, c.path) for p in new["replace_on_changes"])]
    if replace:
        notes.append(f"replace_on_changes: {', '.join(replace)}")
    if renamed:
        notes.append(f"was {old['urn']} (matched by alias)")
    return ResourceChange(
        "replace" if replace else "update" if changes else "rename",
        new["urn"],
        new["type"],
        new["name"],
        old_urn=old["urn"] if renamed else None,
        changes=changes,
        notes=notes,
    )


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    """What changing `base` into `head` asks the engine to do, resource by resource."""
    if (base.project, base.stack) != (head.project, head.stack):
        raise DiffError(
            f"the plans are of different stacks: base {base.project}/{base.stack}, head {head.project}/{head.stack}"
        )
    old_by_urn = {r["urn"]: r for r in base.resources if r["type"] != STACK_TYPE}
    matched: set[str] = set()
    changes: list[ResourceChange] = []
    unchanged = unchanged_with_secrets = 0
    for resource in head.resources:
        if resource["type"] == STACK_TYPE:
            continue
        candidates = [resource["urn"], *_alias_urns(resource, head.stack, head.project)]
        old_urn = next((urn for urn in candidates if urn in old_by_urn and urn not in matched), None)
        if old_urn is None:
            changes.append(ResourceChange("create", resource["urn"], resource["type"], resource["name"]))
            continue
        matched.add(old_urn)
        change = _compare_resources(old_by_urn[old_urn], resource)
        if change is None:
            unchanged += 1
            unchanged_with_secrets += bool(resource["secret_paths"])
        else:
            changes.append(change)
    for urn, resource in old_by_urn.items():
        if urn not in matched:
            notes = (
                ["protected: `pulumi up` refuses to delete it until it is unprotected"] if resource["protect"] else []
            )
            if resource["retain_on_delete"]:
                notes.append("retain_on_delete: removed from the stack, left in the cloud")
            changes.append(ResourceChange("delete", urn, resource["type"], resource["name"], notes=notes))
    return PlanDiff(head.stack, changes, unchanged, unchanged_with_secrets)


def _shown(value: Any) -> str:
    return value if value == SECRET else json.dumps(value, sort_keys=True)


def _render_property(change: PropertyChange) -> list[str]:
    sign = {"add": "+", "delete": "-", "update": "~"}[change.kind]
    strings = change.kind == "update" and isinstance(change.old, str) and isinstance(change.new, str)
    if strings and ("\n" in change.old or "\n" in change.new):
        lines = difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), lineterm="", n=1)
        return [f"        ~ {change.path}:"] + [f"            {line}" for line in list(lines)[2:]]
    if change.kind == "update":
        return [f"        ~ {change.path}: {_shown(change.old)} => {_shown(change.new)}"]
    return [f"        {sign} {change.path}: {_shown(change.old if change.kind == 'delete' else change.new)}"]


def render(result: PlanDiff) -> str:
    """The diff as `pulumi preview --diff` would print it, with a summary."""
    lines = [f"Offline diff of stack {result.stack}:", ""]
    for change in result.changes:
        lines.append(f" {SYMBOLS[change.operation]} {change.type}  {change.name}  {change.operation}")
        for prop in change.changes:
            lines.extend(_render_property(prop))
        lines.extend(f"        ({note})" for note in change.notes)
    if not result.changes:
        lines.append(" no changes")
    labels = {
        "create": "to create",
        "update": "to update",
        "replace": "to replace",
        "delete": "to delete",
        "rename": "renamed by alias (same resource)",
    }
    lines += ["", "Resources:"]
    lines += [f"    {SYMBOLS[op].strip()} {count} {labels[op]}" for op, count in result.counts().items()]
    lines.append(f"    {result.unchanged} unchanged")
    if result.unchanged_with_secrets:
        lines.append(
            f"    ({result.unchanged_with_secrets} of them hold secrets; plans redact secret values, "
            "so a changed secret does not show here)"
        )
    return "\n".join(lines)
