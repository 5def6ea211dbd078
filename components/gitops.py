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
                                 cluster with `addons.delivery: gitops` (`release_groups`)

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

On every other registered cluster, through its own provider: the engine's identity (`_identity`),
and with Fleet its agent's namespace `cattle-fleet-system` at Pod Security `baseline`.

Reachability: the management cluster's site is admitted to every registered cluster's API,
and with Fleet every registered cluster's site to the management cluster's
(reachability.gitops_sources).

The kubeconfigs are the clusters' admin kubeconfigs Meridian made: the engine deploys with
cluster-admin rights, as it must to install what repos hold. Whoever administers the
management cluster can therefore administer every registered cluster (README, "GitOps").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pulumi

from .addons.base import ChartRelease, GitOpsRelease, chart_release, container_resources, deliver, kubernetes_object
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


def fleet_releases(spec: PlatformSpec, api_url: pulumi.Input[str], api_ca: pulumi.Input[str]) -> list[ChartRelease]:
    """Fleet's CRDs, then the manager told where agents call back (the management cluster's API) and whom to trust."""
    cluster = str(spec.gitops.management_cluster) if spec.gitops is not None else ""
    crds = chart_release(f"{cluster}-fleet-crd", "fleet-crd", namespace=FLEET_NAMESPACE, values={})
    manager = chart_release(
        f"{cluster}-fleet", "fleet", namespace=FLEET_NAMESPACE, values=fleet_values(api_url, api_ca), timeout=900
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


def sveltos_release(spec: PlatformSpec) -> ChartRelease:
    """The projectsveltos chart, agentless (its controllers reach each cluster's API; nothing calls back)."""
    cluster = str(spec.gitops.management_cluster) if spec.gitops is not None else ""
    return chart_release(f"{cluster}-sveltos", "projectsveltos", namespace=SVELTOS_NAMESPACE, values=sveltos_values())


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


def release_groups(releases: Sequence[GitOpsRelease]) -> dict[str, list[GitOpsRelease]]:
    """The releases by cluster: one engine object per cluster and release, named `<cluster>-<release>`.

    Decision (README, "GitOps"): each cluster's release is its own object, selecting the add-on's
    label and that cluster's name, rather than one object per value set or engine-side templating.
    Its name never changes with its values, so a new chart version or MIG layout updates the object
    in place and the engine upgrades the release; an object renamed instead would be created
    beside the old one and the old one's deletion would uninstall the release both own (Sveltos
    withdraws a deleted profile's charts; Fleet's agent cleans up a removed bundle's release).
    The values are the record's whichever way the chart is delivered.
    """
    groups: dict[str, list[GitOpsRelease]] = {}
    for item in releases:
        groups.setdefault(f"{item.cluster}-{item.release.release_name}", []).append(item)
    return groups


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


def _selector(group: Sequence[GitOpsRelease]) -> dict[str, Any]:
    """The add-on's labels, and the names of exactly the clusters of this value set."""
    clusters = sorted(item.cluster for item in group)
    return {
        "matchLabels": dict(group[0].selector),
        "matchExpressions": [{"key": f"{LABEL_PREFIX}cluster", "operator": "In", "values": clusters}],
    }


def helmop_document(name: str, group: Sequence[GitOpsRelease], labels: Mapping[str, str]) -> dict[str, Any]:
    """A Fleet HelmOp installing the group's release on its clusters (fleet.cattle.io/v1alpha1, v0.16.1 CRD)."""
    release = group[0].release
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
                "atomic": True,
                "maxHistory": 10,
                "timeoutSeconds": release.timeout,
            },
            # Not `namespace`, which fails a chart with cluster-scoped objects (the CRD's description).
            "defaultNamespace": release.namespace,
            "targets": [{"name": name, "clusterSelector": _selector(group)}],
        },
    }


def cluster_profile_document(name: str, group: Sequence[GitOpsRelease], labels: Mapping[str, str]) -> dict[str, Any]:
    """A Sveltos ClusterProfile installing the group's release on its clusters (config.projectsveltos.io/v1beta1)."""
    release = group[0].release
    # JSON is YAML that no parser re-types (go-yaml v2, which Sveltos reads values with, takes an
    # unquoted `y` or `n` for a boolean; PyYAML's dump would leave them unquoted).
    values = json.dumps(dict(release.values), sort_keys=True)
    if "{{" in values:
        # Sveltos renders helmCharts[].values as a Go template, always (addon-controller handlers_helm.go).
        raise ValueError(f"{release.resource}: values hold '{{{{', which Sveltos would read as a template")
    repository = f"meridian-{release.chart.name}"
    return {
        "apiVersion": "config.projectsveltos.io/v1beta1",
        "kind": "ClusterProfile",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "clusterSelector": _selector(group),
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
                        "atomic": True,
                        "wait": True,
                        "timeout": f"{release.timeout}s",
                        "skipCRDs": release.skip_crds,
                        "upgradeOptions": {"maxHistory": 10, "cleanupOnFail": True},
                    },
                }
            ],
        },
    }


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
    assert given.username is not None and given.password is not None  # GitRepoSpec requires both
    return {"username": given.username, "password": secret(given.password)}


