"""How sites reach each other: allow-list entries resolved to the addresses traffic really comes from.

Sites are separate clouds and nothing connects them privately unless the spec declares an
interconnect. Traffic from another site leaves through that site's egress addresses (the
NAT gateways' Elastic IPs on AWS, the router's external gateway address on OpenStack), so
an allow-list names the site (`site:aws-frankfurt`) and this module turns the name into
those addresses. Every allow-list that admits another site (the Kubernetes API today;
observability and GitOps endpoints as they land) resolves through `sources`, so there is
one way sites reach each other.

The number of addresses of a site is known from its spec (one per NAT gateway, one router
gateway), so a consumer may create one resource per source (a security-group rule) without
creating resources inside `apply`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

import pulumi

from .labels import cidr_slug
from .spec.base import SITE_REF_PREFIX

if TYPE_CHECKING:
    from .spec import PlatformSpec


class HasEgress(Protocol):
    """What a site component offers to allow-lists elsewhere."""

    egress_addresses: list[pulumi.Output[str]]


@dataclass(frozen=True)
class Source:
    """One network an allow-list admits."""

    #: Stable, position-free part of resource names derived from the source.
    slug: str
    #: The CIDR (an Output for a site's egress address, `x.y.z.w/32`).
    cidr: pulumi.Input[str]
    #: 4 or 6 (egress addresses are IPv4).
    version: int
    #: The site the source stands for, when it came from `site:<name>`.
    site: str | None = None


#: The sites of a list that takes CIDRs only.
NO_SITES: Mapping[str, HasEgress] = MappingProxyType({})


def sources(entries: Sequence[str], sites: Mapping[str, HasEgress] = NO_SITES) -> list[Source]:
    """Resolve allow-list entries (CIDRs and `site:<name>`) into sources, in spec order.

    The spec has checked every site reference (PlatformSpec._allow_list); an unknown one here
    is a programming error. Lists that take CIDRs only (a site's admin_cidrs) pass no sites.
    """
    found: list[Source] = []
    for entry in entries:
        if entry.startswith(SITE_REF_PREFIX):
            name = entry.removeprefix(SITE_REF_PREFIX)
            for index, address in enumerate(sites[name].egress_addresses):
                found.append(Source(f"{name}-egress-{index}", address.apply(lambda ip: f"{ip}/32"), 4, name))
        else:
            found.append(Source(cidr_slug(entry), entry, ipaddress.ip_network(entry).version))
    return found


def api_allow_list(spec: PlatformSpec, cluster: str) -> list[str]:
    """Who may reach a cluster's API besides its site's admin CIDRs, as allow-list entries.

    The spec's `api_cidrs`, then, where the clusters read Vault at run time (`vault.in_cluster`),
    Vault's egress: Vault asks each cluster's API to review the service account tokens it is
    shown (TokenReview; components/addons/external_secrets.py); then the GitOps engine's paths
    (`gitops_sources`); then, for a capi cluster, its management cluster's site. An entry named
    twice is kept once, at its first place (sources' slugs name resources).
    """
    entries = list(spec.clusters[cluster].api_cidrs)
    if spec.vault is not None and spec.vault.in_cluster is not None:
        entries.extend(spec.vault.in_cluster.egress)
    entries.extend(gitops_sources(spec, cluster))
    management = spec.clusters[cluster].management_cluster
    if spec.clusters[cluster].backend == "capi" and management in spec.clusters:
        # Cluster API's controllers and the cluster's autoscaler call its API from the management
        # cluster (components/clusters/capi.py), through its public address: its site's egress.
        entries.append(f"site:{spec.clusters[management].site}")
    return list(dict.fromkeys(entries))


def gitops_sources(spec: PlatformSpec, cluster: str) -> list[str]:
    """The GitOps engine's paths into `cluster`'s API, as `site:<name>` entries (components/gitops.py).

    The management cluster's controllers call every registered cluster's API (Fleet deploys its
    agent there, Sveltos deploys add-ons there itself); with Fleet, each registered cluster's
    agent calls the management cluster's API back. Those calls go to the API's public address (the
    kubeconfig's server: a floating IP, a load balancer), so even from the same site they arrive
    from the caller's site egress addresses (its NAT gateways, or the router a floating IP is
    reached through: Neutron SNATs them to its gateway), and that is what is admitted.
    """
    from .spec.gitops import registered_clusters

    gitops = spec.gitops
    registered = registered_clusters(spec)
    if gitops is None or not registered:
        return []
    home = spec.clusters[str(gitops.management_cluster)].site
    if cluster in registered:
        return [f"site:{home}"]
    if cluster == gitops.management_cluster and gitops.engine == "fleet":
        return sorted({f"site:{spec.clusters[name].site}" for name in registered})
    return []


def cidrs(found: Sequence[Source], *extra: str, version: int | None = 4) -> pulumi.Output[list[str]]:
    """The sources' CIDRs (of one IP version, unless None) plus `extra`, sorted and without repeats."""
    chosen = [source.cidr for source in found if version is None or source.version == version]
    return pulumi.Output.all(*extra, *chosen).apply(lambda items: sorted(set(items)))
