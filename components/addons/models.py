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

Scaling. The HPA scales on CPU utilisation of the pods' requests, or on requests per second
per replica as the service's login counts them: a custom metric served by prometheus-adapter
(`<c>-...-prometheus-adapter` objects in namespace `custom-metrics`) from the central Prometheus,
the only one that answers queries, which the spec therefore requires on this cluster.

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
#: Seconds a stopping server keeps serving before it is told to stop: the time for its removal from
#: the Service's endpoints to reach the login's proxy, which would otherwise send it new requests.
DRAIN_SECONDS = 5
#: Seconds uvicorn keeps an idle connection open (uvicorn's default is 5). oauth2-proxy reuses idle
#: upstream connections for 90 s (v7.15.3 pkg/upstream/http.go: http.DefaultTransport's
#: IdleConnTimeout); a server closing first races the proxy's next request, which fails with a 502.
KEEP_ALIVE_SECONDS = 120


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
    # uvicorn reads its settings from UVICORN_* variables too (its CLI's click auto_envvar_prefix);
    # `mlflow models serve` starts it with this environment (pyfunc/scoring_server get_cmd).
    env = {
        **client_env(service_url()),
        "HOME": SCRATCH,
        "TMPDIR": SCRATCH,
        "UVICORN_TIMEOUT_KEEP_ALIVE": str(KEEP_ALIVE_SECONDS),
    }
    container = {
        "name": "model",
        "image": image,
        "command": ["mlflow"],
        "args": server_args(model),
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "ports": [{"name": "http", "containerPort": PORT}],
        "startupProbe": {**probe, "failureThreshold": STARTUP_SECONDS // 10},
        "readinessProbe": probe,
        # /health answers from the event loop that also serves predictions: a busy server gets the
        # readiness probe's 5 s too rather than the 1 s default before a restart is counted.
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        # Stopping. The container's PID 1 is `mlflow models serve`, which sets no SIGTERM handler
        # and waits for its uvicorn child (MLflow 3.17.0 pyfunc/backend.py `serve`): a PID 1
        # without a handler never receives the kubelet's SIGTERM (pid_namespaces(7)), so uvicorn
        # would be killed at the end of the grace period, mid-request. Before that SIGTERM, the hook
        # waits for the endpoint removal to spread, then sends SIGTERM to every process but PID 1
        # (kill(2), pid -1): uvicorn stops accepting, finishes the requests it has and exits, and
        # `mlflow` with it. bash is in every image MLflow's server runs in (it starts uvicorn with
        # `bash -c`).
        "lifecycle": {"preStop": {"exec": {"command": ["bash", "-c", f"sleep {DRAIN_SECONDS}; kill -TERM -1"]}}},
        "resources": resources,
        "securityContext": {**RESTRICTED_CONTAINER},
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}],
    }
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod(MLFLOW_UID),
        # The drain, a request's longest time (after which the server answers 504), and ten seconds
        # for uvicorn and mlflow to exit: the kubelet kills what is left after it.
        "terminationGracePeriodSeconds": DRAIN_SECONDS + model.timeout_seconds + 10,
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
    """The HorizontalPodAutoscaler (autoscaling/v2) between the spec's bounds.

    On CPU utilisation of the requests, or on requests per second per replica: the custom metric
    the adapter serves for the service's login Service (an Object metric with an AverageValue
    target: the value divided by the model server's replicas). Scaling down waits five minutes of
    lower load (the API's default stabilisation), so a model that takes minutes to load is not
    dropped between bursts.
    """
    name = f"model-{service}"
    metric: dict[str, Any]
    if model.target.requests_per_second is not None:
        metric = {
            "type": "Object",
            "object": {
                "describedObject": {"apiVersion": "v1", "kind": "Service", "name": proxy_of(service, model).name},
                "metric": {"name": REQUESTS_METRIC},
                "target": {"type": "AverageValue", "averageValue": f"{model.target.requests_per_second:g}"},
            },
        }
    else:
        assert model.target.cpu_percent is not None, "the spec names one target"
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": model.target.cpu_percent},
            },
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": model.replicas.min,
            "maxReplicas": model.replicas.max,
            "metrics": [metric],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


# -- the custom metrics adapter ---------------------------------------------------------------------

#: prometheus-adapter (kubernetes-sigs/prometheus-adapter v0.12.0, deploy/manifests and
#: docs/walkthrough.md): it serves custom.metrics.k8s.io from PromQL, here the central Prometheus of
#: the cluster (components/addons/central.py), where every collector's series arrive with the
#: project's external labels. Its image runs as 65534 (Dockerfile `USER 65534`).
ADAPTER_IMAGE = "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0"
ADAPTER = "prometheus-adapter"
ADAPTER_NAMESPACE = "custom-metrics"
ADAPTER_LABELS = {"app.kubernetes.io/name": ADAPTER, "app.kubernetes.io/component": "metrics-adapter"}
ADAPTER_TLS = f"{ADAPTER}-tls"
ADAPTER_PORT = 6443
#: The metric the HPAs name: the login's request rate per Service (oauth2_proxy_requests_total,
#: pkg/middleware/metrics.go), over RATE_WINDOW.
REQUESTS_METRIC = "oauth2_proxy_requests_per_second"
#: The rate's window: ten of the collector's 30-second scrapes of the logins (observability.py
#: SCRAPE_INTERVAL_SECONDS), so a late sample (remote write to the central Prometheus) never leaves
#: it with fewer than two.
RATE_WINDOW = "5m"
ADAPTER_CA = f"{ADAPTER}-ca"


