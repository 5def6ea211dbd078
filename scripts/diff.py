"""`meridian diff`: what `pulumi preview` would change between two plans of one stack, for pull requests.

The base is usually the plan of the target branch (`meridian plan STACK --json base.json` on
a checkout of it), the head the stack as the change leaves it. Resources are matched as
the engine matches them (pkg/resource/deploy/step_generator.go): by URN, then by the
aliases the head declares, then by the ones a child inherits when its parent was matched
by alias (its type and name, and each alias's, under the parent's old URN, a leading
parent name swapped for the old one). Two resources claiming one old resource are
refused, as the engine refuses them. Paired resources are compared
input by input, minus the paths their `ignore_changes` names (`scripts/paths.py`), and
option by option; stack outputs are compared too.

What an offline diff cannot know, and says so instead of guessing:
* whether the provider replaces a resource for an input change (that is in the provider's
  schema, which needs its plugin): an input change is an **update** unless the resource's
  own `replace_on_changes` names the path, which the engine always honours as a
  **replace**;
* whether a secret changed: plans carry "[secret]" in place of every secret value, so an
  unchanged placeholder may hide a new value (reported as "secret, not compared").
The engine's own errors for an `ignore_changes` path missing on one side are not
reproduced: such a path is simply skipped.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .harness import SECRET, STACK_TYPE, Plan, make_urn, tree_order
from .paths import covers, overlaps, property_path

#: Pulumi's step operations, plus "rename": a new URN matched by alias with no other change,
#: which the engine keeps as the same resource (its state just moves to the new URN).
Operation = Literal["create", "update", "replace", "delete", "rename"]
SYMBOLS: dict[str, str] = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- ", "rename": "> "}
#: Options whose change the engine acts on (or the reviewer must see) besides inputs.
OPTIONS = ("protect", "provider", "retain_on_delete", "delete_before_replace", "version")


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
    #: Changed stack outputs (`pulumi stack output`), by property path.
    outputs: list[PropertyChange] = field(default_factory=list)
    #: Input changes the engine will not apply, because the resource's `ignore_changes` covers
    #: them (the cloud keeps the old value): one entry per resource, its changes those paths.
    ignored: list[ResourceChange] = field(default_factory=list)
    #: Head URN -> base URN, for resources the engine matches by alias (the same resource, renamed).
    moved: dict[str, str] = field(default_factory=dict)

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
            "verdict": "Changes" if self.changes or self.outputs or self.ignored else "No changes",
            "outputs": [_property_json(p) for p in self.outputs],
            "changes": [_change_json(c) for c in self.changes],
            "ignored": [_change_json(c) for c in self.ignored],
        }


def _property_json(change: PropertyChange) -> dict[str, Any]:
    return {"path": change.path, "kind": change.kind, "old": change.old, "new": change.new}


def _change_json(change: ResourceChange) -> dict[str, Any]:
    return {
        "operation": change.operation,
        "urn": change.urn,
        "type": change.type,
        "name": change.name,
        "old_urn": change.old_urn,
        "changes": [_property_json(p) for p in change.changes],
        "notes": change.notes,
    }


class DiffError(Exception):
    """The two plans cannot be compared (different stacks or projects)."""


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


def urn_name(urn: str) -> str:
    """A URN's name: all after its third `::`, which a name may hold itself (sdk/go/common/resource/urn/urn.go)."""
    return urn.split("::", 3)[-1]


def _urn_type(urn: str) -> str:
    """A URN's own type, without its parents' (urn.go Type: the qualified type after its last `$`)."""
    return urn.split("::")[2].rpartition("$")[2]


