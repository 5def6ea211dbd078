"""Argo Workflows on the MLOps cluster: the chart, SSO with the project's login, and the project's templates.

Add-on `workflows` (after MLflow, on the cluster `mlops.cluster` names, when `mlops.workflows` is
set); children of `<c>-workflows` (`meridian:addons:ArgoWorkflows`):

* `<c>-argo-workflows`           Namespace `argo-workflows` (the controller and the server; restricted)
* `<c>-workflows`                Namespace `workflows`, where the project's workflows run (restricted)
* `<c>-workflows` (bucket)       the artifact repository, `<project>-<c>-workflows`, protected (objectstore.py):
                                 S3 with IRSA for the workflows' and the server's accounts (AWS), or a
                                 Swift container over the site's S3 endpoint with the project's keys
* `<c>-workflows-artifacts`      Secret (or ExternalSecret) `argo-artifacts` in `workflows`: the S3 keys (OpenStack)
* `<c>-workflows-sso`, `<c>-workflows-sso-client`
                                 Secret (or ExternalSecret) `argo-server-sso` (the OAuth client secret) and
                                 Secret `argo-server-sso-client` (its ID) the server reads (chart `server.sso`)
* `<c>-workflows-scientist`, `-scientist-token`, `-scientist-role`, `-scientist-binding`
                                 SSO RBAC: the ServiceAccount members of `allowed_groups` act as (rule
                                 annotation), its token Secret, and its Role in `workflows`
* `<c>-argo-workflows`           helm.v3.Release of argo/argo-workflows at the locked version
* `<c>-workflows-<template>`     WorkflowTemplate per spec template, in `workflows`
* `<c>-workflows-dns`            the hostname's A record at the ingress load balancer (dns.py)

Login. The server's own SSO (`--auth-mode=sso`, argo-workflows docs/argo-server-sso.md) with the
project's OIDC provider. With SSO RBAC the server acts, for each user, as the ServiceAccount of
its namespace whose `workflows.argoproj.io/rbac-rule` matches the user's claims (the highest
`rbac-rule-precedence` wins); nobody else gets in. Members of `allowed_groups` act as
`scientist`, which may run, watch and delete workflows and read their pods' logs in `workflows`,
and nothing in other namespaces.

Workflow pods. The chart's defaults run them as root; `controller.workflowDefaults` and the
executor's and main container's security contexts make them non-root with no privileges
(docs/workflow-pod-security-context.md: the executor image runs as 8737), so the `workflows`
namespace enforces Pod Security restricted. Every workflow runs as the chart's `workflow`
account, whose Role allows only what the emissary executor needs (`workflowtaskresults`
create/patch, docs/workflow-rbac.md); its artifacts and logs go to the project's bucket.

CRDs. The chart's default installs the full CRDs with a pre-install Job that downloads them from
GitHub (templates/crd-upgrade-job; the cluster would need that egress at every upgrade); Meridian
installs the chart's minimal CRDs instead (`crds.full: false`), and validates its own
WorkflowTemplates against the full ones (the mirror's crds/argo-workflows, locked by digest).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

from ..spec import ClusterSpec, PlatformSpec
from ..spec.addons import ProfileGpuSpec, profile_resource
from ..spec.clusters import POOL_LABEL
from ..spec.mlops import MlopsSpec, WorkflowsSpec, WorkflowTemplateSpec
from .base import AddonContext, ChartRelease, chart_release, container_resources, deliver, kubernetes_object
from .base import namespace as addon_namespace
from .dns import public_record
from .ingress import INGRESS_CLASS, Ingress
from .login import RESTRICTED_CONTAINER
from .objectstore import bucket_name, object_store

ARGO_CHART = "argo-workflows"
#: The controller's and server's namespace, and the one the project's workflows run in.
NAMESPACE = "argo-workflows"
WORKFLOWS_NAMESPACE = "workflows"
#: The release's name, which the chart's objects are named after (`argo-workflows-server`, the
#: aggregate ClusterRoles `argo-workflows-view|edit|admin`).
RELEASE_NAME = "argo-workflows"
SERVER_ACCOUNT = f"{RELEASE_NAME}-server"
#: The account workflows run as (chart `workflow.serviceAccount.name`), in `workflows`.
WORKFLOW_ACCOUNT = "workflow"
ARTIFACTS_SECRET = "argo-artifacts"
SSO_SECRET = "argo-server-sso"
SSO_CLIENT_SECRET = "argo-server-sso-client"
#: The ServiceAccount the members of the login's allowed groups act as, and its token Secret (SSO RBAC
#: reads the account's token from a Secret: docs/service-account-secrets.md, Kubernetes 1.24+).
SCIENTIST = "scientist"
SCIENTIST_TOKEN = f"{SCIENTIST}.service-account-token"
TLS_SECRET = "argo-workflows-tls"
#: The SSO RBAC annotations (argo-workflows workflow/common/common.go).
RBAC_RULE = "workflows.argoproj.io/rbac-rule"
RBAC_PRECEDENCE = "workflows.argoproj.io/rbac-rule-precedence"
#: The user the executor image runs as (argo-workflows Dockerfile, argoexec-nonroot: 8737).
EXECUTOR_UID = 8737
#: Where a finished workflow's record lives on (seconds).
DAY = 24 * 3600


def applies(spec: PlatformSpec, cluster_name: str) -> bool:
    """Whether Argo Workflows runs on `cluster_name`."""
    return spec.mlops is not None and spec.mlops.cluster == cluster_name and spec.mlops.workflows is not None


def _restricted_pod(uid: int | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if uid is not None:
        pod.update(runAsUser=uid, runAsGroup=uid, fsGroup=uid)
    return pod


def artifact_repository(bucket: str, region: str, endpoint: str | None) -> dict[str, Any]:
    """The chart's `artifactRepository.s3` (argo-workflows S3ArtifactRepository): keys or the SDK's IRSA chain."""
    s3: dict[str, Any] = {"bucket": bucket, "region": region}
    if endpoint is None:
        s3.update(endpoint=f"s3.{region}.amazonaws.com", useSDKCreds=True)
    else:
        # The endpoint as host[:port]; TLS unless `insecure`.
        s3.update(
            endpoint=endpoint.removeprefix("https://").rstrip("/"),
            insecure=False,
            accessKeySecret={"name": ARTIFACTS_SECRET, "key": "AWS_ACCESS_KEY_ID"},
            secretKeySecret={"name": ARTIFACTS_SECRET, "key": "AWS_SECRET_ACCESS_KEY"},
        )
    return {"archiveLogs": True, "s3": s3}


def argo_values(
    mlops: MlopsSpec,
    workflows: WorkflowsSpec,
    *,
    issuer: str,
    observed: bool,
    labels: Mapping[str, str],
    repository: Mapping[str, Any],
    role_arn: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """The argo-workflows chart values (chart 1.0.18 values.yaml): the one place Argo's configuration comes from."""
    from .gpu_operator import SCRAPE_LABEL
    from .mlflow import ROLE_ANNOTATION

    login = mlops.login
    hostname = workflows.hostname
    account_annotations = {ROLE_ANNOTATION: role_arn} if role_arn is not None else {}
    sso: dict[str, Any] = {
        "enabled": True,
        "issuer": login.issuer,
        "clientId": {"name": SSO_CLIENT_SECRET, "key": "client-id"},
        "clientSecret": {"name": SSO_SECRET, "key": "client-secret"},
        "redirectUrl": f"https://{hostname}/oauth2/callback",
        # openid is Argo's own; the rest are the login's (the groups claim's scope among them).
        "scopes": [scope for scope in login.scopes if scope != "openid"],
        # The server reads, with its own account, only the SSO client's Secrets and the token of the
        # account users act as (v4.0.6 server/auth/sso/sso.go reads clientId and clientSecret).
        "rbac": {"enabled": True, "secretWhitelist": [SCIENTIST_TOKEN, SSO_SECRET, SSO_CLIENT_SECRET]},
        "sessionExpiry": "10h",
    }
    if login.groups_claim != "groups":
        # Argo reads a custom groups claim from the ID token only (v4.0.6 server/auth/types/claims.go
        # GetCustomGroup; its userInfoPath reads just a `groups` key): a provider releasing the
        # claim at its userinfo endpoint only admits nobody here (README, MLOps login).
        sso["customGroupClaimName"] = login.groups_claim
    return {
        "crds": {"install": True, "keep": True, "full": False},
        "controller": {
            "workflowNamespaces": [WORKFLOWS_NAMESPACE],
            "parallelism": workflows.parallelism,
            "workflowDefaults": {
                "spec": {
                    "serviceAccountName": WORKFLOW_ACCOUNT,
                    "securityContext": _restricted_pod(EXECUTOR_UID),
                    "ttlStrategy": {"secondsAfterCompletion": workflows.retention_days * DAY},
                    "podGC": {"strategy": "OnPodSuccess"},
                }
            },
            "metricsConfig": {"enabled": observed},
            "serviceMonitor": {"enabled": observed, "additionalLabels": {**labels, **SCRAPE_LABEL}},
            "podSecurityContext": _restricted_pod(),
            "resources": container_resources("100m", "256Mi", "1Gi"),
        },
        "executor": {
            "securityContext": dict(RESTRICTED_CONTAINER),
            "resources": container_resources("50m", "64Mi", "256Mi"),
        },
        "mainContainer": {"securityContext": {**dict(RESTRICTED_CONTAINER), "readOnlyRootFilesystem": False}},
        "workflow": {
            "serviceAccount": {"create": True, "name": WORKFLOW_ACCOUNT, "annotations": account_annotations},
            "rbac": {"create": True},
        },
        "server": {
            "authModes": ["sso"],
            "sso": sso,
            "serviceAccount": {"annotations": account_annotations},
            "podSecurityContext": _restricted_pod(),
            "resources": container_resources("100m", "256Mi", "512Mi"),
            "ingress": {
                "enabled": True,
                "ingressClassName": INGRESS_CLASS,
                "annotations": {"cert-manager.io/cluster-issuer": issuer},
                "hosts": [hostname],
                "paths": ["/"],
                "pathType": "Prefix",
                "tls": [{"secretName": TLS_SECRET, "hosts": [hostname]}],
            },
        },
        # Credentials come from the Secret the program writes (OpenStack) or IRSA (AWS).
        "useStaticCredentials": "accessKeySecret" in repository["s3"],
        "artifactRepository": dict(repository),
    }


