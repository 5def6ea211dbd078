"""GitOps across the project's clusters: the engine on the management cluster, every other cluster registered.

Built when the spec's `gitops.engine` is `fleet` or `sveltos` (spec/gitops.py). Children of
`<m>-gitops` (`meridian:gitops:Fleet` or `meridian:gitops:Sveltos`, parented to the management
cluster `<m>`), all through the management cluster's Kubernetes provider:

Fleet (Rancher Fleet, standalone; chart lock `fleet-crd`, `fleet`):

* `<m>-fleet-namespace`          Namespace `cattle-fleet-system`, where the manager runs
* `<m>-fleet-crd`, `<m>-fleet`   helm.v3.Release of each chart; the manager is told the management
                                 cluster's API URL and CA (`apiServerURL`, `apiServerCA`), which
                                 every agent it deploys connects back to, and agents trust only that CA
* `<m>-fleet-workspace`          Namespace `fleet-default` (Fleet's default workspace), holding:
* `<c>-fleet-kubeconfig`         Secret `<c>-kubeconfig`, key `value`: cluster `<c>`'s kubeconfig (secret)
* `<c>-fleet-cluster`            fleet.cattle.io/v1alpha1 Cluster `<c>`, labelled (`cluster_labels`), whose
                                 `kubeConfigSecret` names it: manager-initiated registration (the
                                 manager deploys the agent to `<c>` with that kubeconfig)
* `<r>-git-auth`                 Secret with the repo's credentials (basic-auth or ssh-auth), if any
* `<r>-gitrepo`                  fleet.cattle.io/v1alpha1 GitRepo `<r>` targeting the clusters its selector matches
* `<c>-<release>-helmop`         fleet.cattle.io/v1alpha1 HelmOp `<c>-<release>` per add-on release of a
                                 cluster with `addons.delivery: gitops` (`GitOps.deliver`)

Sveltos (chart lock `projectsveltos`; agentless, `sveltos_values`: its controllers and agents
on the management cluster deploy to each cluster through its kubeconfig):

* `<m>-sveltos-namespace`        Namespace `projectsveltos`
* `<m>-sveltos`                  helm.v3.Release of the chart
* `<m>-sveltos-clusters`         Namespace `meridian-clusters`, holding:
* `<c>-sveltos-kubeconfig`       Secret `<c>-sveltos-kubeconfig`, key `kubeconfig` (secret)
* `<c>-sveltos-cluster`          lib.projectsveltos.io/v1beta1 SveltosCluster `<c>`, labelled
* `<c>-<release>-clusterprofile`  config.projectsveltos.io/v1beta1 ClusterProfile `<project>-<c>-<release>`
                                 per such release, in `helmCharts`

A capi cluster built from the cluster running Sveltos gets no Secret and no SveltosCluster: Sveltos
finds Cluster API's Cluster objects itself, and its Cluster object carries the labels
(spec.gitops.discovered, clusters/capi.py).

On every other registered cluster, through its own provider: the engine's identity (`_login`),
and with Fleet its agent's namespace `cattle-fleet-system` at Pod Security `baseline`. Under the
add-on whose release the engine installs there: `<c>-<release>-delivered`, a command that waits
until the engine has deployed it (`release_deployed`, components/delivered.py).

Reachability: the management cluster's site is admitted to every registered cluster's API,
and with Fleet every registered cluster's site to the management cluster's
(reachability.gitops_sources).

The kubeconfigs are the clusters' admin kubeconfigs Meridian made: the engine deploys with
cluster-admin rights, as it must to install what repos hold. Whoever administers the
management cluster can therefore administer every registered cluster (README, "GitOps").
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from .addons.base import (
    HELM_SETTINGS,
    ChartRelease,
    GitOpsRelease,
    chart_release,
    container_resources,
    deliver,
    kubernetes_object,
)
from .addons.base import namespace as addon_namespace
from .spec import PlatformSpec
from .spec.gitops import LABEL_PREFIX, GitRepoSpec, cluster_labels, discovered, registered_clusters

FLEET_NAMESPACE = "cattle-fleet-system"
#: Fleet's default workspace: Cluster, GitRepo and their Secrets live together there (a GitRepo
#: targets only the clusters of its own namespace).
FLEET_WORKSPACE = "fleet-default"
#: The key of the registration Secret Fleet's manager reads the kubeconfig from.
FLEET_KUBECONFIG_KEY = "value"
SVELTOS_NAMESPACE = "projectsveltos"
#: Where the SveltosClusters and their kubeconfig Secrets live.
SVELTOS_CLUSTERS = "meridian-clusters"
#: The key Sveltos reads a SveltosCluster's kubeconfig from, in `<name>-sveltos-kubeconfig`.
SVELTOS_KUBECONFIG_KEY = "kubeconfig"
#: The Pulumi name of the engine's object that installs `<cluster>-<release>` is that name plus this
#: suffix, by its type token (a review finds a release taken over by it: scripts/diffreport.py).
HELMOP = "kubernetes:fleet.cattle.io/v1alpha1:HelmOp"
CLUSTER_PROFILE = "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile"
ENGINE_OBJECT_SUFFIX = {HELMOP: "-helmop", CLUSTER_PROFILE: "-clusterprofile"}

#: The engine's own identity on every registered cluster (kube-system): a service account bound to
#: cluster-admin, whose long-lived token the registration Secret holds. Revoked by deleting it.
ENGINE_ACCOUNT = "meridian-gitops"


def fleet_releases(cluster: str, api_url: pulumi.Input[str], api_ca: pulumi.Input[str]) -> list[ChartRelease]:
    """Fleet's CRDs, then the manager told where agents call back (the management cluster's API) and whom to trust.

    :param cluster: the management cluster (the releases' Pulumi names are `<cluster>-fleet-crd`, `<cluster>-fleet`).
    """
    # The engine's own charts are installed directly (`deliver`), into the namespace its Namespace
    # resource reports; their records' namespace is said for the reader and read by nothing.
    crds = chart_release(
        f"{cluster}-fleet-crd",
        "fleet-crd",
        namespace=FLEET_NAMESPACE,  # pragma: no mutate - unread: deliver() takes the Namespace's name
        values={},
    )
    values = fleet_values(api_url, api_ca)
    manager = chart_release(
        f"{cluster}-fleet",
        "fleet",
        namespace=FLEET_NAMESPACE,  # pragma: no mutate - unread: deliver() takes the Namespace's name
        values=values,
    )
    return [crds, manager]


def fleet_values(api_url: pulumi.Input[str], api_ca: pulumi.Input[str]) -> dict[str, Any]:
    """The fleet chart's values (charts/fleet/values.yaml at v0.16.1)."""
    return {
        # Where each agent calls the manager's cluster, and the only CA it trusts for it
        # ("strict": not the system store, which knows nothing of a cluster's own CA).
        "apiServerURL": api_url,
        "apiServerCA": api_ca,
        "agentTLSMode": "strict",
        # Nothing is delivered to the management cluster through Fleet (repos live in fleet-default):
        # no agent with cluster-admin runs there for nothing.
        "bootstrap": {"localAgentDisabled": True},
        "resources": container_resources("100m", "256Mi", "1Gi"),
        # Agents' own images from the chart's pins; the manager's leader election as shipped.
        "metrics": {"enabled": True},
    }


def sveltos_release(cluster: str) -> ChartRelease:
    """The projectsveltos chart on the management cluster `cluster`, agentless.

    Its controllers reach each cluster's API; nothing calls back.
    """
    return chart_release(
        f"{cluster}-sveltos",
        "projectsveltos",
        namespace=SVELTOS_NAMESPACE,  # pragma: no mutate - unread: deliver() takes the Namespace's name
        values=sveltos_values(),
    )


#: A container context that Pod Security `restricted` admits (Kubernetes docs, Pod Security Standards).
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def sveltos_values() -> dict[str, Any]:
    """The projectsveltos chart's values (charts/projectsveltos/values.yaml at 1.13.0).

    `agent.managementCluster`: Sveltos's agents run on the management cluster, one per registered
    cluster, and nothing of Sveltos is installed in the clusters it manages (its docs,
    overview/architecture): the only path is the management cluster calling their APIs, which
    reachability opens. Telemetry off: a research infrastructure reports usage to no vendor.
    """
    job = {"resources": container_resources("10m", "128Mi", "256Mi")}
    return {
        "agent": {"managementCluster": True},
        "telemetry": {"disabled": True},
        # The chart sizes every controller but these: the add-on controller (helm and kustomize
        # work for every cluster, 512Mi requested upstream) and its two install-time jobs.
        "addonController": {
            "controller": {"resources": container_resources("100m", "512Mi", "2Gi")},
            # The init container's security context is read from here (templates/deployment.yaml)
            # but values.yaml defines none: without it the pod fails Pod Security `restricted`.
            "initialization": {"containerSecurityContext": RESTRICTED_CONTAINER},
        },
        "crdManagerJob": {"crdManager": job},
        "registerMgmtClusterJob": {"registerMgmtCluster": job},
    }


def fleet_cluster_document(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The Fleet Cluster of a registered cluster: its labels, and the Secret its kubeconfig is in."""
    return {
        "apiVersion": "fleet.cattle.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": FLEET_WORKSPACE, "labels": dict(labels)},
        "spec": {"kubeConfigSecret": f"{name}-kubeconfig"},
    }


def gitrepo_document(name: str, repo: GitRepoSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """The Fleet GitRepo of a repo: where, which revision and paths, how to log in, and which clusters."""
    # Fleet follows `branch` whenever it is set, `revision` only without it (gitops/reconciler/gitjob.go
    # at v0.16.1), so a pinned revision is sent alone.
    spec: dict[str, Any] = {"repo": repo.url}
    if repo.revision is not None:
        spec["revision"] = repo.revision
    else:
        spec["branch"] = repo.branch
    if repo.paths:
        spec["paths"] = list(repo.paths)
    if repo.credentials is not None:
        spec["clientSecretName"] = f"{name}-git-auth"
    spec["targets"] = [{"name": name, "clusterSelector": {"matchLabels": dict(repo.clusters)}}]
    return {
        "apiVersion": "fleet.cattle.io/v1alpha1",
        "kind": "GitRepo",
        "metadata": {"name": name, "namespace": FLEET_WORKSPACE, "labels": dict(labels)},
        "spec": spec,
    }


def sveltos_cluster_document(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The SveltosCluster of a registered cluster (its kubeconfig in `<name>-sveltos-kubeconfig`)."""
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "SveltosCluster",
        "metadata": {"name": name, "namespace": SVELTOS_CLUSTERS, "labels": dict(labels)},
        "spec": {"kubeconfigName": f"{name}-sveltos-kubeconfig", "kubeconfigKeyName": SVELTOS_KUBECONFIG_KEY},
    }


#: Values Fleet rewrites even with `disablePreProcess` (target/builder.go processLabelValues, v0.16.1).
FLEET_LABEL_VALUE = "global.fleet.clusterLabels."


def _plain_strings(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _plain_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _plain_strings(item)
    elif isinstance(value, str):
        yield value


def _has_outputs(value: Any) -> bool:
    """Whether `value` holds a Pulumi Output anywhere (a value known only at deployment)."""
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, Mapping):
        return any(_has_outputs(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_outputs(item) for item in value)
    return False


def _selector(item: GitOpsRelease) -> dict[str, Any]:
    """The add-on's labels, and the name of the cluster the release is for."""
    return {
        "matchLabels": dict(item.selector),
        "matchExpressions": [{"key": f"{LABEL_PREFIX}cluster", "operator": "In", "values": [item.cluster]}],
    }


def helmop_document(name: str, item: GitOpsRelease, labels: Mapping[str, str]) -> dict[str, Any]:
    """A Fleet HelmOp installing the release on its cluster (fleet.cattle.io/v1alpha1, v0.16.1 CRD)."""
    release = item.release
    if any(text.startswith(FLEET_LABEL_VALUE) for text in _plain_strings(release.values)):
        raise ValueError(f"{release.resource}: a value starts with {FLEET_LABEL_VALUE!r}, which Fleet would replace")
    if release.skip_crds:
        raise ValueError(f"{release.resource}: a HelmOp cannot skip its chart's CRDs")
    return {
        "apiVersion": "fleet.cattle.io/v1alpha1",
        "kind": "HelmOp",
        "metadata": {"name": name, "namespace": FLEET_WORKSPACE, "labels": dict(labels)},
        "spec": {
            "helm": {
                "repo": release.chart.repository,
                "chart": release.chart.name,
                "version": release.chart.version,
                "releaseName": release.release_name,
                "values": dict(release.values),
                # Fleet templates `${ }` in values by default (target/builder.go preprocessHelmValues):
                # off, so the values installed are the record's.
                "disablePreProcess": True,
                # What direct delivery asks of Helm (addons.base.HELM_SETTINGS) that HelmOp has.
                "atomic": HELM_SETTINGS["atomic"],
                "maxHistory": HELM_SETTINGS["max_history"],
                "timeoutSeconds": release.timeout,
            },
            # Not `namespace`, which fails a chart with cluster-scoped objects (the CRD's description).
            "defaultNamespace": release.namespace,
            "targets": [{"name": name, "clusterSelector": _selector(item)}],
        },
    }


def cluster_profile_document(name: str, item: GitOpsRelease, labels: Mapping[str, str]) -> dict[str, Any]:
    """A Sveltos ClusterProfile installing the release on its cluster (config.projectsveltos.io/v1beta1)."""
    release = item.release
    if any("{{" in text for text in _plain_strings(release.values)):
        # Sveltos renders helmCharts[].values as a Go template, always (addon-controller handlers_helm.go).
        # Values known only at deployment (an address, an ARN) are Outputs: no template in them.
        raise ValueError(f"{release.resource}: values hold '{{{{', which Sveltos would read as a template")
    # JSON is YAML that no parser re-types (go-yaml v2, which Sveltos reads values with, takes an
    # unquoted `y` or `n` for a boolean; PyYAML's dump would leave them unquoted).
    # Values known only at deployment (an address) are filled in by Pulumi before the JSON is written;
    # plain values are written at once, so the document stays a plain one (the policy tests build it).
    values: pulumi.Input[str] = (
        pulumi.Output.from_input(dict(release.values)).apply(lambda known: json.dumps(known, sort_keys=True))
        if _has_outputs(release.values)
        else json.dumps(dict(release.values), sort_keys=True)
    )
    repository = f"meridian-{release.chart.name}"
    return {
        "apiVersion": "config.projectsveltos.io/v1beta1",
        "kind": "ClusterProfile",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "clusterSelector": _selector(item),
            "helmCharts": [
                {
                    "repositoryURL": release.chart.repository,
                    "repositoryName": repository,
                    "chartName": f"{repository}/{release.chart.name}",
                    "chartVersion": release.chart.version,
                    "releaseName": release.release_name,
                    "releaseNamespace": release.namespace,
                    "helmChartAction": "Install",
                    "values": values,
                    # What direct delivery asks of Helm (addons.base.HELM_SETTINGS, the record's timeout);
                    # Sveltos's own defaults are neither atomic nor waiting, 5 minutes, 2 revisions.
                    "options": {
                        "atomic": HELM_SETTINGS["atomic"],
                        "wait": True,
                        "timeout": f"{release.timeout}s",
                        "skipCRDs": release.skip_crds,
                        "upgradeOptions": {
                            "maxHistory": HELM_SETTINGS["max_history"],
                            "cleanupOnFail": HELM_SETTINGS["cleanup_on_fail"],
                        },
                    },
                }
            ],
        },
    }


#: Sveltos copies a ClusterProfile's name into a label value of its ClusterSummaries (addon-controller
#: v1.13.0 controllers/profile_utils.go addClusterSummaryLabels), which Kubernetes bounds at 63.
LABEL_VALUE_MAX = 63


def profile_name(project: str, name: str) -> str:
    """The ClusterProfile of `<cluster>-<release>`: `<project>-<cluster>-<release>`, at most 63 characters.

    ClusterProfiles are cluster-scoped, so the project's name keeps two projects' apart on one
    management cluster. A longer name (project and cluster names may have 40 characters each) is cut
    and ends in a digest of the whole, so it is still unique and never changes with the values.
    """
    full = f"{project}-{name}"
    if len(full) <= LABEL_VALUE_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    head = full[: LABEL_VALUE_MAX - len(digest) - 1]
    return f"{head.rstrip('-')}-{digest}"  # pragma: no mutate - rstrip takes a set of characters; no 'X' ends a name


def token_kubeconfig(cluster: str, server: str, ca_pem: str, token: str) -> str:
    """A kubeconfig that authenticates with a bearer token (the engine's service account on `cluster`).

    The clusters' own kubeconfigs will not do: an eks one runs `aws eks get-token` (neither
    Fleet's nor Sveltos's image has the AWS CLI or the deployer's credentials), and the others
    hold Meridian's own admin certificate, which the engine should not share.
    """
    from .yamlout import dump

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode()},
            }
        ],
        "users": [{"name": ENGINE_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": ENGINE_ACCOUNT}}],
        "current-context": cluster,
    }
    return dump(document)


def git_auth_data(repo: GitRepoSpec) -> dict[str, pulumi.Input[str]]:
    """The credentials Secret's data: `username`/`password` (https) or `ssh-privatekey`/`known_hosts` (ssh)."""
    from .secrets import secret

    given = repo.credentials
    assert given is not None, "only repos with credentials get a Secret"  # pragma: no mutate - message only
    if given.ssh_private_key is not None:
        return {"ssh-privatekey": secret(given.ssh_private_key), "known_hosts": str(given.known_hosts)}
    # GitRepoSpec requires both; the assertion only narrows their types.
    assert given.username is not None and given.password is not None  # pragma: no mutate - narrows types
    return {"username": given.username, "password": secret(given.password)}


class GitOps(pulumi.ComponentResource):
    """The project's GitOps engine on its management cluster, every other cluster registered with it.

    Built in three steps the Platform takes in cluster order (components/platform.py): the
    engine when its management cluster and that cluster's add-ons exist; `register` for each
    registered cluster, once the cluster exists; `deliver` for each release an add-on of a
    `delivery: gitops` cluster hands over, which returns what the add-on's own objects wait for.
    """

    #: The engine's release on the management cluster (Fleet's manager, Sveltos).
    home: pulumi.Resource
    #: The namespace of the registrations (Fleet's workspace, Sveltos's clusters' namespace).
    workspace: Any

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        *,
        provider: pulumi.ProviderResource,
        kubeconfig: pulumi.Output[str],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Install the engine on the management cluster (and, with Fleet, its repos).

        :param spec: the validated spec (its `gitops` names an engine and the management cluster).
        :param provider: the management cluster's Kubernetes provider.
        :param kubeconfig: the management cluster's admin kubeconfig (secret): where its API is.
        :param labels: labels for the objects made on the management cluster (the project's).
        """
        import pulumi_kubernetes as k8s

        # The Platform builds it only then; the assertion narrows the type.
        assert spec.gitops is not None and spec.gitops.engine != "none"  # pragma: no mutate - narrows a type
        self.engine = engine = spec.gitops.engine
        super().__init__(f"meridian:gitops:{'Fleet' if engine == 'fleet' else 'Sveltos'}", name, None, opts)
        self.spec = spec
        self.provider = provider
        self.labels = dict(labels)
        management = str(spec.gitops.management_cluster)
        self.registered = registered_clusters(spec)
        self.delivered: list[str] = []
        #: Per registered cluster: its kubeconfig and provider (`register`), then the engine's login there.
        self._clusters: dict[str, tuple[pulumi.Output[str], pulumi.ProviderResource, dict[str, str]]] = {}
        self._logins: dict[str, Login] = {}
        self._registrations: dict[str, list[pulumi.Resource]] = {}
        if engine == "fleet":
            from .addons.external_secrets import api_endpoint

            # The API's URL and CA certificate are public (every client is shown them): not secret,
            # though the kubeconfig they are read from is.
            endpoint = pulumi.Output.unsecret(kubeconfig.apply(api_endpoint))
            # Fleet 0.16.1's pods set no seccomp profile (charts/fleet/templates/deployment*.yaml, the
            # agent's manifest.go), which `restricted` requires: `baseline`, warning of the rest.
            home = addon_namespace(
                f"{management}-fleet-namespace",
                FLEET_NAMESPACE,
                labels=labels,
                enforce="baseline",
                warn="restricted",
                provider=provider,
                parent=self,
            )
            crds, manager = fleet_releases(management, endpoint[0], endpoint[1])
            crd_release = deliver(crds, provider=provider, parent=self, namespace=home.metadata.name)
            self.home = deliver(
                manager, provider=provider, parent=self, depends_on=[crd_release], namespace=home.metadata.name
            )
            self.workspace = workspace = addon_namespace(
                f"{management}-fleet-workspace",
                FLEET_WORKSPACE,
                labels=labels,
                enforce="restricted",
                provider=provider,
                parent=self,
            )
            for repo_name, repo in spec.gitops.repos.items():
                first: list[pulumi.Resource] = [self.home, self.workspace]
                if repo.credentials is not None:
                    kind = "kubernetes.io/ssh-auth" if repo.credentials.ssh_private_key else "kubernetes.io/basic-auth"
                    first.append(
                        k8s.core.v1.Secret(
                            f"{repo_name}-git-auth",
                            metadata=k8s.meta.v1.ObjectMetaArgs(
                                name=f"{repo_name}-git-auth", namespace=workspace.metadata.name, labels=dict(labels)
                            ),
                            type=kind,
                            string_data=git_auth_data(repo),
                            opts=pulumi.ResourceOptions(parent=self, provider=provider),
                        )
                    )
                kubernetes_object(
                    f"{repo_name}-gitrepo",
                    gitrepo_document(repo_name, repo, labels),
                    provider=provider,
                    parent=self,
                    depends_on=first,
                )
        else:
            home = addon_namespace(
                f"{management}-sveltos-namespace",
                SVELTOS_NAMESPACE,
                labels=labels,
                enforce="restricted",
                provider=provider,
                parent=self,
            )
            self.home = deliver(
                sveltos_release(management), provider=provider, parent=self, namespace=home.metadata.name
            )
            self.workspace = addon_namespace(
                f"{management}-sveltos-clusters",
                SVELTOS_CLUSTERS,
                labels=labels,
                enforce="restricted",
                provider=provider,
                parent=self,
            )

    def register(
        self,
        cluster: str,
        kubeconfig: pulumi.Output[str],
        provider: pulumi.ProviderResource,
        labels: Mapping[str, str],
    ) -> None:
        """Register `cluster` (built): the engine's identity there, its kubeconfig Secret and the engine's object.

        Clusters the engine finds by itself (Sveltos, Cluster API clusters of its own cluster) get
        neither an identity nor a registration here: their Cluster object carries the labels (capi.py).

        :param labels: the labels of the objects made on `cluster` (its own, the project's).
        """
        self._clusters[cluster] = (kubeconfig, provider, dict(labels))
        if discovered(self.spec, cluster):
            return
        login = self._login(cluster)
        selected_by = cluster_labels(self.spec, cluster)
        if self.engine == "fleet":
            # The agent's namespace on the registered cluster, made before Fleet deploys into it:
            # rke2's CIS profile makes `restricted` every namespace's default, which the agent
            # (no seccomp profile) does not meet; Fleet's own apply sets no labels to undo this.
            agent_home = addon_namespace(
                f"{cluster}-fleet-agent-namespace",
                FLEET_NAMESPACE,
                labels=labels,
                enforce="baseline",
                warn="restricted",
                provider=provider,
                parent=self,
            )
            self._register(
                f"{cluster}-fleet",
                fleet_cluster_document(cluster, selected_by),
                secret=(f"{cluster}-kubeconfig", self.workspace.metadata.name, FLEET_KUBECONFIG_KEY, login.kubeconfig),
                depends_on=[self.home, self.workspace, agent_home, *login.made],
            )
        else:
            self._register(
                f"{cluster}-sveltos",
                sveltos_cluster_document(cluster, selected_by),
                secret=(
                    f"{cluster}-sveltos-kubeconfig",
                    self.workspace.metadata.name,
                    SVELTOS_KUBECONFIG_KEY,
                    login.kubeconfig,
                ),
                depends_on=[self.home, self.workspace, *login.made],
            )

    def deliver(self, item: GitOpsRelease, parent: pulumi.Resource) -> pulumi.Resource:
        """Hand `item` to the engine; the returned wait succeeds once the engine has installed it.

        The engine's object (`<cluster>-<release>`, a HelmOp or a ClusterProfile) is made on the
        management cluster after what the release needs on its cluster (`item.depends_on`) and
        after the cluster's registration; the wait (`<cluster>-<release>-delivered`, under
        `parent`, the add-on's component) polls the cluster for the deployed release
        (components/delivered.py), so the add-on's own objects of the chart's kinds, and the
        add-ons after it, come after the chart.
        """
        cluster = item.cluster
        assert cluster in self._clusters, f"{cluster} is delivered to before it is registered"  # program order
        name = f"{cluster}-{item.release.release_name}"
        self.delivered.append(name)
        registration = [self.home, *self._registrations.get(cluster, [])]
        if self.engine == "fleet":
            document = helmop_document(name, item, self.labels)
            resource = name + ENGINE_OBJECT_SUFFIX[HELMOP]
        else:
            document = cluster_profile_document(profile_name(self.spec.project.name, name), item, self.labels)
            resource = name + ENGINE_OBJECT_SUFFIX[CLUSTER_PROFILE]
        engine_object = kubernetes_object(
            resource,
            document,
            provider=self.provider,
            parent=self,
            depends_on=[*registration, self.workspace, *item.depends_on],
        )
        login = self._login(cluster)
        # After the binding too: a discovered cluster's login exists only for this wait, and a token
        # RBAC does not yet bind would be refused (403), which ends the wait.
        return release_deployed(name, item.release, login, after=[engine_object, *login.made], parent=parent)

    def close(self) -> None:
        """Record the component's outputs once every cluster is registered and every release delivered."""
        self.register_outputs(
            {"engine": self.engine, "registered": self.registered, "releases": sorted(self.delivered)}
        )

    def _register(
        self,
        prefix: str,
        document: dict[str, Any],
        *,
        secret: tuple[str, pulumi.Input[str], str, pulumi.Output[str]],
        depends_on: list[pulumi.Resource],
    ) -> None:
        """A cluster's registration on the management cluster: its kubeconfig Secret, then the engine's object.

        :param prefix: `<cluster>-<engine>`: the Secret is `<prefix>-kubeconfig`, the object `<prefix>-cluster`.
        :param secret: the Secret's name, namespace, data key and kubeconfig (secret).
        """
        import pulumi_kubernetes as k8s

        name, namespace, key, kubeconfig = secret
        stored = k8s.core.v1.Secret(
            f"{prefix}-kubeconfig",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=self.labels),
            string_data={key: kubeconfig},
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        registration = kubernetes_object(
            f"{prefix}-cluster", document, provider=self.provider, parent=self, depends_on=[*depends_on, stored]
        )
        self._registrations[prefix.rsplit("-", 1)[0]] = [registration]

    def _login(self, cluster: str) -> Login:
        """The engine's service account on `cluster` and how to log in as it (made once per cluster).

        A token Secret (`kubernetes.io/service-account-token`): the API's token controller fills
        it in, and pulumi-kubernetes waits for that (its awaiter for the type, pulumi-kubernetes#2048);
        the account must exist first (pulumi-kubernetes#4396). A cluster the engine discovers by
        itself gets one only when a release is delivered to it: the delivery's wait logs in with it.
        """
        if cluster in self._logins:
            return self._logins[cluster]
        import pulumi_kubernetes as k8s

        from .addons.external_secrets import api_endpoint

        kubeconfig, provider, own_labels = self._clusters[cluster]
        on_target = pulumi.ResourceOptions(parent=self, provider=provider)
        account = k8s.core.v1.ServiceAccount(
            f"{cluster}-{self.engine}-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ENGINE_ACCOUNT, namespace="kube-system", labels=own_labels),
            automount_service_account_token=False,
            opts=on_target,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{cluster}-{self.engine}-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ENGINE_ACCOUNT, labels=own_labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=ENGINE_ACCOUNT, namespace="kube-system")],
            opts=on_target,
        )
        token_secret = k8s.core.v1.Secret(
            f"{cluster}-{self.engine}-identity-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{ENGINE_ACCOUNT}-token",
                namespace="kube-system",
                labels=own_labels,
                annotations={"kubernetes.io/service-account.name": ENGINE_ACCOUNT},
            ),
            type="kubernetes.io/service-account-token",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[account]),
        )
        endpoint = pulumi.Output.unsecret(kubeconfig.apply(api_endpoint))
        token: pulumi.Output[str] = pulumi.Output.secret(
            token_secret.data.apply(lambda data: base64.b64decode((data or {})["token"]).decode())
        )
        config = pulumi.Output.all(endpoint, token).apply(
            lambda args: token_kubeconfig(cluster, args[0][0], args[0][1], args[1])
        )
        login = Login(
            kubeconfig=pulumi.Output.secret(config),
            # Public, but taken from the kubeconfig, a secret whose parts stay secret in the state.
            server=pulumi.Output.secret(endpoint.apply(lambda found: found[0])),
            ca_pem=pulumi.Output.secret(endpoint.apply(lambda found: found[1])),
            token=token,
            made=(binding, token_secret),
        )
        self._logins[cluster] = login
        return login