def _collapsed(
    alias: str | dict[str, Any], resource: dict[str, Any], stack: str, project: str, moved: dict[str, str]
) -> str:
    """One alias as a URN, as the engine makes it (pkg/resource/deploy/step_generator.go collapseAliasToUrn).

    A spec's missing parts are the resource's own; a parent it names that was itself matched
    by alias stands for that parent's old URN; the root stack as parent is no parent.
    """
    if isinstance(alias, str):
        return alias
    name = alias.get("name") or resource["name"]
    type_ = alias.get("type") or resource["type"]
    parent = moved.get(alias["parent"], alias["parent"]) if alias.get("parent") else resource["parent"]
    if alias.get("no_parent") or not parent or parent.split("::")[2] == STACK_TYPE:
        return f"urn:pulumi:{alias.get('stack') or stack}::{alias.get('project') or project}::{type_}::{name}"
    # resource.CreateURN (sdk/go/common/resource/alias.go): the parent's URN up to its name, so
    # under a parent the alias's stack and project count for nothing.
    return f"{parent[: parent.rindex('::')]}${type_}::{name}"


def _inherited(type_: str, name: str, parent: str, old_parent: str, stack: str, project: str) -> str:
    """An alias a child inherits from its parent's (step_generator.go inheritedChildAlias).

    The type and name under the parent's old URN; a name that starts with the parent's name
    starts with the parent's old name instead.
    """
    parent_name = urn_name(parent)
    if name.startswith(parent_name):
        name = urn_name(old_parent) + name.removeprefix(parent_name)
    return make_urn(stack, project, old_parent, type_, name)


def _alias_urns(resource: dict[str, Any], stack: str, project: str, moved: dict[str, str]) -> list[str]:
    """The URNs a head resource may have had, in the engine's order of trying them (step_generator.go generateAliases).

    Its own aliases first; then, when its parent was itself matched by alias (`moved`: head
    URN -> old URN), the ones it inherits: its own type and name, then each of its aliases'
    type and name, under the parent's old URN.
    """
    urns = [_collapsed(alias, resource, stack, project, moved) for alias in resource["aliases"]]
    parent = resource["parent"]
    if parent in moved:
        named = [(resource["type"], resource["name"])] + [(_urn_type(urn), urn_name(urn)) for urn in urns]
        urns += [_inherited(type_, name, parent, moved[parent], stack, project) for type_, name in named]
    return urns