def scales_on_requests(spec: PlatformSpec) -> bool:
    """Whether a model service scales on requests per second (and the adapter is needed)."""
    services = spec.mlops.model_services.values() if spec.mlops is not None else ()
    return any(model.target.requests_per_second is not None for model in services)


def adapter_config(cluster_name: str) -> dict[str, Any]:
    """The adapter's discovery rule (docs/config.md): the logins' request counters of this cluster's `models`.

    The central Prometheus holds every cluster's series: the rule selects this cluster's by its
    external label, and maps `namespace` and `service` (the ServiceMonitor's target labels) to
    the Kubernetes objects the HPAs describe.
    """
    return {
        "rules": [
            {
                "seriesQuery": "oauth2_proxy_requests_total"
                f'{{cluster="{cluster_name}",namespace="{NAMESPACE}",service!=""}}',
                "resources": {
                    "overrides": {"namespace": {"resource": "namespace"}, "service": {"resource": "service"}}
                },
                "name": {"matches": "^oauth2_proxy_requests_total$", "as": REQUESTS_METRIC},
                # LabelMatchers hold the resources' labels only (docs/config.md): the cluster again here,
                # or every site's logins of the same names would add up.
                "metricsQuery": "sum by (<<.GroupBy>>) "
                f'(rate(<<.Series>>{{<<.LabelMatchers>>,cluster="{cluster_name}"}}[{RATE_WINDOW}]))',
            }
        ]
    }


