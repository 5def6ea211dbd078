"""`meridian diff --format markdown`: the diff of one stack as a pull request comment.

The same `PlanDiff` as the text and JSON forms (scripts/diff.py), laid out for a reviewer:

1. a marker line (`<!-- meridian-diff:<stack> -->`) CI finds to update its one comment per
   stack instead of adding one per push;
2. the summary counts;
3. **at risk**, first and loud: deleting or replacing a protected or stateful resource, a
   change the engine will not apply (`ignore_changes`), and every policy violation the head
   has that the base did not;
4. creates, deletes, replaces, updates and renames, each resource with its property changes
   (secrets shown as `[secret]`: plans never hold their values); lists longer than
   `COLLAPSE_AFTER` sit in collapsible `<details>` sections;
5. capacity and cost before and after: GPUs by model and partitioning, vCPUs, memory and an
   estimated monthly cost, at the pools' minimum and maximum sizes (the `capacity` output);
6. inside Helm releases, with `--render`: the rendered objects each release adds, removes or
   changes, field by field (scripts/objectdiff.py);
7. changed stack outputs;
8. the topology: a Mermaid flowchart of sites, clusters, pools, add-ons and the paths between
   clusters, with what the change adds, removes or changes styled (scripts/topology.py).

The report holds only what the plans hold, and plans hold no secret: nothing here can reveal one.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.gitops import ENGINE_OBJECT_SUFFIX
from components.spec.clusters import CONTROL_PLANE

from .diff import PlanDiff, PropertyChange, ResourceChange, compare, property_lines, shown, urn_name
from .harness import SECRET, Plan
from .objectdiff import DATA_KINDS, ObjectChange
from .paths import covers
from .render import RELEASE

#: Sections with more resources than this are collapsed.
COLLAPSE_AFTER = 10
CLUSTER_TYPE = "meridian:clusters:KubernetesCluster"
POOL_TYPE = "meridian:clusters:NodePool"
#: The heading and order of each operation's section.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("delete", "To delete"),
    ("replace", "To replace"),
    ("create", "To create"),
    ("update", "To update"),
    ("rename", "Renamed by alias (same resource)"),
)


#: What a cut report ends with by default (`meridian ci fit-comment --note` says where the rest is).
CUT_NOTE = "_The report is longer than a comment may be: the whole of it is in the job summary._"


class FitError(ValueError):
    """The limit cannot hold even the report's marker line and the note."""


def fit(report: str, limit: int, note: str = CUT_NOTE) -> str:
    """`report` in at most `limit` characters, cut between blocks, open `<details>` sections closed, `note` last.

    GitHub refuses a comment body over 65,536 characters (its REST API), GitLab a note over
    1,000,000. A longer report is cut at the end of a line outside every code block (never
    inside a diff or the Mermaid diagram, which would no longer parse, and never right after a
    heading), its `<details>` sections still open then closed, and `note` appended. The
    marker, the summary and the at-risk block come first, so they survive any sensible cut.
    Raises FitError when `limit` cannot hold the marker line and the note.
    """
    if len(report) <= limit:
        return report
    ending = f"\n{note}\n"
    lines = report.splitlines()
    best: tuple[int, int] | None = None  # (lines kept, <details> open) at the last cut that fits
    size, fence, details = 0, "", 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not fence and stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        elif fence and stripped == fence:
            fence = ""
        elif not fence:
            # An HTML block only counts outside code: a diff may show `</details>` as text.
            details += stripped.startswith("<details") - (stripped == "</details>")
        size += len(line) + 1
        if fence or stripped.startswith("#") or details < 0:
            continue
        if size + details * len("</details>\n") + len(ending) > limit:
            break
        best = (index + 1, details)
    if best is None:
        raise FitError(f"{limit} characters cannot hold the report's marker line and the note")
    kept, still_open = best
    return "\n".join([*lines[:kept], *["</details>"] * still_open]) + "\n" + ending


def marker(stack: str) -> str:
    """The comment's marker: one comment per stack, updated in place by CI."""
    return f"<!-- meridian-diff:{stack} -->"