def argo_release(
    cluster_name: str,
    cluster: ClusterSpec,
    mlops: MlopsSpec,
    *,
    issuer: str,
    labels: Mapping[str, str],
    repository: Mapping[str, Any],
    role_arn: pulumi.Input[str] | None,
) -> ChartRelease:
    """Argo's release record: after the ingress (its Ingress) and, where observed, the collector (ServiceMonitor)."""
    assert mlops.workflows is not None, "applies only with mlops.workflows"
    observed = cluster.addons.observed
    return chart_release(
        f"{cluster_name}-argo-workflows",
        ARGO_CHART,
        namespace=NAMESPACE,
        release_name=RELEASE_NAME,
        values=argo_values(
            mlops,
            mlops.workflows,
            issuer=issuer,
            observed=observed,
            labels=labels,
            repository=repository,
            role_arn=role_arn,
        ),
        waits_for=("ingress", *(("observability",) if observed else ())),
    )


def gpu_placement(cluster: ClusterSpec, gpu: ProfileGpuSpec) -> tuple[str, dict[str, str], list[dict[str, str]]]:
    """A GPU request's resource name, node selector and tolerations, from the cluster's GPU pools.

    The same as a hub profile's (jupyterhub.py): the resource the pool's nodes advertise
    (`profile_resource`, the one GPU summary), the pool's label, a toleration of each of its taints.
    """
    from .jupyterhub import pool_tolerations

    resource = profile_resource(gpu, cluster.gpu_pools)
    assert isinstance(resource, str), resource  # the spec refuses a GPU no pool offers
    return resource, {POOL_LABEL: gpu.pool}, pool_tolerations(cluster, gpu.pool)


