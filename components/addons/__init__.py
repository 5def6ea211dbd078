"""Add-ons installed on a cluster through its explicit Kubernetes provider (README, "Add-ons").

One module per add-on, each the single source of its chart release record and values
(`base.ChartRelease`). `ADDONS` is the one ordered list the Platform walks: an add-on comes
after the add-ons it waits for (`ChartRelease.waits_for`). Each entry imports its module only
when a cluster needs it, so a stack without the add-on does not pay for its imports.
"""

from __future__ import annotations

import pulumi

from ..spec import PlatformSpec
from .base import Addon, AddonContext, ProjectService


def _external_secrets_applies(name: str, spec: PlatformSpec) -> bool:
    # Clusters Meridian builds: an attached cluster's API allow-list is its owner's, and its
    # kubeconfig need not carry the CA Vault must verify it with.
    return spec.vault is not None and spec.vault.in_cluster is not None and spec.clusters[name].backend != "attached"


def _external_secrets(context: AddonContext) -> pulumi.ComponentResource:
    from .external_secrets import ExternalSecrets

    return ExternalSecrets(
        f"{context.cluster_name}-external-secrets", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _storage_applies(name: str, spec: PlatformSpec) -> bool:
    from .storage import applies

    return applies(spec.clusters[name])


def _storage(context: AddonContext) -> pulumi.ComponentResource:
    from .storage import BlockStorage

    return BlockStorage(
        f"{context.cluster_name}-block-storage", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _observability_applies(name: str, spec: PlatformSpec) -> bool:
    return spec.clusters[name].addons.observed


def _observability(context: AddonContext) -> pulumi.ComponentResource:
    # The central cluster's collector is part of the central stack (central.py); every other
    # observed cluster gets its own (observability.py). Either way, the add-on's key is
    # `observability`: what waits for the collector's CRDs waits for it.
    from .observability import is_central

    assert context.spec is not None, "the Platform hands every add-on the spec"  # pragma: no mutate - message only
    if is_central(context.spec, context.cluster_name):
        from .central import CentralObservability

        return CentralObservability(
            f"{context.cluster_name}-central-observability",
            context,
            opts=pulumi.ResourceOptions(parent=context.parent),
        )
    from .observability import SiteObservability

    return SiteObservability(
        f"{context.cluster_name}-observability", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _gpu_operator_applies(name: str, spec: PlatformSpec) -> bool:
    cluster = spec.clusters[name]
    # Attached clusters are someone else's: their owner runs the operator if they have GPUs.
    return bool(cluster.gpu_pools) and cluster.backend != "attached"


def _gpu_operator(context: AddonContext) -> pulumi.ComponentResource:
    from .gpu_operator import GpuOperator, gpu_operator_release

    return GpuOperator(
        f"{context.cluster_name}-gpu-operator",
        context,
        depends_on=context.waits(gpu_operator_release(context.cluster_name, context.cluster)),
        opts=pulumi.ResourceOptions(parent=context.parent),
    )


def _ingress_applies(name: str, spec: PlatformSpec) -> bool:
    # On clusters that publish a service (the hub, the central observability endpoints), unless switched off.
    from .cluster_api import manages
    from .ingress import publishes

    # Also on management clusters of capi clusters, for its cert-manager alone (cluster_api.py).
    return spec.clusters[name].addons.ingress.enabled and (publishes(spec, name) or bool(manages(spec, name)))


def _ingress(context: AddonContext) -> pulumi.ComponentResource:
    from .ingress import Ingress

    return Ingress(f"{context.cluster_name}-ingress", context, opts=pulumi.ResourceOptions(parent=context.parent))


def _cluster_api_applies(name: str, spec: PlatformSpec) -> bool:
    from .cluster_api import manages

    return bool(manages(spec, name))


def _cluster_api(context: AddonContext) -> pulumi.ComponentResource:
    from .cluster_api import ClusterApiProviders

    return ClusterApiProviders(
        f"{context.cluster_name}-cluster-api", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _jupyterhub_applies(name: str, spec: PlatformSpec) -> bool:
    return spec.clusters[name].addons.hub is not None


def _jupyterhub(context: AddonContext) -> pulumi.ComponentResource:
    from .jupyterhub import JupyterHub

    return JupyterHub(f"{context.cluster_name}-jupyterhub", context, opts=pulumi.ResourceOptions(parent=context.parent))


def _mlflow_applies(name: str, spec: PlatformSpec) -> bool:
    from .mlflow import applies

    return applies(spec, name)


def _cloudnative_pg(context: AddonContext) -> pulumi.ComponentResource:
    from .mlflow import CloudNativePg

    return CloudNativePg(
        f"{context.cluster_name}-cloudnative-pg", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _mlflow(context: AddonContext) -> pulumi.ComponentResource:
    from .mlflow import Mlflow

    return Mlflow(f"{context.cluster_name}-mlflow", context, opts=pulumi.ResourceOptions(parent=context.parent))


def _workflows_applies(name: str, spec: PlatformSpec) -> bool:
    from .workflows import applies

    return applies(spec, name)


def _workflows(context: AddonContext) -> pulumi.ComponentResource:
    from .workflows import ArgoWorkflows

    return ArgoWorkflows(
        f"{context.cluster_name}-workflows", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _models_applies(name: str, spec: PlatformSpec) -> bool:
    from .models import applies

    return applies(spec, name)


def _models(context: AddonContext) -> pulumi.ComponentResource:
    from .models import ModelServices

    return ModelServices(
        f"{context.cluster_name}-model-services", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


#: Every add-on, in the order the Platform builds them on each cluster: an add-on comes after
#: the ones its releases wait for (the hub after block storage and ingress, Cluster API's
#: providers after the ingress add-on's cert-manager). External Secrets
#: comes first: any add-on may take a secret from it (external_secrets.runtime_secret). The collector (or, on
#: the central cluster, the central stack with its collector) comes after the ingress that
#: publishes the central endpoints and before the GPU Operator: its kube-prometheus-stack brings
#: the Prometheus Operator's CRDs, which the GPU Operator's DCGM ServiceMonitor needs. MLflow
#: comes after its database's operator (CloudNativePG), the ingress and the collector; Argo
#: Workflows and the model services last (they use MLflow).
ADDONS: tuple[Addon, ...] = (
    Addon("external_secrets", _external_secrets_applies, _external_secrets),
    Addon("block_storage", _storage_applies, _storage),
    Addon("ingress", _ingress_applies, _ingress),
    Addon("cluster_api", _cluster_api_applies, _cluster_api),
    Addon("observability", _observability_applies, _observability),
    Addon("gpu_operator", _gpu_operator_applies, _gpu_operator),
    Addon("jupyterhub", _jupyterhub_applies, _jupyterhub),
    Addon("cloudnative_pg", _mlflow_applies, _cloudnative_pg),
    Addon("mlflow", _mlflow_applies, _mlflow),
    Addon("workflows", _workflows_applies, _workflows),
    Addon("model_services", _models_applies, _models),
)


#: The add-ons whose releases a `delivery: gitops` cluster hands to the project's GitOps engine
#: (`AddonContext.deliver`; README, "GitOps"): the per-cluster services every cluster of a fleet runs
#: alike. The project's services (the central observability stack, the hub, Cluster API's operator,
#: the MLOps charts), each on the one cluster the spec names, stay direct.
ENGINE_DELIVERED = frozenset({"external_secrets", "ingress", "observability", "gpu_operator"})


def _push_authority(spec: PlatformSpec, parent: pulumi.Resource) -> pulumi.ComponentResource:
    from .pushca import PushAuthority

    return PushAuthority(f"{spec.project.name}-push-ca", spec.project.name, opts=pulumi.ResourceOptions(parent=parent))


def _vault_project(spec: PlatformSpec, parent: pulumi.Resource) -> pulumi.ComponentResource:
    from ..vaultside import VaultProject

    return VaultProject(f"{spec.project.name}-vault", spec, opts=pulumi.ResourceOptions(parent=parent))


#: Project-wide components, built once by the Platform before the clusters' add-ons, which find
#: them in `AddonContext.project`: the project's Vault provider and the clusters' read policy
#: (components/vaultside.py), and the CA of the central observability's push endpoints, which
#: the central cluster signs with and every collector trusts (pushca.py).
PROJECT_SERVICES: tuple[ProjectService, ...] = (
    ProjectService("vault", lambda spec: spec.vault is not None and spec.vault.provider_needed, _vault_project),
    ProjectService("push_authority", lambda spec: spec.observability is not None, _push_authority),
)