@dataclass(frozen=True)
class NewViolation:
    """A policy violation of the head that the base does not have (same policy, same resource)."""

    policy: str
    level: str
    urn: str | None
    message: str


def new_violations(
    base: Iterable[Any], head: Iterable[Any], moved: Mapping[str, str] | None = None
) -> list[NewViolation]:
    """The head's violations (scripts/gate.py `Violation`s) that the base has not.

    A violation is the same when its policy, resource and message are: a resource that keeps
    one problem and gains another under the same policy has a new violation. A resource the
    engine matches by alias (`moved`, head URN -> base URN: `PlanDiff.moved`) is the base's
    resource under a new name; its messages are compared with the new name read as the old.
    Counted as multisets: a second identical problem is new too.
    """
    moved = moved or {}
    before = Counter((v.policy, v.urn, v.message) for v in base)
    found = []
    for v in head:
        old_urn = moved.get(v.urn or "", v.urn)
        # The message as is, and with the new name read as the old one.
        messages = [v.message]
        if old_urn != v.urn and v.urn is not None and old_urn is not None:
            new_name, old_name = urn_name(v.urn), urn_name(old_urn)
            messages.append(v.message.replace(new_name, old_name))
            # Each occurrence alone: the name may also be a word of the message or of the type.
            start = v.message.find(new_name)
            while start >= 0:
                messages.append(v.message[:start] + old_name + v.message[start + len(new_name) :])
                start = v.message.find(new_name, start + 1)
        key = next(((v.policy, old_urn, m) for m in messages if before[(v.policy, old_urn, m)]), None)
        if key is not None:
            before[key] -= 1
        else:
            found.append(NewViolation(v.policy, v.level, v.urn, v.message))
    return sorted(found, key=lambda v: (v.level != "mandatory", v.policy, v.urn or "", v.message))


def _stateful_types() -> frozenset[str]:
    """The policy pack's own list: what `stateful-resources-protected` requires to be protected.

    Imported by name, as scripts/gate.py loads the pack: the pack is type-checked on its own
    (its imports are those of the policy runtime's environment).
    """
    from .gate import PACK_DIR

    if str(PACK_DIR.parent) not in sys.path:
        sys.path.insert(0, str(PACK_DIR.parent))
    module = importlib.import_module(f"{PACK_DIR.name}.meridian_policies.governance")
    found: frozenset[str] = module.STATEFUL_TYPES
    return found


