"""Cluster API's controllers on a management cluster: what builds, heals and upgrades capi clusters.

Installed on every cluster a capi cluster names as `management_cluster` (components/clusters/capi.py
makes the workload clusters' objects there). The maintainers' way for declarative management is
the cluster-api-operator: its chart installs the operator, and one provider object per provider
tells it what to install (cluster-api-operator docs, "Helm chart installation").

Decisions:

* **Provider objects are the program's, not the chart's values.** The chart can render them
  from its values, but as Helm `post-install,post-upgrade` hooks (chart 0.28.0 templates/core.yaml,
  `enableHelmHook: true`), which nothing waits on. Written here, each carries pulumi-kubernetes'
  `pulumi.com/waitFor: condition=Ready` (the operator sets `Ready` from the provider Deployment's
  `Available` once `ProviderInstalled` is true: cluster-api-operator v0.28.0
  internal/controller/healthcheck), so a workload cluster's objects are sent only once their CRDs
  and webhooks serve.
* **Pinned versions.** Each provider object names its release; the operator fetches its
  components from the provider's GitHub release (its built-in clusterctl list: `cluster-api`,
  `kubeadm`, `openstack`). An empty version would mean "latest" at the time of the install.
* **Namespaces** are clusterctl's (`capi-system`, `capi-kubeadm-bootstrap-system`,
  `capi-kubeadm-control-plane-system`, `capo-system`), made here with Pod Security `restricted`:
  the managers run as non-root with every capability dropped (cluster-api v1.14.0
  core/config/manager/manager.yaml; cluster-api-provider-openstack v0.14.7 config/manager/manager.yaml).
* **cert-manager** is required by the operator (its webhook certificate) and by every provider
  (theirs): it comes with the ingress add-on, which the spec keeps on for management clusters.
* **ORC.** CAPO needs the OpenStack Resource Controller, installed separately (CAPO v0.14.7
  docs/book/src/clusteropenstack/configuration.md, "ORC"): the release CAPO v0.14.7 is built and
  tested against (go.mod, v2.4.0), its release manifest applied through pulumi-kubernetes'
  `yaml/v2:ConfigFile` from the pinned release URL.

Children of `<cluster>-cluster-api` (through the management cluster's provider):

* `<c>-capi-operator-system`, `<c>-capi-system`, `<c>-capi-kubeadm-bootstrap-system`,
  `<c>-capi-kubeadm-control-plane-system`, `<c>-capo-system`   Namespaces
* `<c>-cluster-api-operator`   helm.v3.Release of the locked cluster-api-operator chart
* `<c>-orc`                    kubernetes:yaml/v2:ConfigFile of ORC's release manifest
* `<c>-capi-core`, `<c>-capi-bootstrap`, `<c>-capi-control-plane`, `<c>-capi-infrastructure`
                               operator.cluster.x-k8s.io/v1alpha2 provider objects, each awaited
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from ..spec import PlatformSpec
from .base import AddonContext, ChartRelease, chart_release, container_resources, deliver, kubernetes_object
from .base import namespace as addon_namespace

#: Cluster API core and its kubeadm providers (released together), and CAPO: the versions whose
#: CRDs the mirror holds and Meridian's objects are validated against (components/charts.lock.yaml).
CAPI_VERSION = "v1.14.0"
CAPO_VERSION = "v0.14.7"
#: The OpenStack Resource Controller CAPO v0.14.7 is built against (its go.mod) and its e2e tests
#: install (its documentation's example still names v2.0.3).
ORC_VERSION = "v2.4.0"
ORC_MANIFEST = f"https://github.com/k-orc/openstack-resource-controller/releases/download/{ORC_VERSION}/install.yaml"
OPERATOR_NAMESPACE = "capi-operator-system"
#: The API group and version of the operator's provider objects.
OPERATOR_API = "operator.cluster.x-k8s.io/v1alpha2"
#: How long a provider may take to install and become Ready (its components come from GitHub).
PROVIDER_TIMEOUT_SECONDS = 900


def manages(spec: PlatformSpec, name: str) -> list[str]:
    """The capi clusters whose management cluster is `name`."""
    return [
        other
        for other, cluster in spec.clusters.items()
        if cluster.backend == "capi" and cluster.management_cluster == name
    ]


#: (resource suffix, kind, provider name, namespace, version): what the operator installs.
PROVIDERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("capi-core", "CoreProvider", "cluster-api", "capi-system", CAPI_VERSION),
    ("capi-bootstrap", "BootstrapProvider", "kubeadm", "capi-kubeadm-bootstrap-system", CAPI_VERSION),
    ("capi-control-plane", "ControlPlaneProvider", "kubeadm", "capi-kubeadm-control-plane-system", CAPI_VERSION),
    ("capi-infrastructure", "InfrastructureProvider", "openstack", "capo-system", CAPO_VERSION),
)


def operator_values() -> dict[str, Any]:
    """The operator chart's values: no providers from the chart (see the module docstring), the operator sized."""
    return {
        "resources": {"manager": container_resources("100m", "128Mi", "300Mi")},
        # The chart reads the pod's under securityContext, the container's under
        # containerSecurityContext.manager (templates/deployment.yaml).
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {
            "manager": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsUser": 65532,
            }
        },
    }


