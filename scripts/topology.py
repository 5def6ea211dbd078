"""The topology picture of a stack, as a Mermaid flowchart for the pull request comment.

Sites (the plan's `sites` output) hold their clusters (the `clusters` output); each cluster
holds its node pools (`meridian:clusters:NodePool`) and its add-ons (the `meridian:addons:*`
components under it); dashed arrows are the paths between clusters the program builds: every
observed cluster's collector pushing metrics and logs to the central cluster, and the GitOps
engine's management cluster to every cluster it registers. Drawn over both
plans, so a site, cluster, pool or add-on the change adds, removes or changes inside is styled
`added`, `removed` or `changed`; a pool or add-on renamed with its alias is one node, named
both ways. Only names from the spec appear (no address, no value).

The text must parse with Mermaid's own parser: tests/test_diffreport.py runs it under node
(`scripts/mermaid/`, npm `mermaid` with `jsdom`, installed by `make tools`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .diff import PlanDiff
from .harness import Plan

CLUSTER = "meridian:clusters:KubernetesCluster"
SITES = ("meridian:sites:OpenStackSite", "meridian:sites:AwsSite")
GITOPS = ("meridian:gitops:Fleet", "meridian:gitops:Sveltos")
#: The objects by which an engine registers a cluster (components/gitops.py).
REGISTRATIONS = (
    "kubernetes:fleet.cattle.io/v1alpha1:Cluster",
    "kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster",
)
POOL = "meridian:clusters:NodePool"
ADDON_PREFIX = "meridian:addons:"
COLLECTOR = "meridian:addons:SiteObservability"
CENTRAL = "meridian:addons:CentralObservability"
STYLES = {
    "added": "fill:#e6ffed,stroke:#22863a,color:#144620",
    "removed": "fill:#ffeef0,stroke:#cb2431,color:#86181d,stroke-dasharray:5 5",
    "changed": "fill:#fff5b1,stroke:#b08800,color:#735c0f",
}


@dataclass
class _Node:
    key: str
    label: str
    #: The component's URN in either plan (head first): what changes are attributed to.
    urns: set[str] = field(default_factory=set)
    status: str | None = None


def _id(key: str) -> str:
    """A Mermaid node id: letters, digits and underscores, unique per key."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")
    return f"n_{slug}_{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def _label(text: str) -> str:
    """Text safe inside `["..."]` (Mermaid's entity for a double quote)."""
    return text.replace('"', "#quot;")


def _components(plan: Plan) -> tuple[dict[str, dict[str, str]], dict[str, str], list[tuple[str, str, str, str]]]:
    """(clusters from outputs, cluster component URN -> cluster name, [(cluster, kind, name, urn)] of children)."""
    clusters: dict[str, dict[str, str]] = dict(plan.outputs.get("clusters") or {})
    cluster_urns = {r["urn"]: r["name"] for r in plan.resources if r["type"] == CLUSTER}
    children = []
    for resource in plan.resources:
        parent = resource.get("parent") or ""
        if parent not in cluster_urns:
            continue
        cluster = cluster_urns[parent]
        if resource["type"] == POOL:
            children.append((cluster, "pool", resource["name"].removeprefix(f"{cluster}-"), resource["urn"]))
        elif resource["type"].startswith(ADDON_PREFIX):
            children.append((cluster, "addon", resource["type"].removeprefix(ADDON_PREFIX), resource["urn"]))
    return clusters, cluster_urns, children


def _push_paths(plan: Plan, cluster_urns: dict[str, str]) -> set[tuple[str, str]]:
    """(collector's cluster, central cluster) for every observed cluster of the plan."""
    central = [
        cluster_urns[r["parent"]] for r in plan.resources if r["type"] == CENTRAL and r["parent"] in cluster_urns
    ]
    if not central:
        return set()
    return {
        (cluster_urns[r["parent"]], central[0])
        for r in plan.resources
        if r["type"] == COLLECTOR and r["parent"] in cluster_urns
    }