def _text(text: str) -> str:
    """Free text (a policy's message, a value) as Markdown shows it: `<`, `>` and `&` never read as HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Inline code no backtick inside `text` can end (CommonMark: a longer fence, padded)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence, pad = "`" * (longest + 1), " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _resource(change: ResourceChange) -> str:
    return f"{_code(change.type)} {_code(change.name)}"


def at_risk(
    result: PlanDiff,
    base: Plan,
    head: Plan,
    violations: Sequence[NewViolation] = (),
    objects: Sequence[ObjectChange] = (),
) -> list[str]:
    """The at-risk items, one Markdown line each (empty when nothing is at risk)."""
    stateful = _stateful_types()
    old = {r["urn"]: r for r in base.resources}
    new = {r["urn"]: r for r in head.resources}
    items: list[str] = []
    for change in result.changes:
        before = old.get(change.old_urn or change.urn) or new.get(change.urn) or {}
        if change.operation == "update" and (before.get("protect") or change.type in stateful):
            # Whether the provider replaces a resource for an input is in its schema, which an
            # offline plan has not (scripts/diff.py): the reviewer must look before data is lost.
            inputs = [p.path for p in change.changes if not p.path.startswith("(")]
            if inputs:
                items.append(
                    f"**update** {_resource(change)} ({', '.join(_code(p) for p in inputs)}): it holds data or is "
                    "protected, and whether the provider replaces it for these inputs is known only to "
                    "`pulumi preview`"
                )
            continue
        if change.operation not in ("delete", "replace"):
            continue
        reasons = []
        if before.get("protect"):
            reasons.append("protected: `pulumi up` refuses until it is unprotected")
        if change.type in stateful:
            reasons.append("holds data or keys")
        if before.get("retain_on_delete"):
            reasons.append("retain_on_delete: left in the cloud, no longer managed")
        if reasons:
            items.append(f"**{change.operation}** {_resource(change)}: {'; '.join(reasons)}")
    for change in result.ignored:
        paths = ", ".join(_code(p.path) for p in change.changes)
        items.append(
            f"**not applied** {_resource(change)}: {paths} changed, but its `ignore_changes` keeps the value it was "
            "created with"
        )
    items.extend(_fixed_at_creation(result, base, head))
    items.extend(_moved_to_gitops(result))
    for item in objects:
        kind = item.kind.rpartition("/")[2]
        if item.crds_dir and (item.operation == "update" or (item.operation == "create" and item.release_existed)):
            items.append(
                f"**not applied** inside release {_code(item.release)}: {_code(kind)} {_code(item.name)} comes "
                "from the chart's `crds/`, which Helm installs with the release and never upgrades: apply it yourself "
                "(`kubectl apply --server-side`)"
            )
        # Helm never deletes what a chart's crds/ installed: nothing is lost there.
        if item.operation == "delete" and kind in DATA_KINDS and not item.kept and not item.crds_dir:
            items.append(
                f"**delete** inside release {_code(item.release)}: {_code(kind)} {_code(item.name)}: {DATA_KINDS[kind]}"
            )
    for violation in violations:
        where = f" on {_code(new[violation.urn]['name'])}" if violation.urn in new else ""
        message = _text(" ".join(violation.message.split()))
        items.append(f"**new policy violation** [{violation.level}] {_code(violation.policy)}{where}: {message}")
    return items


def _ancestors(plan: Plan, urn: str) -> list[dict[str, Any]]:
    """The resource at `urn` and its parents, innermost first."""
    by_urn = {r["urn"]: r for r in plan.resources}
    found = []
    current = by_urn.get(urn)
    while current is not None:
        found.append(current)
        current = by_urn.get(current.get("parent") or "")
    return found


def _fixed_at_creation(result: PlanDiff, base: Plan, head: Plan) -> list[str]:
    """Cluster settings that change while the cluster's machines keep a secret input fixed at creation.

    A node's user data carries the cluster's version and settings; it is secret (it holds join
    tokens), so plans cannot compare it, and ignored after creation (clusters/rke2.py). The
    stack's `clusters` output says what it holds instead: `clusters.<c>.version` for every
    machine of the cluster, `clusters.<c>.boot.<group>` (a fingerprint, labels and taints) for
    the machines of one pool or of the control plane (CONTROL_PLANE, the machines in no pool).
    When one of those changes, the existing machines it covers keep what they booted with.
    """
    # (cluster, group or None for the whole cluster) -> the outputs that changed
    changed: dict[tuple[str, str | None], list[PropertyChange]] = {}
    for output in result.outputs:
        parts = output.path.split(".")
        if len(parts) >= 3 and parts[0] == "clusters":
            if parts[2] != "boot":
                changed.setdefault((parts[1], None), []).append(output)
            elif len(parts) >= 4:
                changed.setdefault((parts[1], parts[3]), []).append(output)
    renamed = _renamed_groups(result, head, changed)
    items = []
    # Machines that exist already, under their own URN or renamed with an alias (new ones boot with the new settings).
    existing = {r["urn"] for r in base.resources} | set(result.moved)
    for (cluster, group), outputs in changed.items():
        if group is not None and (cluster, group) in renamed:
            continue  # the old name of a renamed pool: compared under its new name
        old_name = next((old for (c, old), new in renamed.items() if c == cluster and new == (c, group)), None)
        if old_name is not None:
            # A pool renamed with its alias: the same machines, their old record against the new one.
            [gone] = changed[(cluster, old_name)]
            [added] = outputs
            outputs = compare(gone.old, added.new, f"clusters.{cluster}.boot.{group}")
            if not outputs:
                continue
        if (
            group is not None
            and (cluster, None) in changed
            and all(p.path.rsplit(".", 1)[-1].startswith("user_data") for p in outputs)
        ):
            # The cluster-wide change (its version) already names these machines and explains the new fingerprint.
            continue
        fixed = []
        # Machines that exist already (new ones boot with the new settings).
        for r in head.resources:
            if r["urn"] not in existing or not any(
                covers(ignored, secret) for ignored in r["ignore_changes"] for secret in r["secret_paths"]
            ):
                continue
            chain = _ancestors(head, r["urn"])
            if not any(a["type"] == CLUSTER_TYPE and a["name"] == cluster for a in chain):
                continue
            pools = [a["name"] for a in chain if a["type"] == POOL_TYPE]
            in_group = not pools if group == CONTROL_PLANE else pools == [f"{cluster}-{group}"]
            if group is None or in_group:
                fixed.append(r)
        if not fixed:
            continue
        # A fingerprint says only that something changed: named only when nothing readable did.
        readable = [p for p in outputs if not _fingerprint(p)] or outputs
        start = 4 if group is not None else 2
        what = _text(", ".join(_setting(".".join(p.path.split(".")[start:]), p) for p in readable))
        pool = _code(group or "") if old_name is None else f"{_code(old_name)} → {_code(group or '')}"
        where = f"cluster {_code(cluster)}" + (
            "" if group is None else (" control plane" if group == CONTROL_PLANE else f" pool {pool}")
        )
        paths = sorted({s for r in fixed for s in r["secret_paths"] if any(covers(i, s) for i in r["ignore_changes"])})
        items.append(
            f"**not applied** {where} ({what}): its {len(fixed)} existing machines keep the "
            f"{', '.join(_code(p) for p in paths)} they were created with (secret, ignored after creation); existing "
            "nodes change only when replaced"
        )
    return items


def _moved_to_gitops(result: PlanDiff) -> list[str]:
    """Helm releases a GitOps engine's new object takes over while Pulumi deletes them.

    Pulumi creates the engine's object first and deletes the Helm release last; that deletion runs
    `helm uninstall` on the release the engine now manages (README, "GitOps": the two-step switch).
    """
    created = {
        change.name.removesuffix(ENGINE_OBJECT_SUFFIX[change.type])
        for change in result.changes
        if change.operation == "create" and change.type in ENGINE_OBJECT_SUFFIX
    }
    return [
        f"**moved to GitOps** {_resource(change)}: deleting it uninstalls the release the engine takes over; "
        f"`pulumi state delete` it before this `pulumi up` ({_code(change.urn)})"
        for change in result.changes
        if change.operation == "delete" and change.type == RELEASE and change.name in created
    ]


def _fingerprint(change: PropertyChange) -> bool:
    """Whether a boot record's change is one of its user data fingerprints (which say only that something changed)."""
    return change.path.rsplit(".", 1)[-1].startswith("user_data")