def template_document(
    name: str, template: WorkflowTemplateSpec, cluster: ClusterSpec, labels: Mapping[str, str]
) -> dict[str, Any]:
    """One WorkflowTemplate (argoproj.io/v1alpha1): its step's image, command, resources and GPU placement.

    The GPU resource, node selector and tolerations come from the cluster's GPU pools (the one GPU
    summary: `profile_resource`, the pool's taints), as a hub profile's do; steps log to MLflow
    through its Service (MLFLOW_TRACKING_URI).
    """
    from .mlflow import SCRATCH, client_env, service_url

    memory = f"{template.memory_gb}Gi"
    resources: dict[str, Any] = {
        "requests": {"cpu": f"{template.cpu:g}", "memory": memory},
        "limits": {"memory": memory},
    }
    step: dict[str, Any] = {
        "name": "main",
        "activeDeadlineSeconds": template.timeout_minutes * 60,
        "container": {
            "image": f"{template.image.name}:{template.image.reference}",
            "command": list(template.command),
            # The step runs as the executor's non-root user (workflowDefaults), whose home the image
            # may not have: HOME on the pod's own scratch volume.
            "env": [
                *({"name": key, "value": value} for key, value in client_env(service_url()).items()),
                {"name": "HOME", "value": SCRATCH},
            ],
            "resources": resources,
            "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}],
        },
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    }
    if template.gpu is not None:
        resource, step["nodeSelector"], step["tolerations"] = gpu_placement(cluster, template.gpu)
        resources["limits"][resource] = str(template.gpu.count)
    spec: dict[str, Any] = {"entrypoint": "main", "serviceAccountName": WORKFLOW_ACCOUNT, "templates": [step]}
    if template.parameters:
        spec["arguments"] = {
            "parameters": [{"name": key, "value": value} for key, value in template.parameters.items()]
        }
    annotations = {"workflows.argoproj.io/description": template.description} if template.description else {}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {
            "name": name,
            "namespace": WORKFLOWS_NAMESPACE,
            "labels": dict(labels),
            "annotations": annotations,
        },
        "spec": spec,
    }