def adapter_documents(cluster_name: str, prometheus_url: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The adapter's objects: account and RBAC, configuration, serving certificate, Deployment, Service, APIService.

    The APIService's CA comes from cert-manager's CA injector (`cert-manager.io/inject-ca-from`),
    from the adapter's own CA, which signs its serving certificate: the API server verifies the
    adapter (the upstream manifests skip that with insecureSkipTLSVerify).
    """
    from ..yamlout import dump
    from .mlflow import SCRATCH

    meta = {"namespace": ADAPTER_NAMESPACE, "labels": {**labels, **ADAPTER_LABELS}}
    account = {"kind": "ServiceAccount", "name": ADAPTER, "namespace": ADAPTER_NAMESPACE}
    rbac = "rbac.authorization.k8s.io/v1"

    def binding(
        kind: str, name: str, role_kind: str, role: str, subject: dict[str, str], **extra: str
    ) -> dict[str, Any]:
        metadata = {"name": name, "labels": dict(labels), **extra}
        return {
            "apiVersion": rbac,
            "kind": kind,
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject],
        }

    dns = f"{ADAPTER}.{ADAPTER_NAMESPACE}.svc"
    container = {
        "name": ADAPTER,
        "image": ADAPTER_IMAGE,
        "args": [
            "--tls-cert-file=/var/run/serving-cert/tls.crt",
            "--tls-private-key-file=/var/run/serving-cert/tls.key",
            "--config=/etc/adapter/config.yaml",
            "--metrics-relist-interval=1m",
            # At least the scrape interval, or the metric vanishes between samples (README, v0.12.0).
            f"--metrics-max-age={RATE_WINDOW}",
            f"--prometheus-url={prometheus_url}",
            f"--secure-port={ADAPTER_PORT}",
        ],
        "ports": [{"name": "https", "containerPort": ADAPTER_PORT}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 10},
        "livenessProbe": {
            "httpGet": {"path": "/livez", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 10,
            "failureThreshold": 5,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "180Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": dict(RESTRICTED_CONTAINER),
        "volumeMounts": [
            {"name": "tmp", "mountPath": SCRATCH},
            {"name": "serving-cert", "mountPath": "/var/run/serving-cert", "readOnly": True},
            {"name": "config", "mountPath": "/etc/adapter", "readOnly": True},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": ADAPTER, **meta},
            "automountServiceAccountToken": True,
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": f"meridian:{ADAPTER}", "labels": dict(labels)},
            # It maps series to the objects they describe (docs/config.md, resources).
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["nodes", "namespaces", "pods", "services"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        binding("ClusterRoleBinding", f"meridian:{ADAPTER}", "ClusterRole", f"meridian:{ADAPTER}", account),
        # An aggregated API server checks its callers with the API server (TokenReview, SubjectAccessReview).
        binding(
            "ClusterRoleBinding", f"meridian:{ADAPTER}:auth-delegator", "ClusterRole", "system:auth-delegator", account
        ),
        binding(
            "RoleBinding",
            f"meridian:{ADAPTER}:auth-reader",
            "Role",
            "extension-apiserver-authentication-reader",
            account,
            namespace="kube-system",
        ),
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": "meridian:custom-metrics-reader", "labels": dict(labels)},
            "rules": [{"apiGroups": ["custom.metrics.k8s.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
        },
        # The HPA controller reads the custom metrics.
        binding(
            "ClusterRoleBinding",
            "meridian:hpa-custom-metrics",
            "ClusterRole",
            "meridian:custom-metrics-reader",
            {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"},
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": ADAPTER, **meta},
            "data": {"config.yaml": dump(adapter_config(cluster_name))},
        },
        # A CA of its own (cert-manager docs, "CA" issuer bootstrapped from a self-signed one): the
        # APIService trusts the CA, which outlives the serving certificate's renewals.
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": f"{ADAPTER}-bootstrap", **meta},
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": ADAPTER_CA, **meta},
            "spec": {
                "isCA": True,
                "commonName": f"{ADAPTER} CA",
                "secretName": ADAPTER_CA,
                "duration": "87600h",
                "issuerRef": {"name": f"{ADAPTER}-bootstrap", "kind": "Issuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256},
            },
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": ADAPTER, **meta},
            "spec": {"ca": {"secretName": ADAPTER_CA}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": ADAPTER_TLS, **meta},
            "spec": {
                "secretName": ADAPTER_TLS,
                "dnsNames": [dns, f"{dns}.cluster.local"],
                "issuerRef": {"name": ADAPTER, "kind": "Issuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": ADAPTER, **meta},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": ADAPTER_LABELS},
                "template": {
                    "metadata": {"labels": {**labels, **ADAPTER_LABELS}},
                    "spec": {
                        "serviceAccountName": ADAPTER,
                        "securityContext": restricted_pod(65534),
                        "containers": [container],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {}},
                            {"name": "serving-cert", "secret": {"secretName": ADAPTER_TLS}},
                            {"name": "config", "configMap": {"name": ADAPTER}},
                        ],
                        "topologySpreadConstraints": [spread(ADAPTER_LABELS)],
                    },
                },
            },
        },
        service_document(ADAPTER, ADAPTER_NAMESPACE, ADAPTER_LABELS, [("https", 443)], labels),
        budget_document(ADAPTER, ADAPTER_NAMESPACE, ADAPTER_LABELS, labels),
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {
                "name": "v1beta2.custom.metrics.k8s.io",
                "labels": dict(labels),
                "annotations": {"cert-manager.io/inject-ca-from": f"{ADAPTER_NAMESPACE}/{ADAPTER_CA}"},
            },
            "spec": {
                "group": "custom.metrics.k8s.io",
                "version": "v1beta2",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"name": ADAPTER, "namespace": ADAPTER_NAMESPACE, "port": 443},
            },
        },
    ]


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
        adapter: list[pulumi.Resource] = []
        if scales_on_requests(spec):
            adapter = self._adapter(context)
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
            own(f"{prefix}-autoscaler", autoscaler_document(service, model, labels), server, *adapter)
            proxy = proxy_of(service, model)
            rules = [{"from": [from_namespace(NAMESPACE, proxy.pods)], "ports": [{"port": "http"}]}]
            own(f"{prefix}-policy", network_policy(f"model-{service}", NAMESPACE, pods, rules, labels), namespace)
            publish(prefix, context, self, spec.mlops.login, proxy, after=[namespace, server], what=f"model {service}")
        self.register_outputs(
            {
                "namespace": NAMESPACE,
                "custom_metrics": bool(adapter),
                "services": {key: m.hostname for key, m in spec.mlops.model_services.items()},
            }
        )

    def _adapter(self, context: AddonContext) -> list[pulumi.Resource]:
        """The custom metrics adapter, in its namespace, querying the central Prometheus of this cluster."""
        from .central import CENTRAL_SERVICE, PROMETHEUS_PORT
        from .observability import NAMESPACE as MONITORING

        namespace = addon_namespace(
            f"{context.cluster_name}-custom-metrics",
            ADAPTER_NAMESPACE,
            labels=context.labels,
            enforce="restricted",
            provider=context.provider,
            parent=self,
        )
        url = f"http://{CENTRAL_SERVICE}.{MONITORING}.svc:{PROMETHEUS_PORT}/"
        made: list[pulumi.Resource] = []
        # cert-manager's CRDs and CA injector come with the ingress add-on; the central Prometheus with
        # the central stack (the add-on `observability` on this cluster).
        after = [namespace, context.installed["ingress"], context.installed["observability"]]
        for document in adapter_documents(context.cluster_name, url, context.labels):
            name = document["metadata"]["name"].replace(":", "-").replace(".", "-")
            kind = document["kind"].lower()
            made.append(
                kubernetes_object(
                    f"{context.cluster_name}-{kind}-{name}",
                    document,
                    provider=context.provider,
                    parent=self,
                    # The APIService last: the API server calls the adapter as soon as it is registered.
                    depends_on=[*after, *made] if document["kind"] == "APIService" else after,
                )
            )
        return made
