"""Model services: registered MLflow models served over REST, scaled with their load, behind the project's login.

Add-on `model_services` (after MLflow, on its cluster, when `mlops.model_services` names any);
children of `<c>-model-services` (`meridian:addons:ModelServices`):

* `<c>-model-services`            Namespace `models` (Pod Security restricted)
* per service `<s>`, prefix `<c>-model-<s>`:
  * `<p>-server`, `<p>-service`, `<p>-budget`
                                  Deployment `model-<s>` running MLflow's model server
                                  (`mlflow models serve`), its Service (port 8080) and PodDisruptionBudget
  * `<p>-autoscaler`              HorizontalPodAutoscaler (autoscaling/v2) between the spec's bounds
  * `<p>-policy`                  NetworkPolicy: only the service's login reaches the model server
  * the login (login.py `publish`): oauth2-proxy `model-<s>-login`, its Secrets, Ingress, DNS record

The model server loads `models:/<name>/<version>` (or `@<alias>`) from the registry at start,
through MLflow's Service in the cluster (MLFLOW_TRACKING_URI; MLflow's NetworkPolicy admits the
`models` namespace); artifacts are proxied by the tracking server, so the pods hold no bucket
credential. `--env-manager local` uses the image's Python: the image (the spec's, else MLflow's
`-full` one) must carry the model flavour's packages (mlflow/models/cli.py; `virtualenv`, the
default, would install them at every start from a package index).

Endpoints (mlflow/pyfunc/scoring_server): `POST /invocations`, `GET /ping` and `/health` (200 once
the model is loaded), `GET /version`. Clients call `https://<hostname>/invocations` with an ID
token from the project's provider as a bearer token.

Scaling. The HPA scales on CPU utilisation of the pods' requests. Scaling on requests per second
needs a custom metrics API (prometheus-adapter or KEDA) reading a Prometheus that can be queried
in the cluster; the site collectors are Prometheus agents that only forward, and no such adapter
is in the mirror, so the spec refuses `requests_per_second` with that reason.

The Deployment names no `replicas`: the HPA owns the count, and a `pulumi up` must not reset it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from ..spec import ClusterSpec, PlatformSpec
from ..spec.mlops import ModelServiceSpec
from .base import AddonContext, kubernetes_object
from .base import namespace as addon_namespace
from .login import (
    RESTRICTED_CONTAINER,
    LoginProxy,
    budget_document,
    from_namespace,
    network_policy,
    publish,
    restricted_pod,
    service_document,
    spread,
)

NAMESPACE = "models"
#: The model server's port (`mlflow models serve --port`; its default, 5000, is the tracking server's).
PORT = 8080
#: Seconds a model has to load (download from the registry, import) before the pod is restarted.
STARTUP_SECONDS = 600


def applies(spec: PlatformSpec, cluster_name: str) -> bool:
    """Whether model services run on `cluster_name` (the spec keeps them on MLflow's cluster)."""
    return spec.mlops is not None and spec.mlops.cluster == cluster_name and bool(spec.mlops.model_services)


def pod_labels(service: str) -> dict[str, str]:
    """The model server's pod labels (its Service's and autoscaler's selector)."""
    return {"app.kubernetes.io/name": f"model-{service}", "app.kubernetes.io/component": "model-server"}


def login_labels(service: str) -> dict[str, str]:
    """The service's login pods' labels."""
    return {"app.kubernetes.io/name": f"model-{service}", "app.kubernetes.io/component": "login"}


def server_args(model: ModelServiceSpec) -> list[str]:
    """`mlflow models serve`'s arguments (mlflow/models/cli.py): all interfaces, the image's Python."""
    return [
        "models",
        "serve",
        f"--model-uri={model.model}",
        "--host=0.0.0.0",
        f"--port={PORT}",
        f"--workers={model.workers}",
        "--env-manager=local",
        f"--timeout={model.timeout_seconds}",
    ]


def server_deployment(
    service: str, model: ModelServiceSpec, cluster: ClusterSpec, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The model server's Deployment: its resources (and GPUs, placed like a hub profile's), probes on /ping."""
    from .mlflow import MLFLOW_IMAGE, MLFLOW_UID, SCRATCH, client_env, service_url
    from .workflows import gpu_placement

    memory = f"{model.memory_gb}Gi"
    resources: dict[str, Any] = {"requests": {"cpu": f"{model.cpu:g}", "memory": memory}, "limits": {"memory": memory}}
    image = MLFLOW_IMAGE if model.image is None else f"{model.image.name}:{model.image.reference}"
    probe = {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    env = {**client_env(service_url()), "HOME": SCRATCH, "TMPDIR": SCRATCH}
    container = {
        "name": "model",
        "image": image,
        "command": ["mlflow"],
        "args": server_args(model),
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "ports": [{"name": "http", "containerPort": PORT}],
        "startupProbe": {**probe, "failureThreshold": STARTUP_SECONDS // 10},
        "readinessProbe": probe,
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": resources,
        "securityContext": {**RESTRICTED_CONTAINER},
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}],
    }
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod(MLFLOW_UID),
        "containers": [container],
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "20Gi"}}],
        "topologySpreadConstraints": [spread(pod_labels(service))],
    }
    if model.gpu is not None:
        resource, selector, tolerations = gpu_placement(cluster, model.gpu)
        resources["limits"][resource] = str(model.gpu.count)
        pod["nodeSelector"] = selector
        pod["tolerations"] = tolerations
    name = f"model-{service}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**labels, **pod_labels(service)}},
        "spec": {
            "selector": {"matchLabels": pod_labels(service)},
            "template": {"metadata": {"labels": {**labels, **pod_labels(service)}}, "spec": pod},
        },
    }


def autoscaler_document(service: str, model: ModelServiceSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """The HorizontalPodAutoscaler (autoscaling/v2): CPU utilisation of the requests, the spec's bounds.

    Scaling down waits five minutes of lower load (the API's default stabilisation), so a model
    that takes minutes to load is not dropped between bursts.
    """
    assert model.target.cpu_percent is not None, "the spec refuses other targets"
    name = f"model-{service}"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": model.replicas.min,
            "maxReplicas": model.replicas.max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": model.target.cpu_percent},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def proxy_of(service: str, model: ModelServiceSpec) -> LoginProxy:
    """The service's login: every path is its API (401 without a token, never the login page)."""
    return LoginProxy(
        name=f"model-{service}-login",
        namespace=NAMESPACE,
        hostname=model.hostname,
        upstream=f"http://model-{service}.{NAMESPACE}.svc.cluster.local:{PORT}/",
        replicas=min(2, model.replicas.max),
        pods=login_labels(service),
        api_routes=("^/",),
    )


class ModelServices(pulumi.ComponentResource):
    """The project's model services on MLflow's cluster."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meridian:addons:ModelServices", name, None, opts)
        spec = context.spec
        assert spec is not None and spec.mlops is not None, "applies only with mlops.model_services"
        labels, provider = context.labels, context.provider
        namespace = addon_namespace(
            name, NAMESPACE, labels=labels, enforce="restricted", provider=provider, parent=self
        )
        mlflow = context.installed["mlflow"]
        for service, model in spec.mlops.model_services.items():
            prefix = f"{context.cluster_name}-model-{service}"

            def own(resource: str, document: Mapping[str, Any], *depends: pulumi.Resource) -> pulumi.CustomResource:
                return kubernetes_object(resource, document, provider=provider, parent=self, depends_on=depends)

            server = own(
                f"{prefix}-server", server_deployment(service, model, context.cluster, labels), namespace, mlflow
            )
            pods = pod_labels(service)
            own(
                f"{prefix}-service",
                service_document(f"model-{service}", NAMESPACE, pods, [("http", PORT)], labels),
                namespace,
            )
            own(f"{prefix}-budget", budget_document(f"model-{service}", NAMESPACE, pods, labels), namespace)
            own(f"{prefix}-autoscaler", autoscaler_document(service, model, labels), server)
            proxy = proxy_of(service, model)
            rules = [{"from": [from_namespace(NAMESPACE, proxy.pods)], "ports": [{"port": "http"}]}]
            own(f"{prefix}-policy", network_policy(f"model-{service}", NAMESPACE, pods, rules, labels), namespace)
            publish(prefix, context, self, spec.mlops.login, proxy, after=[namespace, server], what=f"model {service}")
        self.register_outputs(
            {"namespace": NAMESPACE, "services": {key: m.hostname for key, m in spec.mlops.model_services.items()}}
        )