def rbac_rule(groups: list[str]) -> str:
    """The expression (expr-lang) that admits a member of any of `groups`, quoted for it."""
    return " || ".join(f"{json_quote(group)} in groups" for group in groups)


def json_quote(value: str) -> str:
    """A string literal expr-lang reads back as `value` (its double-quoted strings take JSON's escapes)."""
    import json

    return json.dumps(value)


def scientist_role(labels: Mapping[str, str], artifacts_secret: bool) -> dict[str, Any]:
    """What scientists may do in `workflows`: run, watch and delete workflows and their templates, read logs.

    The server acts with this account for them (SSO RBAC): retrying a workflow deletes its failed
    pods (v4.0.6 server/workflow/workflow_server.go), and showing an artifact or an archived log
    reads the repository's keys (server/artifacts/artifact_server.go), which any workflow they
    submit can mount anyway.
    """
    argo = ["workflows", "workflowtemplates", "cronworkflows", "workfloweventbindings"]
    rules: list[dict[str, Any]] = [
        {
            "apiGroups": ["argoproj.io"],
            "resources": argo,
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
        {"apiGroups": [""], "resources": ["pods/log", "events"], "verbs": ["get", "list", "watch"]},
    ]
    if artifacts_secret:
        rules.append(
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [ARTIFACTS_SECRET], "verbs": ["get"]}
        )
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": SCIENTIST, "namespace": WORKFLOWS_NAMESPACE, "labels": dict(labels)},
        "rules": rules,
    }