class GitOps(pulumi.ComponentResource):
    """The project's GitOps engine on its management cluster, every other cluster registered with it."""

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        *,
        provider: pulumi.ProviderResource,
        kubeconfigs: Mapping[str, pulumi.Output[str]],
        providers: Mapping[str, pulumi.ProviderResource],
        labels: Mapping[str, str],
        releases: Sequence[GitOpsRelease] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Install the engine and register the clusters.

        :param spec: the validated spec (its `gitops` names an engine and the management cluster).
        :param provider: the management cluster's Kubernetes provider.
        :param kubeconfigs: every cluster's admin kubeconfig (secret), by cluster key: where each API is.
        :param releases: the add-on releases the engine installs (clusters with `addons.delivery: gitops`).
        :param providers: every cluster's Kubernetes provider, by cluster key: the engine's identity
            (and, with Fleet, the agent's namespace) are made on each registered cluster through it.
        :param labels: labels for the objects made on the management cluster (the project's).
        """
        import pulumi_kubernetes as k8s

        assert spec.gitops is not None and spec.gitops.engine != "none"  # the Platform builds it only then
        engine = spec.gitops.engine
        super().__init__(f"meridian:gitops:{'Fleet' if engine == 'fleet' else 'Sveltos'}", name, None, opts)
        management = str(spec.gitops.management_cluster)
        self.registered = registered_clusters(spec)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        # Clusters the engine finds by itself (Sveltos, Cluster API clusters of its own cluster) need
        # neither an identity nor a registration: their Cluster object carries the labels (capi.py).
        identities = {
            cluster: self._identity(cluster, engine, kubeconfigs[cluster], providers[cluster], labels)
            for cluster in self.registered
            if not discovered(spec, cluster)
        }
        if engine == "fleet":
            from .addons.external_secrets import api_endpoint

            # The API's URL and CA certificate are public (every client is shown them): not secret,
            # though the kubeconfig they are read from is.
            endpoint = pulumi.Output.unsecret(kubeconfigs[management].apply(api_endpoint))
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
            crds, manager = fleet_releases(spec, endpoint[0], endpoint[1])
            crd_release = deliver(crds, provider=provider, parent=self, namespace=home.metadata.name)
            manager_release = deliver(
                manager, provider=provider, parent=self, depends_on=[crd_release], namespace=home.metadata.name
            )
            workspace = addon_namespace(
                f"{management}-fleet-workspace",
                FLEET_WORKSPACE,
                labels=labels,
                enforce="restricted",
                provider=provider,
                parent=self,
            )
            self.objects: list[pulumi.Resource] = []
            for cluster in self.registered:
                kubeconfig, ready = identities[cluster]
                # The agent's namespace on the registered cluster, made before Fleet deploys into it:
                # rke2's CIS profile makes `restricted` every namespace's default, which the agent
                # (no seccomp profile) does not meet; Fleet's own apply sets no labels to undo this.
                agent_home = addon_namespace(
                    f"{cluster}-fleet-agent-namespace",
                    FLEET_NAMESPACE,
                    labels=labels,
                    enforce="baseline",
                    warn="restricted",
                    provider=providers[cluster],
                    parent=self,
                )
                self._register(
                    f"{cluster}-fleet",
                    fleet_cluster_document(cluster, cluster_labels(spec, cluster)),
                    secret=(f"{cluster}-kubeconfig", workspace.metadata.name, FLEET_KUBECONFIG_KEY, kubeconfig),
                    provider=provider,
                    labels=labels,
                    depends_on=[manager_release, agent_home, *ready],
                )
            for repo_name, repo in spec.gitops.repos.items():
                first: list[pulumi.Resource] = [manager_release, workspace]
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
                            opts=on_cluster,
                        )
                    )
                self.objects.append(
                    kubernetes_object(
                        f"{repo_name}-gitrepo",
                        gitrepo_document(repo_name, repo, labels),
                        provider=provider,
                        parent=self,
                        depends_on=first,
                    )
                )
            for object_name, group in release_groups(releases).items():
                self.objects.append(
                    kubernetes_object(
                        object_name + ENGINE_OBJECT_SUFFIX[HELMOP],
                        helmop_document(object_name, group, labels),
                        provider=provider,
                        parent=self,
                        depends_on=[manager_release, workspace, *self._waits(group)],
                    )
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
            release = deliver(sveltos_release(spec), provider=provider, parent=self, namespace=home.metadata.name)
            clusters_namespace = addon_namespace(
                f"{management}-sveltos-clusters",
                SVELTOS_CLUSTERS,
                labels=labels,
                enforce="restricted",
                provider=provider,
                parent=self,
            )
            self.objects = []
            for cluster in self.registered:
                if cluster not in identities:
                    continue
                kubeconfig, ready = identities[cluster]
                self._register(
                    f"{cluster}-sveltos",
                    sveltos_cluster_document(cluster, cluster_labels(spec, cluster)),
                    secret=(
                        f"{cluster}-sveltos-kubeconfig",
                        clusters_namespace.metadata.name,
                        SVELTOS_KUBECONFIG_KEY,
                        kubeconfig,
                    ),
                    provider=provider,
                    labels=labels,
                    depends_on=[release, *ready],
                )
            for object_name, group in release_groups(releases).items():
                self.objects.append(
                    kubernetes_object(
                        object_name + ENGINE_OBJECT_SUFFIX[CLUSTER_PROFILE],
                        cluster_profile_document(f"{spec.project.name}-{object_name}", group, labels),
                        provider=provider,
                        parent=self,
                        depends_on=[release, *self._waits(group)],
                    )
                )
        self.register_outputs(
            {"engine": engine, "registered": self.registered, "releases": sorted(release_groups(releases))}
        )

    def _register(
        self,
        prefix: str,
        document: dict[str, Any],
        *,
        secret: tuple[str, pulumi.Input[str], str, pulumi.Output[str]],
        provider: pulumi.ProviderResource,
        labels: Mapping[str, str],
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
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels)),
            string_data={key: kubeconfig},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.objects.append(
            kubernetes_object(
                f"{prefix}-cluster", document, provider=provider, parent=self, depends_on=[*depends_on, stored]
            )
        )

    def _waits(self, group: Sequence[GitOpsRelease]) -> list[pulumi.Resource]:
        """What must exist on the clusters before the engine installs `group` there (their ConfigMaps, namespaces)."""
        return [resource for item in group for resource in item.depends_on]

    def _identity(
        self,
        cluster: str,
        engine: str,
        kubeconfig: pulumi.Output[str],
        provider: pulumi.ProviderResource,
        labels: Mapping[str, str],
    ) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        """The engine's service account on `cluster`, and a kubeconfig that logs in as it (secret).

        A token Secret (`kubernetes.io/service-account-token`): the API's token controller fills
        it in, and pulumi-kubernetes waits for that (its awaiter for the type, pulumi-kubernetes#2048);
        the account must exist first (pulumi-kubernetes#4396).
        """
        import pulumi_kubernetes as k8s

        from .addons.external_secrets import api_endpoint

        on_target = pulumi.ResourceOptions(parent=self, provider=provider)
        account = k8s.core.v1.ServiceAccount(
            f"{cluster}-{engine}-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ENGINE_ACCOUNT, namespace="kube-system", labels=dict(labels)),
            automount_service_account_token=False,
            opts=on_target,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{cluster}-{engine}-identity",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ENGINE_ACCOUNT, labels=dict(labels)),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=ENGINE_ACCOUNT, namespace="kube-system")],
            opts=on_target,
        )
        token_secret = k8s.core.v1.Secret(
            f"{cluster}-{engine}-identity-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{ENGINE_ACCOUNT}-token",
                namespace="kube-system",
                labels=dict(labels),
                annotations={"kubernetes.io/service-account.name": ENGINE_ACCOUNT},
            ),
            type="kubernetes.io/service-account-token",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[account]),
        )
        endpoint = pulumi.Output.unsecret(kubeconfig.apply(api_endpoint))
        token = token_secret.data.apply(lambda data: base64.b64decode((data or {})["token"]).decode())
        config = pulumi.Output.all(endpoint, token).apply(
            lambda args: token_kubeconfig(cluster, args[0][0], args[0][1], args[1])
        )
        return pulumi.Output.secret(config), [binding, token_secret]
