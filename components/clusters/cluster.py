"""KubernetesCluster and NodePool: one cluster on one site, whatever the backend.

Children of KubernetesCluster (`parent=self`):

* the backend's control plane (see `rke2`, `magnum`, `capi`, `eks`; nothing for `attached`)
* `<cluster>-<pool>`  NodePool per `node_pools` entry, holding the pool's nodes
* `<cluster>-k8s`     pulumi_kubernetes.Provider built from the cluster's kubeconfig; every
                      add-on on the cluster receives it explicitly
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import pulumi
import pulumi_kubernetes as k8s

from ..reachability import Source
from ..spec import ClusterSpec, NodePoolSpec, ProjectSpec
from ..spec.clusters import POOL_LABEL

if TYPE_CHECKING:
    from ..sites.aws import AwsSite
    from ..sites.openstack import OpenStackSite

    # An explicit alias: mypy reads the modules of this import cycle in an order that may come to
    # this line before it knows the classes, and an implicit alias then is "not valid as a type".
    Site: TypeAlias = "OpenStackSite | AwsSite"


class Backend(Protocol):
    """What a backend module provides."""

    def build(self, cluster: KubernetesCluster, spec: ClusterSpec, site: Any) -> pulumi.Output[str]:
        """Create the control plane and node pools under `cluster`; return the kubeconfig."""
        ...


class NodePool(pulumi.ComponentResource):
    """A group of identical worker nodes of one cluster; the backend creates its children."""

    spec: NodePoolSpec
    """The pool's spec."""
    node_labels: dict[str, str]
    """Labels the nodes register with: the pool label, GPU defaults and partitioning labels, the pool's own."""

    def __init__(
        self, name: str, spec: NodePoolSpec, *, pool_key: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Open the pool `name` (`<cluster>-<pool>`); the backend adds nodes, then calls `finish`.

        :param name: `<cluster>-<pool>`; prefixes the names of the pool's resources.
        :param spec: the pool's validated spec.
        :param pool_key: the pool's key in the spec (the value of the meridian.io/pool label).
        :param opts: options of the component (parent: the cluster).
        """
        super().__init__("meridian:clusters:NodePool", name, None, opts)
        self.spec = spec
        self.node_labels = {POOL_LABEL: pool_key, **spec.node_labels}

    def finish(self, outputs: dict[str, Any]) -> None:
        """Register the pool's outputs once its nodes exist (always the last step)."""
        self.register_outputs({"node_labels": self.node_labels, **outputs})


@dataclass(frozen=True)
class Management:
    """What a capi cluster's backend needs of its management cluster."""

    #: The management cluster's key in the spec.
    name: str
    #: Its KubernetesCluster component (its Kubernetes provider, labels).
    cluster: KubernetesCluster
    #: Its Cluster API providers (components/addons/cluster_api.py); `ready` is what to wait for.
    providers: Any
    #: Labels of the cluster's Cluster object besides its own: the GitOps engine's, where the engine
    #: finds Cluster API clusters by itself (spec.gitops.discovered: Sveltos).
    engine_labels: Mapping[str, str] = field(default_factory=dict)


class KubernetesCluster(pulumi.ComponentResource):
    """A Kubernetes cluster on a site, exposing its kubeconfig and an explicit Kubernetes provider."""

    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig of the cluster (secret)."""
    provider: k8s.Provider
    """Kubernetes provider for resources on this cluster; pass it explicitly, never rely on ~/.kube/config."""
    pools: dict[str, NodePool]
    """Node pools by their key in the spec."""
    labels: dict[str, str]
    """Labels for the cluster's cloud resources and Kubernetes objects: the site's plus `cluster`."""
    project: ProjectSpec
    """The project the cluster belongs to."""
    api_sources: list[Source]
    """Who may reach the Kubernetes API besides the site's admin CIDRs: the spec's `api_cidrs` and
    Vault's egress where clusters read Vault (reachability.api_allow_list), other sites resolved to
    their egress addresses (components/reachability.py)."""
    agents: dict[str, pulumi.Output[str]]
    """rke2: each agent's address on the site network, by `<pool>-<index>` (load balancer members)."""
    boot: dict[str, dict[str, Any]]
    """rke2: what each group of machines ("control-plane", then each pool) boots with, secret-free
    (rke2.boot_record): exported so that a review sees changes the engine will not apply."""
    node_security_group_id: pulumi.Output[str] | None = None
    """rke2: the security group of the cluster's nodes (add-ons admit their load balancers' traffic to it)."""
    volume_driver: pulumi.Resource | None = None
    """The volume driver Meridian installs with the cluster (eks: the EBS CSI add-on), which the
    default StorageClass waits for; None where the cloud's driver comes with the cluster or none does."""
    management: Management | None = None
    """capi: the management cluster whose Cluster API controllers build this one (None elsewhere)."""
    on_provider: list[Callable[[k8s.Provider], None]]
    """What the backend runs on the cluster itself (eks: its cluster-autoscaler), placed through the
    cluster's provider once it exists: each is called with it, in order, after `build`."""
    service_account_issuer: tuple[pulumi.Output[str], pulumi.Output[str]] | None = None
    """eks: the IAM OIDC provider's ARN and the issuer URL of the cluster's service-account tokens,
    which IAM roles for service accounts trust (add-ons make such roles: the EBS CSI driver's,
    cert-manager's for DNS-01); None on other backends."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        *,
        site: Site,
        project: ProjectSpec,
        api_sources: list[Source] | None = None,
        management: Management | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Create the cluster `name` on `site`.

        :param name: the cluster's key in the spec; prefixes every child's name.
        :param spec: the cluster's validated spec (its site and backend already checked to fit).
        :param site: the site component the cluster runs on (its provider, network and tags).
        :param project: the project spec, for names and tags.
        :param api_sources: the resolved API allow-list (reachability.api_allow_list, sources); none when omitted.
        :param management: capi only: the management cluster and its Cluster API providers.
        :param opts: options of the component itself.
        """
        super().__init__("meridian:clusters:KubernetesCluster", name, None, opts)
        self.management = management
        self.name = name
        self.spec = spec
        self.project = project
        self.api_sources = list(api_sources or [])
        self.labels = {**site.labels, "cluster": name}
        self.pools = {}
        self.agents = {}
        self.boot = {}
        self.on_provider = []
        backend: Backend = importlib.import_module(f"{__package__}.{spec.backend}")
        self.kubeconfig = pulumi.Output.secret(backend.build(self, spec, site))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # A cluster that is gone must not block `pulumi destroy` of what was on it.
            delete_unreachable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        for place in self.on_provider:
            place(self.provider)
        self.register_outputs({"kubeconfig": self.kubeconfig, "pools": sorted(self.pools)})

    def open_pool(self, pool: str) -> NodePool:
        """Create the NodePool component for `pool` (the backend then adds its nodes under it)."""
        component = NodePool(
            f"{self.name}-{pool}", self.spec.node_pools[pool], pool_key=pool, opts=pulumi.ResourceOptions(parent=self)
        )
        # The program reads only the keys (the registered outputs, which tests pin); the value is the
        # handle library users get.
        self.pools[pool] = component  # pragma: no mutate - only the keys are read within the program
        return component