def _renamed_groups(
    result: PlanDiff, head: Plan, changed: Mapping[tuple[str, str | None], list[PropertyChange]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(cluster, old pool) -> (cluster, new pool) for boot records whose NodePool was renamed with its alias.

    A whole group added or removed is otherwise a pool whose machines are all new or all gone.
    """
    pools = {r["urn"]: r["name"] for r in head.resources if r["type"] == POOL_TYPE}
    found = {}
    for (cluster, group), outputs in changed.items():
        if group is None or len(outputs) != 1 or outputs[0].kind != "add" or outputs[0].path.count(".") != 3:
            continue
        urn = next((u for u, name in pools.items() if name == f"{cluster}-{group}"), None)
        old = result.moved.get(urn or "")
        old_group = urn_name(old).removeprefix(f"{cluster}-") if old else None
        gone = changed.get((cluster, old_group)) if old_group else None
        if old_group and gone and len(gone) == 1 and gone[0].kind == "delete":
            found[(cluster, old_group)] = (cluster, group)
    return found


def _setting(path: str, change: PropertyChange) -> str:
    """One changed setting in a sentence: `path old → new`, `path added new`, `path removed old`."""
    if change.kind == "add":
        return f"{path} added {shown(change.new)}"
    if change.kind == "delete":
        return f"{path} removed {shown(change.old)}"
    return f"{path} {shown(change.old)} → {shown(change.new)}"


def _property_lines(changes: Iterable[PropertyChange]) -> list[str]:
    """The changes as lines of a `diff` block.

    A multi-line text's own diff lines keep their sign first, so GitHub and GitLab colour them,
    and are indented after it.
    """
    lines = []
    for change in changes:
        line, text = property_lines(change)
        lines.append(line)
        lines.extend(nested if nested.startswith("@@") else f"{nested[:1]}   {nested[1:]}" for nested in text)
    return lines


def _fenced(lines: list[str]) -> list[str]:
    """A `diff` code block whose fence no line can close."""
    fence = "```"
    while any(fence in line for line in lines):
        fence += "`"
    return [f"{fence}diff", *lines, fence]


def _section(title: str, changes: list[ResourceChange]) -> list[str]:
    body: list[str] = []
    for change in changes:
        # The section names the operation; a `+` or `-` after the bullet would start a nested list.
        body.append(f"- {_resource(change)}")
        details = _property_lines(change.changes) + [f"({note})" for note in change.notes]
        if details:
            body += ["", *("  " + line for line in _fenced(details)), ""]
    heading = f"### {title} ({len(changes)})"
    if len(changes) > COLLAPSE_AFTER:
        return [heading, "", "<details><summary>show all</summary>", "", *body, "", "</details>", ""]
    return [heading, "", *body, ""]


def summary(result: PlanDiff) -> str:
    """One line of counts, as `pulumi preview` ends."""
    labels = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}
    labels["rename"] = "renamed"
    parts = [f"{count} {labels[op]}" for op, count in result.counts().items()]
    parts.append(f"{result.unchanged} unchanged")
    return " · ".join(parts)


def _objects_section(objects: Sequence[ObjectChange]) -> list[str]:
    """Inside Helm releases (scripts/objectdiff.py `ObjectChange`s), release by release."""
    body: list[str] = []
    for release in sorted({change.release for change in objects}):
        body += [f"#### `{release}`", ""]
        for change in (c for c in objects if c.release == release):
            body.append(f"- {change.operation} {_code(change.kind)} {_code(change.name)}")
            if change.changes:
                body += ["", *("  " + line for line in _fenced(_property_lines(change.changes))), ""]
        body.append("")
    heading = f"### Inside Helm releases ({len(objects)} objects)"
    if len(objects) > COLLAPSE_AFTER:
        return [heading, "", "<details><summary>show all</summary>", "", *body, "</details>", ""]
    return [heading, "", *body]


#: Hours in a month of the cost estimate (8760 / 12).
MONTH_HOURS = 730


def _capacity_totals(plan: Plan) -> dict[str, tuple[float, float]] | None:
    """Row label -> (at minimum sizes, at maximum sizes) of a plan's `capacity` output (None without one)."""
    capacity = plan.outputs.get("capacity")
    if not isinstance(capacity, dict):
        return None
    totals: dict[str, tuple[float, float]] = {}
    unknown = {"sizes": 0, "price": 0}

    def add(label: str, per_node: float, pool: dict[str, Any]) -> None:
        low, high = totals.get(label, (0.0, 0.0))
        totals[label] = (low + per_node * pool["min"], high + per_node * pool["max"])

    for pools in capacity.values():
        for pool in pools.values():
            # A pool whose vCPUs or memory are unknown is counted once as not sized.
            unknown["sizes"] += pool.get("vcpus") is None or pool.get("memory_gib") is None
            for key, label in (("vcpus", "vCPUs"), ("memory_gib", "memory (GiB)")):
                if pool.get(key) is not None:
                    add(label, pool[key], pool)
            gpu = pool.get("gpu")
            for resource, count in ((gpu or {}).get("per_node") or {}).items():
                add(f"GPUs {gpu['model']} ({gpu['sharing']}): {resource}", count, pool)
            if pool.get("price_per_hour") is None:
                unknown["price"] += 1
            else:
                add(f"cost per month ({pool['currency']})", pool["price_per_hour"] * MONTH_HOURS, pool)
    totals["pools not sized"] = (unknown["sizes"], unknown["sizes"])
    totals["pools unpriced"] = (unknown["price"], unknown["price"])
    return totals


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) or value >= 100 else f"{value:,.2f}"


def _span(values: tuple[float, float] | None) -> str:
    if values is None:
        return "—"
    low, high = values
    return _number(low) if low == high else f"{_number(low)} to {_number(high)}"


def _catalogue_note(*plans: Plan) -> str:
    """Where AWS prices came from, when a pool of either plan took one from Meridian's catalogue.

    Each plan's pools say which catalogue (`price_as_of`): after a refresh, base and head differ.
    """
    dates: list[str] = []
    for plan in plans:
        capacity = plan.outputs.get("capacity")
        pools = [pool for pools in capacity.values() for pool in pools.values()] if isinstance(capacity, dict) else []
        for pool in pools:
            as_of = pool.get("price_as_of")
            if pool.get("price_source") == "aws-catalogue" and isinstance(as_of, str) and as_of not in dates:
                dates.append(as_of)
    if not dates:
        return ""
    return (
        f", else AWS on-demand list prices as of {' (before), then '.join(dates)}: Meridian's catalogue, "
        "components/spec/aws-prices.json"
    )


def capacity_section(base: Plan, head: Plan) -> list[str]:
    """Capacity and cost before and after, from the pools' minimum to maximum sizes (components/capacity.py)."""
    before, after = _capacity_totals(base), _capacity_totals(head)
    if after is None:
        return []
    rows = sorted(set(after) | set(before or {}), key=lambda r: (r.startswith("pools"), r.startswith("cost"), r))
    lines = [
        "### Capacity and cost",
        "",
        f"From the pools' minimum to maximum sizes; cost: price per node-hour for {MONTH_HOURS} hours (the sites' "
        f"`flavors`{_catalogue_note(base, head)}).",
        "",
        "| | before | after |",
        "| --- | ---: | ---: |",
    ]
    for row in rows:
        old = (before or {}).get(row)
        new = after.get(row)
        # Compared as shown: sums of prices in another order differ in their last bits only.
        mark = " **(changed)**" if _span(old) != _span(new) and before is not None else ""
        lines.append(f"| {row}{mark} | {_span(old) if before is not None else 'no capacity output'} | {_span(new)} |")
    return [*lines, ""]


def markdown(
    result: PlanDiff,
    base: Plan,
    head: Plan,
    violations: Sequence[NewViolation] = (),
    objects: Sequence[ObjectChange] = (),
) -> str:
    """The whole report for one stack (see the module docstring).

    :param objects: what the releases' rendered objects change (scripts/objectdiff.py), when
        both sides were rendered (`meridian diff --render`).
    """
    lines = [marker(result.stack), f"## Meridian: stack `{result.stack}`", ""]
    risky = at_risk(result, base, head, violations, objects)
    if not result.changes and not result.outputs and not risky and not objects:
        return "\n".join([*lines, "No changes.", ""])
    lines += [f"**{summary(result)}**", ""]
    if risky:
        lines += ["> [!CAUTION]", f"> **At risk ({len(risky)})**", ">"]
        lines += [f"> - {item}" for item in risky]
        lines.append("")
    for operation, title in SECTIONS:
        found = [c for c in result.changes if c.operation == operation]
        if found:
            lines += _section(title, found)
    lines += capacity_section(base, head)
    if objects:
        lines += _objects_section(objects)
    if result.outputs:
        lines += ["### Stack outputs", "", *_fenced(_property_lines(result.outputs)), ""]
    from .topology import mermaid

    # Sites, clusters, pools and add-ons, what the change adds, removes or changes styled.
    lines += ["### Topology", "", "```mermaid", mermaid(result, base, head), "```", ""]
    if result.unchanged_with_secrets:
        lines.append(
            f"_{result.unchanged_with_secrets} unchanged resources hold secrets: plans never hold secret values, so a "
            f"changed secret shows only as {_code(SECRET)}._"
        )
        lines.append("")
    return "\n".join(lines)