@dataclass(frozen=True)
class Login:
    """How the engine (and the delivery waits) log in to one registered cluster."""

    #: A kubeconfig with the engine's token (secret): what the registration Secret holds.
    kubeconfig: pulumi.Output[str]
    #: The API's URL and the CA that signed its serving certificate (public).
    server: pulumi.Output[str]
    ca_pem: pulumi.Output[str]
    #: The engine's service-account token (secret).
    token: pulumi.Output[str]
    #: The binding and the token Secret: what must exist before anyone logs in.
    made: tuple[pulumi.Resource, ...]


#: Seconds a delivery's wait gives the engine beyond the release's own Helm timeout: Fleet's manager
#: deploys its agent to a newly registered cluster first, and both engines reconcile on their own
#: schedule. Past this, `pulumi up` fails loudly, naming the release.
DELIVERY_GRACE_SECONDS = 1200
#: Seconds between two looks at the release.
DELIVERY_INTERVAL_SECONDS = 15


def release_deployed(
    name: str, release: ChartRelease, login: Login, *, after: Sequence[pulumi.Resource], parent: pulumi.Resource
) -> pulumi.Resource:
    """`<name>-delivered`: a `command.local.Command` that waits for the engine to deploy `release` (delivered.py).

    A real provider resource, run where Pulumi runs (it needs `python3` there, as the program
    does). It runs again when the chart version or the values change: an upgrade is waited for too.
    """
    import pulumi_command as command

    from . import delivered

    values_digest = pulumi.Output.from_input(release.values).apply(
        lambda values: hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    )
    return command.local.Command(
        f"{name}-delivered",
        # delivered.py is ASCII (tests/test_delivered.py): every codec reads the same text.
        create=Path(delivered.__file__).read_text(encoding="utf-8"),  # pragma: no mutate - ASCII, see above
        interpreter=["python3", "-c"],
        environment={
            "MERIDIAN_API_SERVER": login.server,
            "MERIDIAN_API_CA": login.ca_pem,
            "MERIDIAN_API_TOKEN": login.token,
            "MERIDIAN_RELEASE": release.release_name,
            "MERIDIAN_RELEASE_NAMESPACE": release.namespace,
            "MERIDIAN_CHART_VERSION": release.chart.version,
            "MERIDIAN_WAIT_TIMEOUT": str(release.timeout + DELIVERY_GRACE_SECONDS),
            "MERIDIAN_WAIT_INTERVAL": str(DELIVERY_INTERVAL_SECONDS),
        },
        # The digest, not the values: it shows that something changed without showing a value.
        triggers=[release.chart.version, pulumi.Output.unsecret(values_digest)],
        logging=command.local.Logging.STDERR,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