class ArgoWorkflows(pulumi.ComponentResource):
    """Argo Workflows with the project's login, bucket and templates."""

    release: ChartRelease

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meridian:addons:ArgoWorkflows", name, None, opts)
        import pulumi_kubernetes as k8s

        from .external_secrets import runtime_secret

        spec = context.spec
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert spec is not None and spec.mlops is not None and spec.mlops.workflows is not None, "applies only so"
        # pragma: no mutate end
        mlops, workflows = spec.mlops, spec.mlops.workflows
        labels, provider = context.labels, context.provider

        def space(resource: str, namespace_name: str) -> Any:
            return addon_namespace(
                resource, namespace_name, labels=labels, enforce="restricted", provider=provider, parent=self
            )

        server_namespace = space(f"{context.cluster_name}-argo-workflows", NAMESPACE)
        workflow_namespace = space(name, WORKFLOWS_NAMESPACE)
        accounts = [(WORKFLOWS_NAMESPACE, WORKFLOW_ACCOUNT), (NAMESPACE, SERVER_ACCOUNT)]
        store = object_store("workflows", context, self, accounts, owner="Argo Workflows", over_s3=True)
        bucket = bucket_name(spec.project.name, context.cluster_name, "workflows")
        repository = artifact_repository(bucket, store.region, store.endpoint)
        needs: list[pulumi.Resource] = [server_namespace, workflow_namespace, *store.needs]
        if store.endpoint is not None:
            assert store.access_key_ref is not None and store.secret_key_ref is not None
            needs.append(
                runtime_secret(
                    f"{name}-artifacts",
                    context,
                    name=ARTIFACTS_SECRET,
                    namespace=WORKFLOWS_NAMESPACE,
                    data={"AWS_ACCESS_KEY_ID": store.access_key_ref, "AWS_SECRET_ACCESS_KEY": store.secret_key_ref},
                    parent=self,
                    depends_on=[workflow_namespace],
                )
            )
        needs.append(
            runtime_secret(
                f"{name}-sso",
                context,
                name=SSO_SECRET,
                namespace=NAMESPACE,
                data={"client-secret": mlops.login.client_secret},
                parent=self,
                depends_on=[server_namespace],
            )
        )
        needs.append(
            k8s.core.v1.Secret(
                f"{name}-sso-client",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=SSO_CLIENT_SECRET, namespace=NAMESPACE, labels=labels),
                type="Opaque",
                string_data={"client-id": mlops.login.client_id},
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[server_namespace]),
            )
        )
        scientist = k8s.core.v1.ServiceAccount(
            f"{name}-scientist",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SCIENTIST,
                namespace=NAMESPACE,
                labels=labels,
                annotations={RBAC_RULE: rbac_rule(list(mlops.login.allowed_groups)), RBAC_PRECEDENCE: "1"},
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[server_namespace]),
        )
        needs.append(
            k8s.core.v1.Secret(
                f"{name}-scientist-token",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=SCIENTIST_TOKEN,
                    namespace=NAMESPACE,
                    labels=labels,
                    annotations={"kubernetes.io/service-account.name": SCIENTIST},
                ),
                type="kubernetes.io/service-account-token",
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[scientist]),
            )
        )
        role = kubernetes_object(
            f"{name}-scientist-role",
            scientist_role(labels, store.endpoint is not None),
            provider=provider,
            parent=self,
            depends_on=[workflow_namespace],
        )
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": SCIENTIST, "namespace": WORKFLOWS_NAMESPACE, "labels": dict(labels)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SCIENTIST},
            "subjects": [{"kind": "ServiceAccount", "name": SCIENTIST, "namespace": NAMESPACE}],
        }
        kubernetes_object(
            f"{name}-scientist-binding", binding, provider=provider, parent=self, depends_on=[role, scientist]
        )
        acme = context.cluster.addons.ingress.acme
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert acme is not None, "the spec gives the MLOps cluster's ingress its ACME account"
        # pragma: no mutate end
        self.release = argo_release(
            context.cluster_name,
            context.cluster,
            mlops,
            issuer=acme.issuer,
            labels=labels,
            repository=repository,
            role_arn=store.role_arn,
        )
        release = deliver(
            self.release,
            provider=provider,
            parent=self,
            depends_on=[*context.waits(self.release), *needs],
            namespace=server_namespace.metadata.name,
        )
        for key, template in workflows.templates.items():
            kubernetes_object(
                f"{name}-{key}",
                template_document(key, template, context.cluster, labels),
                provider=provider,
                parent=self,
                depends_on=[release],
            )
        ingress = cast(Ingress, context.installed["ingress"])  # pragma: no mutate - cast does nothing at run time
        public_record(name, workflows.hostname, ingress.addresses, context.site, self, "Argo Workflows")
        self.register_outputs({"hostname": workflows.hostname, "namespace": WORKFLOWS_NAMESPACE, "bucket": bucket})