def _registration_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The head's resources (in tree order), each moved after its parent and the parents its aliases name.

    The SDK awaits those URNs before it registers a resource, so the engine has matched them
    first, whatever their types and names sort like.
    """
    by_urn = {r["urn"]: r for r in resources}
    seen: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def visit(resource: dict[str, Any]) -> None:
        if resource["urn"] in seen:
            return
        seen.add(resource["urn"])
        alias_parents = [alias.get("parent") for alias in resource["aliases"] if isinstance(alias, dict)]
        for urn in [resource["parent"], *alias_parents]:
            if urn in by_urn:
                visit(by_urn[urn])
        ordered.append(resource)

    for resource in resources:
        visit(resource)
    return ordered


def _masked(change: PropertyChange, old: dict[str, Any], new: dict[str, Any]) -> PropertyChange:
    """The change with both values shown as "[secret]" when either side holds a secret at, above or below it.

    A value that becomes secret in the head was public in the base plan, but a diff is
    read beside the head: it must not be where that value is printed again.
    """
    if any(overlaps(secret, change.path) for secret in (*old["secret_paths"], *new["secret_paths"])):
        return PropertyChange(
            change.path,
            None if change.old is None else SECRET,
            None if change.new is None else SECRET,
            change.kind,
        )
    return change


def _same_provider(before: str | None, after: str | None, moved: dict[str, str]) -> bool:
    """Whether two provider references (`URN::ID`) name one provider matched by alias, whatever their IDs.

    The engine sees no provider change then (step_generator.go providerChanged).
    """
    if not (before and after):
        return False
    return moved.get(after.rpartition("::")[0]) == before.rpartition("::")[0]


def _compare_resources(
    old: dict[str, Any], new: dict[str, Any], moved: dict[str, str]
) -> tuple[ResourceChange | None, list[PropertyChange]]:
    """How `new` differs from the `old` resource it was matched with, and what it will not apply.

    The first is None when nothing differs; the second lists the input changes its
    `ignore_changes` keeps the engine from applying. `moved` maps head URNs matched by alias to
    their old URNs, so a provider that was itself renamed with an alias is still the same provider.
    """
    inputs: list[PropertyChange] = []
    ignored: list[PropertyChange] = []
    for change in compare(old["inputs"], new["inputs"]):
        masked = _masked(change, old, new)
        covered = any(covers(path, change.path) for path in new["ignore_changes"])
        (ignored if covered else inputs).append(masked)
    options = []
    for option in OPTIONS:
        before, after = old.get(option), new.get(option)
        if before != after and not (option == "provider" and _same_provider(before, after, moved)):
            options.append(PropertyChange(f"({option})", before, after, "update"))
    renamed = old["urn"] != new["urn"]
    if not inputs and not options and not renamed:
        return None, ignored
    notes = []
    # A path secret on both sides holds "[secret]" on both, so it is never among the changes.
    unseen = sorted(
        path
        for path in new["secret_paths"]
        if path in old["secret_paths"] and not any(covers(ignored, path) for ignored in new["ignore_changes"])
    )
    if unseen:
        notes.append(f"secret, not compared: {', '.join(unseen)}")
    # replaceOnChanges applies to the provider's property diff: inputs only, never options.
    replace = [c.path for c in inputs if any(covers(p, c.path) for p in new["replace_on_changes"])]
    if replace:
        notes.append(f"replace_on_changes: {', '.join(replace)}")
    identity = [c.path for c in inputs if _kubernetes_identity(new["type"], c.path)]
    if identity:
        replace += identity
        notes.append(f"a new Kubernetes object: {', '.join(identity)} changed")
    if renamed:
        notes.append(f"was {old['urn']} (matched by alias)")
    changes = inputs + options
    found = ResourceChange(
        "replace" if replace else "update" if changes else "rename",
        new["urn"],
        new["type"],
        new["name"],
        old_urn=old["urn"] if renamed else None,
        changes=changes,
        notes=notes,
    )
    return found, ignored


#: What names a Kubernetes object: pulumi-kubernetes replaces an object whose name or namespace
#: changes ("Changing the identity of the resource always causes a replacement", provider/pkg/provider/
#: provider.go Diff, forceNewFields).
KUBERNETES_IDENTITY = ("metadata.name", "metadata.namespace")


def _kubernetes_identity(token: str, path: str) -> bool:
    """Whether `path` is an identity field of a Kubernetes object (not of a Helm release or provider)."""
    if not token.startswith("kubernetes:") or token.startswith(("kubernetes:helm.sh/", "kubernetes:yaml/")):
        return False
    return path in KUBERNETES_IDENTITY


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    """What changing `base` into `head` asks the engine to do, resource by resource.

    Raises DiffError when the plans are of different stacks, or when two resources of the
    head claim the same old resource (the engine refuses such a program).
    """
    if (base.project, base.stack) != (head.project, head.stack):
        raise DiffError(
            f"the plans are of different stacks: base {base.project}/{base.stack}, head {head.project}/{head.stack}"
        )
    old_by_urn = {r["urn"]: r for r in base.resources if r["type"] != STACK_TYPE}
    resources = [r for r in tree_order(head.resources) if r["type"] != STACK_TYPE]
    # Own URNs first: a resource that kept its URN is that resource, whatever aliases say.
    claimed = {r["urn"]: r["urn"] for r in resources if r["urn"] in old_by_urn}  # old URN -> head URN
    moved: dict[str, str] = {}  # head URN -> old URN, for resources matched by alias
    for resource in _registration_order(resources):
        if resource["urn"] in old_by_urn:
            continue
        for candidate in _alias_urns(resource, head.stack, head.project, moved):
            if candidate in old_by_urn:
                if candidate in claimed:
                    raise DiffError(
                        f"{resource['urn']} and {claimed[candidate]} both claim {candidate} "
                        "(by URN or alias): `pulumi preview` fails on such a program"
                    )
                claimed[candidate] = resource["urn"]
                moved[resource["urn"]] = candidate
                break
    changes: list[ResourceChange] = []
    not_applied: list[ResourceChange] = []
    unchanged = unchanged_with_secrets = 0
    for resource in resources:
        old_urn = moved.get(resource["urn"], resource["urn"])
        if old_urn not in old_by_urn:
            changes.append(ResourceChange("create", resource["urn"], resource["type"], resource["name"]))
            continue
        change, ignored = _compare_resources(old_by_urn[old_urn], resource, moved)
        if ignored:
            not_applied.append(
                ResourceChange("update", resource["urn"], resource["type"], resource["name"], changes=ignored)
            )
        if change is None:
            unchanged += 1
            unchanged_with_secrets += bool(resource["secret_paths"])
        else:
            changes.append(change)
    for urn, resource in old_by_urn.items():
        if urn not in claimed:
            notes = (
                ["protected: `pulumi up` refuses to delete it until it is unprotected"] if resource["protect"] else []
            )
            if resource["retain_on_delete"]:
                notes.append("retain_on_delete: removed from the stack, left in the cloud")
            changes.append(ResourceChange("delete", urn, resource["type"], resource["name"], notes=notes))
    outputs = [_masked_output(c) for c in compare(base.outputs, head.outputs)]
    return PlanDiff(head.stack, changes, unchanged, unchanged_with_secrets, outputs, not_applied, moved)


def _masked_output(change: PropertyChange) -> PropertyChange:
    """Stack outputs are redacted in plans already; a secret on either side hides both values."""
    if SECRET in (change.old, change.new):
        return PropertyChange(
            change.path, None if change.old is None else SECRET, None if change.new is None else SECRET, change.kind
        )
    return change


def shown(value: Any) -> str:
    """A value as the reports print it: JSON, or the secret marker as is."""
    return value if value == SECRET else json.dumps(value, sort_keys=True)


def property_lines(change: PropertyChange) -> tuple[str, list[str]]:
    """One changed property as the reports print it: its line, and for multi-line text the unified diff of its lines.

    The first is `~ path: old => new`, `+ path: new` or `- path: old`; text of several lines
    (a ConfigMap's file, a script) is `~ path:` followed by difflib's unified diff of the two
    texts (one line of context, without its file header), each line starting `@`, `+`, `-` or a space.
    """
    sign = {"add": "+", "delete": "-", "update": "~"}[change.kind]
    # Only an update has a value on both sides.
    strings = isinstance(change.old, str) and isinstance(change.new, str)
    if strings and ("\n" in change.old or "\n" in change.new):
        lines = difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), lineterm="", n=1)
        return f"{sign} {change.path}:", list(lines)[2:]
    if change.kind == "update":
        return f"{sign} {change.path}: {shown(change.old)} => {shown(change.new)}", []
    return f"{sign} {change.path}: {shown(change.old if change.kind == 'delete' else change.new)}", []


def _render_property(change: PropertyChange) -> list[str]:
    line, text = property_lines(change)
    return [f"        {line}"] + [f"            {nested}" for nested in text]


def render(result: PlanDiff) -> str:
    """The diff as `pulumi preview --diff` would print it, with a summary."""
    lines = [f"Offline diff of stack {result.stack}:", ""]
    for change in result.changes:
        lines.append(f" {SYMBOLS[change.operation]} {change.type}  {change.name}  {change.operation}")
        for prop in change.changes:
            lines.extend(_render_property(prop))
        lines.extend(f"        ({note})" for note in change.notes)
    if not result.changes:
        lines.append(" No changes")
    if result.ignored:
        lines += ["", "Not applied (the resource's ignore_changes keeps the old value):"]
        for change in result.ignored:
            lines.append(f"    {change.type}  {change.name}")
            for prop in change.changes:
                lines.extend(_render_property(prop))
    if result.outputs:
        lines += ["", "Outputs:"]
        for prop in result.outputs:
            lines.extend(line[4:] for line in _render_property(prop))
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