def _gitops_paths(plan: Plan, cluster_urns: dict[str, str]) -> set[tuple[str, str, str]]:
    """(management cluster, registered cluster, engine) for every cluster a GitOps engine registers."""
    found = set()
    for component in plan.resources:
        if component["type"] not in GITOPS or component.get("parent") not in cluster_urns:
            continue
        engine = component["type"].rpartition(":")[2].lower()
        for resource in plan.resources:
            if resource.get("parent") == component["urn"] and resource["type"] in REGISTRATIONS:
                registered = str((resource["inputs"].get("metadata") or {}).get("name", ""))
                found.add((cluster_urns[component["parent"]], registered, engine))
    return found


#: A capi cluster's Cluster object, made through its management cluster's provider (components/clusters/capi.py).
CAPI_CLUSTER = "kubernetes:cluster.x-k8s.io/v1beta2:Cluster"


def _cluster_api_paths(plan: Plan, cluster_urns: dict[str, str]) -> set[tuple[str, str]]:
    """(management cluster, capi cluster): whose Cluster API controllers build which cluster."""
    provider_home = {r["urn"]: r.get("parent") for r in plan.resources if r["type"] == "pulumi:providers:kubernetes"}
    found = set()
    for resource in plan.resources:
        if resource["type"] != CAPI_CLUSTER or resource.get("parent") not in cluster_urns:
            continue
        provider = str(resource.get("provider") or "").rsplit("::", 1)[0]
        home = provider_home.get(provider)
        if home in cluster_urns:
            found.add((cluster_urns[home], cluster_urns[resource["parent"]]))
    return found


def _owner(urn: str, parents: dict[str, str], nodes_by_urn: dict[str, _Node]) -> _Node | None:
    """The nearest drawn node at or above `urn` in the resource tree."""
    current: str | None = urn
    seen = 0
    while current and seen < 64:
        if current in nodes_by_urn:
            return nodes_by_urn[current]
        current = parents.get(current)
        seen += 1
    return None


