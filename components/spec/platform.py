"""The root of the spec tree: everything one stack (one research project) describes."""

from __future__ import annotations

import ipaddress
from itertools import combinations

from pydantic import Field, model_validator

from ..cloudrules import (
    EKS_CLUSTER_NAME_MAX,
    EKS_NODE_GROUP_PREFIX_MAX,
    LAUNCH_TEMPLATE_PREFIX_MAX,
    NEUTRON_TAGS,
    NOVA_TAGS,
    OCTAVIA_TAGS,
    ec2_is_arm64,
)
from ..labels import cloud_tags, site_labels
from .addons import INTERNET, ProfileGpuSpec, profile_resource
from .base import SITE_REF_PREFIX, Name, SpecModel
from .catalog import AWS_GPU_INSTANCES
from .clusters import ClusterSpec, NodePoolSpec, eks_names
from .errors import CrossFieldError, refuse_case_twins
from .gitops import LABEL_PREFIX, GitOpsSpec, registered_clusters
from .mlops import MlopsSpec, WorkflowsSpec
from .observability import ObservabilitySpec
from .project import ProjectSpec
from .sites import SiteSpec, aws_partition
from .vault import VaultSpec

#: The oldest Kubernetes minor Cluster API v1.14 runs its management cluster on (cluster-api
#: docs/book/src/reference/versions.md: management clusters v1.33 to v1.36).
CAPI_MANAGEMENT_MINOR = 33
#: A capi cluster's pod and service ranges (components/clusters/capi.py POD_CIDR, SERVICE_CIDR).
CAPI_POD_CIDR = "192.168.0.0/16"
CAPI_SERVICE_CIDR = "10.96.0.0/12"

#: Said of a mixed-strategy MIG pool at zero nodes where an autoscaler would start it (capi, eks):
#: neither the clusterapi provider's capacity annotations nor the aws provider's instance types
#: describe MIG slices (one GPU resource, `nvidia.com/gpu`), and pods there ask for
#: `nvidia.com/mig-<profile>`, which no template node offers, so no pending pod ever starts one.
MIXED_MIG_FROM_ZERO = (
    "the autoscaler cannot start a node of a mixed-strategy MIG pool from zero (it cannot tell which slices "
    "a node would offer): keep one node, or use the single strategy"
)


def _mixed_mig(pool: NodePoolSpec) -> bool:
    return pool.gpu is not None and pool.gpu.mig is not None and pool.gpu.mig.strategy == "mixed"


#: Which site kinds each cluster backend can run on.
BACKEND_SITE_KINDS = {
    "rke2": {"openstack"},
    "magnum": {"openstack"},
    "capi": {"openstack"},
    "eks": {"aws"},
    "attached": {"openstack", "aws"},
}


class InterconnectSpec(SpecModel):
    """A private link between two sites that exists outside Meridian (VPN, peering, a research network).

    Nothing connects sites privately unless the spec says so: only then may an allow-list of
    one site name the other's private range. Meridian does not build the link; it trusts this
    declaration, so declare only links that route both sites' CIDRs.
    """

    sites: list[Name] = Field(min_length=2, max_length=2, description="The two sites the link joins.")
    description: str = Field(
        default="", max_length=256, description="What the link is (e.g. 'GEANT L3VPN, Bologna <-> Frankfurt')."
    )