def provider_document(kind: str, name: str, namespace: str, version: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """One provider object, awaited until the operator reports it Ready."""
    return {
        "apiVersion": OPERATOR_API,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/timeoutSeconds": str(PROVIDER_TIMEOUT_SECONDS),
            },
        },
        "spec": {"version": version},
    }


def operator_release(cluster_name: str) -> ChartRelease:
    """The cluster-api-operator's release record: it waits for the ingress add-on's cert-manager."""
    return chart_release(
        f"{cluster_name}-cluster-api-operator",
        "cluster-api-operator",
        namespace=OPERATOR_NAMESPACE,
        values=operator_values(),
        waits_for=("ingress",),
    )


class ClusterApiProviders(pulumi.ComponentResource):
    """The cluster-api-operator, ORC and the four providers capi clusters need, on their management cluster."""

    ready: list[pulumi.Resource]
    """What a workload cluster's objects wait for: every provider object (each awaited Ready)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Install the providers on `context.cluster` (a management cluster of capi clusters).

        :param name: `<cluster>-cluster-api`.
        :param context: the management cluster, its provider, the add-ons installed before (ingress).
        """
        super().__init__("meridian:addons:ClusterApiProviders", name, None, opts)
        import pulumi_kubernetes as k8s

        cluster_name = context.cluster_name
        release = operator_release(cluster_name)
        # The operator's namespace and each provider's, all at Pod Security `restricted` (module docstring).
        homes = {
            namespace: addon_namespace(
                f"{cluster_name}-{namespace}",
                namespace,
                labels=context.labels,
                enforce="restricted",
                provider=context.provider,
                parent=self,
            )
            for namespace in (OPERATOR_NAMESPACE, *(entry[3] for entry in PROVIDERS))
        }
        operator = deliver(
            release,
            provider=context.provider,
            parent=self,
            depends_on=context.waits(release),
            namespace=homes[OPERATOR_NAMESPACE].metadata.name,
        )
        orc = k8s.yaml.v2.ConfigFile(
            f"{cluster_name}-orc",
            file=ORC_MANIFEST,
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider),
        )
        self.ready = []
        for suffix, kind, provider_name, provider_namespace, version in PROVIDERS:
            home = homes[provider_namespace]
            # The infrastructure provider's controllers use ORC's CRDs from their first reconcile.
            after = [operator, home, orc] if kind == "InfrastructureProvider" else [operator, home]
            self.ready.append(
                kubernetes_object(
                    f"{cluster_name}-{suffix}",
                    provider_document(kind, provider_name, provider_namespace, version, context.labels),
                    provider=context.provider,
                    parent=self,
                    depends_on=after,
                )
            )
        self.register_outputs({"providers": [entry[2] for entry in PROVIDERS]})