def mermaid(result: PlanDiff, base: Plan, head: Plan) -> str:
    """The flowchart of `head` with what `base` had and it lost, styled by the diff."""
    nodes: dict[str, _Node] = {}
    site_of: dict[str, str] = {}
    sites: dict[str, str] = {}
    edges: set[tuple[str, str, str]] = set()
    contains: list[tuple[str, str]] = []
    presence: dict[str, set[str]] = {}
    for side, plan in (("head", head), ("base", base)):
        for name, kind in (plan.outputs.get("sites") or {}).items():
            sites.setdefault(name, kind)
            node = nodes.setdefault(f"site/{name}", _Node(f"site/{name}", f"{name} ({kind})"))
            node.urns |= {r["urn"] for r in plan.resources if r["type"] in SITES and r["name"] == name}
            presence.setdefault(f"site/{name}", set()).add(side)
        clusters, cluster_urns, children = _components(plan)
        for name, spec in clusters.items():
            key = f"cluster/{name}"
            version = str(spec.get("version"))
            node = nodes.setdefault(key, _Node(key, f"{name}: {spec.get('backend')} {version}"))
            if side == "base" and not node.label.endswith(f" {version}") and "head" in presence.get(key, set()):
                node.label = f"{name}: {spec.get('backend')} {version} → {node.label.rsplit(' ', 1)[1]}"
            site_of.setdefault(key, str(spec.get("site")))
            presence.setdefault(key, set()).add(side)
        for urn, name in cluster_urns.items():
            if f"cluster/{name}" in nodes:
                nodes[f"cluster/{name}"].urns.add(urn)
        for cluster, kind, name, urn in children:
            key = f"{kind}/{cluster}/{name}"
            node = nodes.setdefault(key, _Node(key, name if kind == "addon" else f"pool {name}"))
            node.urns.add(urn)
            presence.setdefault(key, set()).add(side)
            if (f"cluster/{cluster}", key) not in contains:
                contains.append((f"cluster/{cluster}", key))
        edges |= {(f"cluster/{a}", f"cluster/{b}", "metrics, logs") for a, b in _push_paths(plan, cluster_urns)}
        edges |= {(f"cluster/{a}", f"cluster/{b}", engine) for a, b, engine in _gitops_paths(plan, cluster_urns)}
        edges |= {(f"cluster/{a}", f"cluster/{b}", "cluster api") for a, b in _cluster_api_paths(plan, cluster_urns)}
    for key, sides in presence.items():
        if sides == {"head"}:
            nodes[key].status = "added"
        elif sides == {"base"}:
            nodes[key].status = "removed"
    parents = {r["urn"]: r.get("parent") or "" for r in (*base.resources, *head.resources)}
    nodes_by_urn = {urn: node for node in nodes.values() for urn in node.urns}
    # A pool or add-on renamed with its alias is the same component (the engine keeps it): one
    # node, labelled with both names and styled as changed, not a removal beside an addition.
    for head_urn, old_urn in result.moved.items():
        new_node, old_node = nodes_by_urn.get(head_urn), nodes_by_urn.get(old_urn)
        # Pools only: a renamed site or cluster is the container of other nodes and edges, drawn
        # as removed beside added (its children moved with it).
        if new_node is None or old_node is None or new_node is old_node or not new_node.key.startswith("pool/"):
            continue
        if new_node.status == "added" and old_node.status == "removed":
            new_node.label = f"{old_node.label} → {new_node.label}"
            new_node.status, new_node.urns = "changed", new_node.urns | old_node.urns
            del nodes[old_node.key]
            contains = [(parent, child) for parent, child in contains if child != old_node.key]
            nodes_by_urn = {urn: node for node in nodes.values() for urn in node.urns}
    # A cluster whose own settings (the `clusters` output: backend, version) change.
    for output in result.outputs:
        parts = output.path.split(".")
        key = f"cluster/{parts[1]}" if len(parts) >= 3 and parts[0] == "clusters" else ""
        if key in nodes and nodes[key].status is None:
            nodes[key].status = "changed"
    for change in result.changes:
        owner = _owner(change.urn, parents, nodes_by_urn) or _owner(change.old_urn or "", parents, nodes_by_urn)
        if owner is not None and owner.status is None:
            owner.status = "changed"
    return "\n".join(_lines(nodes, sites, site_of, contains, edges))


def _lines(
    nodes: dict[str, _Node],
    sites: dict[str, str],
    site_of: dict[str, str],
    contains: Iterable[tuple[str, str]],
    edges: set[tuple[str, str, str]],
) -> list[str]:
    """Sites as subgraphs holding one subgraph per cluster, which holds its pools and add-ons."""
    children: dict[str, list[str]] = {}
    for parent, child in contains:
        children.setdefault(parent, []).append(child)
    lines = ["flowchart LR"]
    for name in sorted(sites):
        lines.append(f'  subgraph {_id("site/" + name)}["{_label(nodes["site/" + name].label)}"]')
        for cluster in sorted(k for k, s in site_of.items() if s == name):
            lines.append(f'    subgraph {_id(cluster)}["{_label(nodes[cluster].label)}"]')
            for child in sorted(children.get(cluster, [])):
                lines.append(f'      {_id(child)}["{_label(nodes[child].label)}"]')
            lines.append("    end")
        lines.append("  end")
    for source, target, label in sorted(edges):
        lines.append(f"  {_id(source)} -. {label} .-> {_id(target)}")
    for status, style in STYLES.items():
        members = sorted(_id(key) for key, node in nodes.items() if node.status == status)
        if members:
            lines.append(f"  classDef {status} {style}")
            lines.append(f"  class {','.join(members)} {status}")
    return lines