class PlatformSpec(SpecModel):
    """A research project's whole platform: its sites, clusters and add-ons."""

    project: ProjectSpec = Field(description="Identity, ownership and labelling rules of the project.")
    sites: dict[Name, SiteSpec] = Field(
        min_length=1, max_length=32, description="Cloud sites of the project, keyed by site name."
    )
    clusters: dict[Name, ClusterSpec] = Field(
        default_factory=dict, max_length=128, description="Kubernetes clusters, keyed by cluster name."
    )
    interconnects: dict[Name, InterconnectSpec] = Field(
        default_factory=dict,
        max_length=64,
        description="Private links between sites, keyed by name. Without one, sites reach each other only "
        "through their public egress addresses (allow-lists name them as site:<name>).",
    )

    observability: ObservabilitySpec | None = Field(
        default=None,
        description="The project's central observability; with it, every cluster's collector ships metrics and "
        "logs there (unless the cluster sets addons.observability.enabled: false).",
    )

    vault: VaultSpec | None = Field(
        default=None,
        description="How the stack reads its vault: references (auth method, namespace, TLS overrides); without it, "
        "token auth from VAULT_TOKEN or ~/.vault-token.",
    )

    gitops: GitOpsSpec | None = Field(
        default=None,
        description="The project's GitOps engine (Fleet or Sveltos) on one of its clusters, which registers every "
        "other cluster with its labels and delivers Git repositories to those a selector matches.",
    )

    mlops: MlopsSpec | None = Field(
        default=None,
        description="The project's MLOps services: MLflow's tracking server and model registry on one of its "
        "clusters, its database and artifacts kept and backed up there.",
    )

    def interconnected(self, a: str, b: str) -> bool:
        """Whether a declared interconnect joins sites `a` and `b` (a site always reaches itself)."""
        return a == b or any({a, b} == set(link.sites) for link in self.interconnects.values())

    @model_validator(mode="before")
    @classmethod
    def _no_case_twins(cls, data: object) -> object:
        refuse_case_twins(data, {"sites": "name", "clusters": "name", "interconnects": "name"})
        return data

    @model_validator(mode="before")
    @classmethod
    def _collectors_follow_project(cls, data: object) -> object:
        """Settle every unset `addons.observability.enabled`: on when the project declares observability.

        Attached clusters stay off unless they say otherwise (their owner may run their own monitoring).
        """
        if not isinstance(data, dict) or not isinstance(data.get("clusters"), dict):
            return data
        project_observed = data.get("observability") is not None
        clusters: dict[object, object] = {}
        for name, cluster in data["clusters"].items():
            addons = cluster.get("addons", {}) if isinstance(cluster, dict) else None
            toggle = addons.get("observability", {}) if isinstance(addons, dict) else None
            settled = isinstance(toggle, dict) and "enabled" in toggle
            if isinstance(cluster, dict) and isinstance(addons, dict) and isinstance(toggle, dict) and not settled:
                # Attached clusters are someone else's: a collector goes there only when asked for.
                toggle = {**toggle, "enabled": project_observed and cluster.get("backend") != "attached"}
                cluster = {**cluster, "addons": {**addons, "observability": toggle}}
            clusters[name] = cluster
        return {**data, "clusters": clusters}

    @model_validator(mode="after")
    def _observability(self) -> PlatformSpec:
        """The central stack's cluster exists and can publish; collectors have somewhere to ship."""
        problems = CrossFieldError()
        observability = self.observability
        for name, cluster in self.clusters.items():
            if cluster.addons.observed and observability is None:
                problems.add(
                    ("clusters", name, "addons", "observability", "enabled"),
                    "the project has no central observability to ship to: declare the top-level observability "
                    "block, or remove this",
                )
        if observability is None:
            problems.raise_if_any()
            return self
        central = observability.central
        where = ("observability", "central")
        home = self.clusters.get(central.cluster)
        if home is None:
            known = ", ".join(sorted(self.clusters)) or "none"
            problems.add((*where, "cluster"), f"'{central.cluster}' is not a cluster of the project (known: {known})")
            problems.raise_if_any()
            return self
        if not home.addons.observed:
            problems.add(
                ("clusters", central.cluster, "addons", "observability", "enabled"),
                "the central cluster observes itself: keep its collector on",
            )
        if not home.addons.ingress.enabled:
            # The endpoints every collector ships to, and Grafana, are published through the
            # cluster's ingress: without it no site has a path to the central store.
            problems.add(
                ("clusters", central.cluster, "addons", "ingress", "enabled"),
                "the central observability endpoints are published through the ingress: no site could reach them",
            )
        elif home.addons.ingress.acme is None:
            problems.add(
                ("clusters", central.cluster, "addons", "ingress", "acme"),
                "the central endpoints are served over TLS only: give the ingress its ACME account",
            )
        elif home.addons.ingress.acme.challenge == "http-01" and INTERNET not in home.addons.ingress.allowed_sources:
            # With no allow-list of its own the load balancer admits only the sites' collectors, and
            # Let's Encrypt validates HTTP-01 from addresses it does not publish (AddonsSpec._tls_issuer).
            problems.add(
                ("clusters", central.cluster, "addons", "ingress", "acme"),
                "the central endpoints' load balancer admits only the project's sites, so ACME HTTP-01 validation "
                f"never reaches it: allow {INTERNET} in allowed_sources, or use challenge: dns-01 (eks clusters)",
            )
        site = self.sites.get(home.site)
        if home.backend == "attached":
            problems.add(
                (*where, "cluster"),
                f"'{central.cluster}' is attached (someone else's cluster): the central stack needs a cluster Meridian "
                "builds, whose object storage and identities it owns",
            )
        elif site is not None and site.openstack is not None and site.openstack.cluster_credential is None:
            # Loki reaches the site's Swift with its own application credential, never the deployer's.
            problems.add(
                ("sites", home.site, "openstack", "cluster_credential"),
                f"the central observability on '{central.cluster}' keeps logs in the site's Swift with the cluster "
                "application credential: create one with the member role and give its auth_url, id and secret",
            )
        hostnames = ("grafana_hostname", "metrics_hostname", "logs_hostname")
        if site is not None:
            for key in hostnames:
                hostname = getattr(central, key)
                if not hostname.endswith(f".{site.dns.domain}"):
                    problems.add(
                        (*where, key),
                        f"{hostname} is outside site '{home.site}''s DNS domain {site.dns.domain}, where the "
                        "central cluster's records are made",
                    )
        seen: dict[str, tuple[str | int, ...]] = {}
        hub = home.addons.hub
        if hub is not None:
            seen[hub.hostname] = ("clusters", central.cluster, "addons", "jupyterhub", "hostname")
        for key in hostnames:
            hostname = getattr(central, key)
            if hostname in seen:
                problems.add((*where, key), f"{hostname} is already used by {'.'.join(map(str, seen[hostname]))}")
            seen.setdefault(hostname, (*where, key))
        problems.raise_if_any()
        return self

    @model_validator(mode="after")
    def _mlops(self) -> PlatformSpec:
        """MLflow's cluster is the project's, built by Meridian, publishes over TLS and has object storage."""
        mlops = self.mlops
        if mlops is None:
            return self
        problems = CrossFieldError()
        home = self.clusters.get(mlops.cluster)
        if home is None:
            known = ", ".join(sorted(self.clusters)) or "none"
            problems.add(("mlops", "cluster"), f"'{mlops.cluster}' is not a cluster of the project (known: {known})")
            problems.raise_if_any()
            return self
        assert home is not None  # pragma: no mutate - narrows the type after raise_if_any
        ingress = ("clusters", mlops.cluster, "addons", "ingress")
        if home.backend == "attached":
            problems.add(
                ("mlops", "cluster"),
                f"'{mlops.cluster}' is attached (someone else's cluster): MLflow needs a cluster Meridian builds, "
                "whose storage, object store and ingress it owns",
            )
            problems.raise_if_any()
        if not home.addons.ingress.enabled:
            problems.add((*ingress, "enabled"), "MLflow is published through the ingress add-on: keep it on")
        elif not home.addons.ingress.allowed_sources:
            problems.add(
                (*ingress, "allowed_sources"),
                "MLflow is published: list who may reach it (CIDRs, site:<name>, or 0.0.0.0/0 for the internet)",
            )
        elif home.addons.ingress.acme is None:
            problems.add(
                (*ingress, "acme"),
                "MLflow is served over TLS only (its login sends tokens): give the ingress its ACME account",
            )
        site = self.sites.get(home.site)
        if site is not None:
            # On AWS that is an eks cluster (BACKEND_SITE_KINDS), whose service accounts assume
            # the bucket's IAM role (IRSA); on OpenStack the site's S3 endpoint serves the bucket.
            openstack = site.openstack
            if openstack is not None and openstack.object_storage is None:
                problems.add(
                    ("sites", home.site, "openstack", "object_storage"),
                    f"MLflow on '{mlops.cluster}' keeps its artifacts and database backups over S3, and site "
                    f"'{home.site}' offers none: give the site's S3 endpoint and the project's keys for it",
                )
            hostname = mlops.mlflow.hostname
            if not hostname.endswith(f".{site.dns.domain}"):
                problems.add(
                    ("mlops", "mlflow", "hostname"),
                    f"{hostname} is outside site '{home.site}''s DNS domain {site.dns.domain}, where the cluster's "
                    "records are made",
                )
        if mlops.workflows is not None:
            self._workflows(problems, mlops.workflows, home)
        self._model_services(problems, mlops, home)
        seen: dict[str, tuple[str, ...]] = {}
        for where, hostname in self._published_hostnames():
            if hostname in seen and where[0] == "mlops":
                problems.add(where, f"{hostname} is already used by {'.'.join(seen[hostname])}")
            seen.setdefault(hostname, where)
        problems.raise_if_any()
        return self

    def _model_services(self, problems: CrossFieldError, mlops: MlopsSpec, home: ClusterSpec) -> None:
        """Model services run on MLflow's cluster, publish in its site's domain, and get GPUs a pool offers."""
        site = self.sites.get(home.site)
        for name, service in mlops.model_services.items():
            where = ("mlops", "model_services", name)
            if service.cluster != mlops.cluster:
                known = "not a cluster of the project" if service.cluster not in self.clusters else "a cluster"
                problems.add(
                    (*where, "cluster"),
                    f"'{service.cluster}' is {known} without MLflow: a model service loads its model from the "
                    f"registry's Service on MLflow's cluster, '{mlops.cluster}'",
                )
                continue
            if site is not None and not service.hostname.endswith(f".{site.dns.domain}"):
                problems.add(
                    (*where, "hostname"),
                    f"{service.hostname} is outside site '{home.site}''s DNS domain {site.dns.domain}, where the "
                    "cluster's records are made",
                )
            if service.gpu is not None:
                self._gpu_fits(problems, (*where, "gpu"), service.gpu, home)
                if service.image is None:
                    # MLflow's -full image is Python with MLflow's extras (docker/Dockerfile.full):
                    # no deep-learning framework, no CUDA; a GPU model would fail to load or run on CPU.
                    problems.add(
                        (*where, "image"),
                        "a model service with a GPU needs an image with its model flavour's GPU packages (MLflow's "
                        "default image has no CUDA framework): name one",
                    )
            if service.target.cpu_percent is not None and home.backend == "capi":
                # rke2 runs rke2-metrics-server, Magnum's cluster-addons chart a Metrics Server, eks
                # gets the community add-on (components/clusters/eks.py); Meridian's kubeadm
                # clusters run none, and without metrics.k8s.io a CPU autoscaler never scales.
                problems.add(
                    (*where, "target", "cpu_percent"),
                    f"scaling on CPU reads the resource metrics API, and '{mlops.cluster}' (capi) runs no Metrics "
                    "Server to serve it: use requests_per_second, with observability.central on MLflow's cluster",
                )
            central = self.observability.central.cluster if self.observability is not None else None
            if service.target.requests_per_second is not None and central != mlops.cluster:
                # The collectors are Prometheus agents that only forward: the one Prometheus that
                # answers queries is the central one (components/addons/central.py).
                problems.add(
                    (*where, "target", "requests_per_second"),
                    f"scaling on requests needs a Prometheus in the cluster to query, and '{mlops.cluster}' does not "
                    "run the central observability (its collector only forwards): use cpu_percent, or put "
                    "observability.central on MLflow's cluster",
                )

    def _gpu_fits(self, problems: CrossFieldError, at: tuple[str, ...], gpu: ProfileGpuSpec, home: ClusterSpec) -> None:
        """A GPU request of an MLOps service against the pools of its cluster (as a hub profile's)."""
        if not home.gpu_pools:
            problems.add(at, "the MLOps cluster has no GPU pools: remove the gpu block or add a GPU pool")
            return
        found = profile_resource(gpu, home.gpu_pools)
        if isinstance(found, tuple):
            problems.add((*at, found[0]), found[1])

    def _workflows(self, problems: CrossFieldError, workflows: WorkflowsSpec, home: ClusterSpec) -> None:
        """Argo's hostname is the site's; each template's GPU is one a pool of the cluster offers."""
        where = ("mlops", "workflows")
        site = self.sites.get(home.site)
        if site is not None and not workflows.hostname.endswith(f".{site.dns.domain}"):
            problems.add(
                (*where, "hostname"),
                f"{workflows.hostname} is outside site '{home.site}''s DNS domain {site.dns.domain}, where the "
                "cluster's records are made",
            )
        for name, template in workflows.templates.items():
            if template.gpu is not None:
                self._gpu_fits(problems, (*where, "templates", name, "gpu"), template.gpu, home)

    def _published_hostnames(self) -> list[tuple[tuple[str, ...], str]]:
        """Every public hostname the spec names, with where it is set."""
        found: list[tuple[tuple[str, ...], str]] = []
        for name, cluster in self.clusters.items():
            if cluster.addons.hub is not None:
                found.append((("clusters", name, "addons", "jupyterhub", "hostname"), cluster.addons.hub.hostname))
        if self.observability is not None:
            central = self.observability.central
            for key in ("grafana_hostname", "metrics_hostname", "logs_hostname"):
                found.append((("observability", "central", key), getattr(central, key)))
        if self.mlops is not None:
            found.append((("mlops", "mlflow", "hostname"), self.mlops.mlflow.hostname))
            if self.mlops.workflows is not None:
                found.append((("mlops", "workflows", "hostname"), self.mlops.workflows.hostname))
            for name, service in self.mlops.model_services.items():
                found.append((("mlops", "model_services", name, "hostname"), service.hostname))
        return found

    @model_validator(mode="after")
    def _gitops(self) -> PlatformSpec:
        """The engine's cluster is the project's and built by Meridian; each registered cluster has a path to it."""
        problems = CrossFieldError()
        managed = registered_clusters(self)
        for name, cluster in self.clusters.items():
            if cluster.addons.delivery == "gitops" and name not in managed:
                engine = self.gitops.engine if self.gitops is not None else "none"
                why = (
                    "the project has no GitOps engine (gitops.engine)"
                    if engine == "none"
                    else f"{engine} does not manage it (the management cluster, or excluded)"
                )
                problems.add(("clusters", name, "addons", "delivery"), f"gitops delivery needs an engine: {why}")
            elif cluster.addons.delivery == "gitops" and self.gitops is not None:
                # The engine must exist before it delivers; a cluster its own management cluster is
                # built from (Cluster API) exists before the engine can.
                chain = [str(self.gitops.management_cluster)]
                while (upstream := self.clusters.get(chain[-1])) is not None and upstream.backend == "capi":
                    if upstream.management_cluster is None or upstream.management_cluster in chain:
                        break
                    chain.append(str(upstream.management_cluster))
                if name in chain:
                    problems.add(
                        ("clusters", name, "addons", "delivery"),
                        "the engine runs on a cluster Cluster API builds from this one "
                        f"({' built from '.join(chain)}): its add-ons cannot wait for the engine; "
                        "deliver them directly",
                    )
            for key in cluster.labels:
                if key.startswith(LABEL_PREFIX):
                    problems.add(
                        ("clusters", name, "labels", key), f"{LABEL_PREFIX}... labels are Meridian's: choose another"
                    )
        gitops = self.gitops
        if gitops is None:
            problems.raise_if_any()
            return self
        known = ", ".join(sorted(self.clusters)) or "none"
        for index, name in enumerate(gitops.exclude):
            if name not in self.clusters:
                problems.add(("gitops", "exclude", index), f"'{name}' is not a cluster of the project (known: {known})")
            elif name == gitops.management_cluster:
                problems.add(("gitops", "exclude", index), f"'{name}' is the management cluster: it runs the engine")
            elif name in gitops.exclude[:index]:
                problems.add(("gitops", "exclude", index), f"'{name}' is listed twice")
        home = self.clusters.get(gitops.management_cluster or "")
        if gitops.engine == "none":
            if gitops.management_cluster is not None and home is None:
                problems.add(
                    ("gitops", "management_cluster"),
                    f"'{gitops.management_cluster}' is not a cluster of the project (known: {known})",
                )
            problems.raise_if_any()
            return self
        if home is None:
            problems.add(
                ("gitops", "management_cluster"),
                f"'{gitops.management_cluster}' is not a cluster of the project (known: {known})",
            )
        elif home.backend == "attached":
            problems.add(
                ("gitops", "management_cluster"),
                f"'{gitops.management_cluster}' is attached (someone else's cluster): the engine needs a cluster whose "
                "API allow-list Meridian opens to the clusters it manages",
            )
        for name, cluster in self.clusters.items():
            registered = name != gitops.management_cluster and name not in gitops.exclude
            same_vpc = home is not None and home.backend == "eks" == cluster.backend and home.site == cluster.site
            if registered and same_vpc:
                # Inside their VPC both APIs answer on their private endpoints, which admit only their own
                # security groups (clusters/eks.py): the public allow-lists Meridian opens do not apply.
                problems.add(
                    ("clusters", name, "site"),
                    f"{gitops.engine} on eks cluster '{gitops.management_cluster}' would reach this eks cluster of the "
                    "same site through its private endpoint, which only its own security groups admit: register it "
                    "from a management cluster on another site, or exclude it",
                )
            if registered and cluster.backend == "attached":
                # Its API allow-list is its owner's: no path from the management cluster can be opened.
                problems.add(
                    ("clusters", name, "backend"),
                    f"{gitops.engine} must reach this attached cluster's API, whose allow-list is its owner's: "
                    "list it in gitops.exclude, or have its owner admit the management cluster's site and "
                    "register it yourself",
                )
        if gitops.engine == "fleet":
            # Fleet names a GitRepo's Bundles after the repo and each path (`<repo>`, or
            # `<repo>-<path>` with `/` as `-`, lower case) and a HelmOp's after the HelmOp, Meridian's
            # `<cluster>-<release>`, all in one namespace; a HelmOp whose name a repo's Bundle holds is
            # refused ("a non-helmops bundle already exists", fleet v0.16.1
            # internal/cmd/controller/helmops/reconciler/helmop_controller.go).
            delivering = sorted(n for n, c in self.clusters.items() if c.addons.delivery == "gitops")
            for repo, spec in gitops.repos.items():
                bundles = [f"{repo}-{path.strip('/')}".replace("/", "-").lower() for path in spec.paths] or [repo]
                clash = next(((b, n) for b in bundles for n in delivering if b == n or b.startswith(n + "-")), None)
                if clash is not None:
                    bundle, taken = clash
                    problems.add(
                        ("gitops", "repos", repo),
                        f"Fleet names a bundle of this repo '{bundle}', and the add-ons it delivers to cluster "
                        f"'{taken}' '{taken}-<release>', in the same namespace: a bundle named after that "
                        "cluster can take an add-on's name, which Fleet then refuses; choose another name or path",
                    )
        problems.raise_if_any()
        return self

    @model_validator(mode="after")
    def _eks(self) -> PlatformSpec:
        """eks: names within what EKS and the AWS provider take; pools the cluster-autoscaler can start.

        The names are built as components/clusters/eks.py builds them: the cluster
        `<project>-<site>-<cluster>`, each pool's node group prefix `<cluster>-<pool>-` and launch
        template prefix `<project>-<site>-<cluster>-<pool>-` (limits: components/cloudrules.py).
        """
        problems = CrossFieldError()
        for name, cluster in self.clusters.items():
            if cluster.backend != "eks":
                continue
            eks_name = eks_names(self.project.name, cluster.site, name, "")[0]
            named = len(eks_name) <= EKS_CLUSTER_NAME_MAX
            if not named:
                problems.add(
                    ("clusters", name),
                    f"the EKS cluster would be named {eks_name} ({len(eks_name)} characters; EKS takes at most "
                    f"{EKS_CLUSTER_NAME_MAX}): shorten the project, site or cluster name",
                )
            for pool_name, pool in cluster.node_pools.items():
                where = ("clusters", name, "node_pools", pool_name)
                if ec2_is_arm64(pool.flavor):
                    # The node groups boot the x86_64 AL2023 AMIs (components/clusters/eks.py), which an
                    # arm64 instance cannot run, and Meridian's add-ons are not built for arm64 nodes.
                    problems.add(
                        (*where, "flavor"),
                        f"{pool.flavor} is an arm64 (AWS Graviton) instance type; eks node groups run x86_64 "
                        "(AL2023 x86_64 AMIs): choose an Intel or AMD type",
                    )
                _, group, template = eks_names(self.project.name, cluster.site, name, pool_name)
                if len(group) > EKS_NODE_GROUP_PREFIX_MAX:
                    problems.add(
                        where,
                        f"the node group's name prefix {group} has {len(group)} characters, the AWS provider takes "
                        f"at most {EKS_NODE_GROUP_PREFIX_MAX}: shorten the cluster or pool name",
                    )
                elif named and len(template) > LAUNCH_TEMPLATE_PREFIX_MAX:
                    problems.add(
                        where,
                        f"the launch template's name prefix {template} has {len(template)} characters, the AWS "
                        f"provider takes at most {LAUNCH_TEMPLATE_PREFIX_MAX}: shorten the project, site, cluster "
                        "or pool name",
                    )
                if pool.min_size == 0 and _mixed_mig(pool):
                    problems.add((*where, "min_size"), MIXED_MIG_FROM_ZERO)
        problems.raise_if_any()
        return self

    @model_validator(mode="after")
    def _cluster_api(self) -> PlatformSpec:
        """A capi cluster's management cluster is another of the project's, built by Meridian, with no cycle."""
        problems = CrossFieldError()
        capi = sorted(name for name, cluster in self.clusters.items() if cluster.backend == "capi")
        for other, other_site in self.sites.items() if capi else ():
            for purpose, reserved in (("pod", CAPI_POD_CIDR), ("service", CAPI_SERVICE_CIDR)):
                if ipaddress.ip_network(other_site.cidr).overlaps(ipaddress.ip_network(reserved)):
                    # Nodes route these ranges inside their cluster: a site in them would be unreachable.
                    problems.add(
                        ("sites", other, "cidr"),
                        f"{other_site.cidr} overlaps the {purpose} range {reserved} of the capi clusters "
                        f"({', '.join(capi)})",
                    )
        known = ", ".join(sorted(self.clusters))
        cycles: set[frozenset[str]] = set()
        for name, cluster in self.clusters.items():
            if cluster.backend != "capi" or cluster.management_cluster is None:
                continue
            where = ("clusters", name, "management_cluster")
            home = self.clusters.get(cluster.management_cluster)
            if home is None:
                problems.add(where, f"'{cluster.management_cluster}' is not a cluster of the project (known: {known})")
                continue
            if cluster.management_cluster == name:
                problems.add(where, "a cluster cannot build itself: name another cluster of the project")
                continue
            chain = [name, cluster.management_cluster]
            while self.clusters.get(chain[-1]) is not None and self.clusters[chain[-1]].backend == "capi":
                upstream = self.clusters[chain[-1]].management_cluster
                if upstream is None or upstream not in self.clusters or upstream in chain[1:]:
                    break
                chain.append(upstream)
                if upstream == name:
                    # Said once, at the cycle's first cluster in the spec.
                    if frozenset(chain) not in cycles:
                        cycles.add(frozenset(chain))
                        problems.add(where, "management clusters form a cycle: " + " -> ".join(chain))
                    break
            if home.backend == "attached":
                # Its egress and API allow-list are its owner's: the workload cluster's API load balancer
                # cannot admit its controllers, and Meridian installs no providers there.
                problems.add(
                    where,
                    f"'{cluster.management_cluster}' is attached (someone else's cluster): Cluster API's controllers "
                    "need a cluster whose egress Meridian knows and whose add-ons it installs",
                )
            elif int(home.version.split(".")[1]) < CAPI_MANAGEMENT_MINOR:
                problems.add(
                    ("clusters", cluster.management_cluster, "version"),
                    f"manages capi cluster '{name}': Cluster API v1.14's controllers run on Kubernetes "
                    f"1.{CAPI_MANAGEMENT_MINOR} or later, not {home.version}",
                )
            elif not home.addons.ingress.enabled:
                # The Cluster API operator's webhook certificate is cert-manager's (cluster-api-operator
                # chart 0.28.0 renders a cert-manager Issuer and Certificate), and cert-manager comes
                # with the ingress add-on (components/addons/ingress.py).
                problems.add(
                    ("clusters", cluster.management_cluster, "addons", "ingress", "enabled"),
                    f"manages capi cluster '{name}': the Cluster API operator needs cert-manager, which comes "
                    "with the ingress add-on",
                )
            site = self.sites.get(cluster.site)
            for pool_name, pool in cluster.node_pools.items():
                if pool.min_size > 0 or site is None:
                    continue
                if _mixed_mig(pool):
                    # The clusterapi provider's capacity annotations know one GPU resource (gpu-type,
                    # gpu-count); pods here ask for nvidia.com/mig-<profile>, which no annotation offers.
                    problems.add(("clusters", name, "node_pools", pool_name, "min_size"), MIXED_MIG_FROM_ZERO)
                    continue
                facts = site.flavors.get(pool.flavor)
                if facts is None or facts.vcpus is None or facts.memory_gib is None:
                    # cluster-autoscaler builds a node from these annotations to decide whether a pending
                    # pod would fit on a pool at zero (clusterapi provider README, "Scale from zero support").
                    problems.add(
                        ("clusters", name, "node_pools", pool_name, "min_size"),
                        f"a pool at zero nodes is sized from its flavor: give sites.{cluster.site}.flavors."
                        f"{pool.flavor} its vcpus and memory_gib",
                    )
        problems.raise_if_any()
        return self

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformSpec:
        problems = CrossFieldError()
        for (name_a, a), (name_b, b) in combinations(self.sites.items(), 2):
            if ipaddress.ip_network(a.cidr).overlaps(ipaddress.ip_network(b.cidr)):
                problems.add(("sites", name_b, "cidr"), f"{b.cidr} overlaps site '{name_a}' ({a.cidr})")
        for name, link in self.interconnects.items():
            for index, site_name in enumerate(link.sites):
                if site_name not in self.sites:
                    problems.add(
                        ("interconnects", name, "sites", index),
                        f"unknown site '{site_name}' (known: {', '.join(sorted(self.sites))})",
                    )
            if len(set(link.sites)) < len(link.sites):
                problems.add(("interconnects", name, "sites"), "an interconnect joins two different sites")
        # Meridian installs Cinder CSI on rke2 clusters (components/addons/cinder_csi.py): its
        # controller calls Cinder and Nova from inside the cluster with its own credential.
        for site_name, site_spec in self.sites.items():
            rke2 = sorted(n for n, c in self.clusters.items() if c.site == site_name and c.backend == "rke2")
            capi = sorted(n for n, c in self.clusters.items() if c.site == site_name and c.backend == "capi")
            if site_spec.openstack is not None and site_spec.openstack.cluster_credential is None and (rke2 or capi):
                problems.add(
                    ("sites", site_name, "openstack", "cluster_credential"),
                    (
                        f"rke2 clusters {', '.join(rke2)} get"
                        if rke2
                        else f"capi clusters {', '.join(capi)} are built by Cluster API's OpenStack provider and get"
                    )
                    + " Cinder CSI volumes, which call the cloud with their own application credential: create one "
                    "with the member role and give its auth_url, id and secret",
                )
        in_cluster = self.vault.in_cluster if self.vault is not None else None
        for index, entry in enumerate(in_cluster.egress if in_cluster is not None else []):
            # Every cluster's API admits these (reachability.api_allow_list).
            egress_at: tuple[str | int, ...] = ("vault", "in_cluster", "egress", index)
            if entry.startswith(SITE_REF_PREFIX) and entry.removeprefix(SITE_REF_PREFIX) not in self.sites:
                known = ", ".join(sorted(self.sites))
                problems.add(egress_at, f"unknown site '{entry.removeprefix(SITE_REF_PREFIX)}' (known: {known})")
            elif not entry.startswith(SITE_REF_PREFIX) and ipaddress.ip_network(entry).prefixlen == 0:
                problems.add(egress_at, f"{entry} would open every cluster's Kubernetes API to the whole internet")
            elif not entry.startswith(SITE_REF_PREFIX) and ipaddress.ip_network(entry).version == 6:
                # Octavia's allowed_cidrs on rke2 and EKS's public_access_cidrs take the IPv4 sources only.
                problems.add(
                    egress_at, f"{entry}: the clusters' API allow-lists take IPv4 only; give Vault's IPv4 egress"
                )
        for name, cluster in self.clusters.items():
            self._allow_list(problems, ("clusters", name, "api_cidrs"), cluster.site, cluster.api_cidrs)
            self._allow_list(
                problems,
                ("clusters", name, "addons", "ingress", "allowed_sources"),
                cluster.site,
                cluster.addons.ingress.allowed_sources,
            )
            site = self.sites.get(cluster.site)
            if (
                site is not None
                and site.openstack is not None
                and cluster.backend == "magnum"
                and not site.openstack.magnum_management_cidrs
            ):
                # CAPO docs (configuration.md, API server load balancer): "ensure, that at least the
                # outgoing IP of your management Cluster is added to the list of allowed CIDRs.
                # Otherwise CAPO can't reconcile the target Cluster"; neither magnum-capi-helm nor the
                # openstack-cluster chart adds it (driver.py _get_allowed_cidrs).
                problems.add(
                    ("sites", cluster.site, "openstack", "magnum_management_cidrs"),
                    f"magnum cluster '{name}' restricts its API load balancer, and Magnum's management cluster "
                    "must reach it to build the cluster: list its egress addresses (ask the cloud's operators)",
                )
            hub = cluster.addons.hub
            if site is not None and hub is not None and not hub.hostname.endswith(f".{site.dns.domain}"):
                # The hub's record is made in the site's zone (Designate or Route53): a name
                # outside it cannot be published there.
                problems.add(
                    ("clusters", name, "addons", "jupyterhub", "hostname"),
                    f"{hub.hostname} is outside site '{cluster.site}''s DNS domain {site.dns.domain}",
                )
            acme = cluster.addons.ingress.acme
            if site is not None and acme is not None and acme.challenge == "dns-01" and site.aws is None:
                # cert-manager solves DNS-01 natively on Route53; Designate needs an out-of-tree webhook
                # (cert-manager docs, "DNS01 webhook" providers) that Meridian does not install.
                problems.add(
                    ("clusters", name, "addons", "ingress", "acme", "challenge"),
                    f"dns-01 needs Route53 (AWS sites); site '{cluster.site}' publishes through Designate, which "
                    "cert-manager reaches only through a webhook Meridian does not install: use http-01",
                )
            elif acme is not None and acme.challenge == "dns-01" and cluster.backend != "eks":
                # cert-manager reaches Route53 through an IAM role for its service account, which
                # needs the cluster's OIDC issuer registered in IAM: what Meridian does for eks.
                problems.add(
                    ("clusters", name, "addons", "ingress", "acme", "challenge"),
                    f"dns-01 on Route53 needs IAM roles for service accounts, which Meridian sets up on eks "
                    f"clusters; '{name}' is {cluster.backend}: use http-01",
                )
            if site is None:
                known = ", ".join(sorted(self.sites))
                problems.add(("clusters", name, "site"), f"unknown site '{cluster.site}' (known: {known})")
            elif site.kind not in BACKEND_SITE_KINDS[cluster.backend]:
                problems.add(
                    ("clusters", name, "backend"),
                    f"backend '{cluster.backend}' cannot run on {site.kind} site '{cluster.site}'",
                )
            else:
                if site.aws is not None:
                    # IAM is per partition: a role of another partition cannot be granted access.
                    home = aws_partition(site.aws.region)
                    roles: list[tuple[tuple[str | int, ...], str | None]] = [
                        (("deployer_role_arn",), cluster.deployer_role_arn),
                        *((("admin_role_arns", index), arn) for index, arn in enumerate(cluster.admin_role_arns)),
                    ]
                    for path, arn in roles:
                        if arn is not None and arn.split(":")[1] != home:
                            problems.add(
                                ("clusters", name, *path),
                                f"is in partition {arn.split(':')[1]}, but site '{cluster.site}' is in {home}",
                            )
                for pool_name, pool in cluster.node_pools.items():
                    where = ("clusters", name, "node_pools", pool_name)
                    flavor = site.gpu_flavor(pool.flavor)
                    if pool.gpu is None:
                        if flavor is not None:
                            problems.add(
                                (*where, "gpu"),
                                f"{pool.flavor} has {flavor.count}x {flavor.model}: declare the pool's gpu block "
                                "so its nodes are tainted and the GPU Operator manages them",
                            )
                        continue
                    if flavor is None:
                        hint = (
                            "known GPU instance types: " + ", ".join(sorted(AWS_GPU_INSTANCES))
                            if site.kind == "aws"
                            else "add it to the site's openstack.gpu_flavors if it has GPUs"
                        )
                        problems.add((*where, "flavor"), f"{pool.flavor} has no GPU on site '{cluster.site}' ({hint})")
                    elif pool.gpu.model != flavor.model:
                        problems.add(
                            (*where, "gpu", "model"), f"{pool.flavor} carries {flavor.model}, not {pool.gpu.model}"
                        )
                    elif pool.gpu.count != flavor.count:
                        problems.add(
                            (*where, "gpu", "count"), f"{pool.flavor} carries {flavor.count} GPUs, not {pool.gpu.count}"
                        )
        problems.raise_if_any()
        return self

    def _allow_list(self, problems: CrossFieldError, where: tuple[str, ...], home: str, entries: list[str]) -> None:
        """Check an allow-list of site `home`: site references exist; other sites' private ranges need a link.

        Sites are separate clouds: traffic from another site arrives from its public egress
        addresses (NAT gateways, router gateway), never from its private range, unless an
        interconnect routes it. So a private range of another site can never match.
        """
        for index, entry in enumerate(entries):
            if entry.startswith(SITE_REF_PREFIX):
                target = entry.removeprefix(SITE_REF_PREFIX)
                if target not in self.sites:
                    problems.add((*where, index), f"unknown site '{target}' (known: {', '.join(sorted(self.sites))})")
                continue
            network = ipaddress.ip_network(entry)
            for other, site in self.sites.items():
                private = ipaddress.ip_network(site.cidr)
                # A range inside another site's network, or a private range reaching into it, can
                # only mean that network; a public range around it (0.0.0.0/0) means the internet.
                inside = network.version == private.version and (network.subnet_of(private) or network.is_private)  # type: ignore[arg-type]
                if inside and network.overlaps(private) and not self.interconnected(home, other):
                    problems.add(
                        (*where, index),
                        f"{entry} is inside site '{other}' ({site.cidr}), whose private network does not reach "
                        f"site '{home}': name the site (site:{other}) to allow its egress addresses, or declare "
                        "an interconnect between the two",
                    )

    @model_validator(mode="after")
    def _cloud_tags(self) -> PlatformSpec:
        """Every label must be representable as a tag on each OpenStack service that carries it.

        OpenStack tags are `key=value` strings (components/labels.py). Neutron and Octavia
        take every resource of a site; Nova takes the instances of rke2 clusters, with the
        strictest rules (no '/' or ',', at most 60 characters: components/cloudrules.py).
        A label that breaks them is refused at its own key path, not at `pulumi up`.
        """
        problems = CrossFieldError()
        for site_name, site in self.sites.items():
            if site.kind != "openstack":
                continue
            clusters = [name for name, c in self.clusters.items() if c.site == site_name]
            nova = any(self.clusters[name].backend == "rke2" for name in clusters)
            services = (NOVA_TAGS, NEUTRON_TAGS, OCTAVIA_TAGS) if nova else (NEUTRON_TAGS, OCTAVIA_TAGS)
            tags = cloud_tags(self.project, site_labels(self.project, site_name, site.labels))
            # Cluster resources add `cluster=<name>` (components/clusters/*); it counts towards the limit.
            per_resource = len(tags) + (1 if clusters else 0)
            for key, value in tags.items():
                for rules in services:
                    found = rules.problems([f"{key}={value}"])
                    if found:
                        problems.add(self._tag_source(site_name, key), f"{found[0]} (site '{site_name}')")
                        break
            for rules in services:
                if per_resource > rules.max_count:
                    problems.add(
                        ("sites", site_name, "labels"),
                        f"{rules.service} takes at most {rules.max_count} tags per resource; "
                        f"site '{site_name}' needs {per_resource}",
                    )
                    break
        problems.raise_if_any()
        return self

    def _tag_source(self, site: str, key: str) -> tuple[str, ...]:
        """The key path a tag comes from (site labels override the project's; see labels.site_labels)."""
        if key in self.sites[site].labels:
            return ("sites", site, "labels", key)
        if key in self.project.labels:
            return ("project", "labels", key)
        # The default (project, site, managed-by) is never reached: those tags hold names every service accepts.
        return {"owner": ("project", "owner"), "cost-centre": ("project", "cost_centre")}.get(
            key,
            ("project", "name"),  # pragma: no mutate - unreachable, see above
        )
