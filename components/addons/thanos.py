"""Long-term metrics: the central Prometheus's blocks in object storage, read back through Thanos.

The central Prometheus keeps `retention.local_days` of metrics on its volume; its Thanos sidecar
(the Prometheus Operator's `spec.thanos`) uploads every block to the `metrics` object store
(objectstore.py), where the Thanos compactor keeps them for `retention.metrics_days`. Thanos
Query answers Grafana over both: the sidecar for recent data, the Store Gateway for the bucket.
Thanos v0.42.4, the image kube-prometheus-stack 88.5.3 pins for the sidecar
(`prometheusOperator.thanosImage`), so one version runs everywhere.

Out-of-order samples (a site's collector replaying its WAL after an outage) make Prometheus
write blocks that overlap in time with others; the sidecar uploads them (it skips only
compacted blocks: thanos pkg/shipper), and the compactor merges them only with vertical
compaction (`--compact.enable-vertical-compaction`; without it, it halts on the overlap:
pkg/compact/compact.go, thanos-io/thanos#7551). The operator itself keeps Prometheus from
compacting overlapping blocks when both are on (prometheus-operator statefulset.go).

Children of the central component (`thanos_objects`):

* `<c>-thanos-objstore`        core/v1 Secret `meridian-thanos-objstore`: the bucket's client configuration
                               (Swift: with the application credential's secret)
* `<c>-thanos`                 core/v1 ServiceAccount `thanos` (on eks: the bucket's IAM role)
* `<c>-thanos-store`           apps/v1 Deployment and core/v1 Service: the Store Gateway (gRPC 10901)
* `<c>-thanos-query`           apps/v1 Deployment and core/v1 Service: Thanos Query (HTTP 10902, Grafana's datasource)
* `<c>-thanos-compact`         apps/v1 StatefulSet (one replica: one compactor per bucket) with its work volume
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec.observability import ObservabilitySpec
from .base import container_resources
from .objectstore import ObjectStore

THANOS_VERSION = "v0.42.4"
THANOS_IMAGE = f"quay.io/thanos/thanos:{THANOS_VERSION}"
OBJSTORE_SECRET = "meridian-thanos-objstore"
OBJSTORE_KEY = "objstore.yml"
SERVICE_ACCOUNT = "thanos"
QUERY = "thanos-query"
STORE = "thanos-store"
COMPACT = "thanos-compact"
#: Thanos's default ports (cmd/thanos/config.go: --grpc-address :10901, --http-address :10902).
GRPC_PORT = 10901
HTTP_PORT = 10902
#: Where the operator's sidecar answers: the governing Service `prometheus-operated` gets a
#: `grpc` port when `spec.thanos` is set (prometheus-operator pkg/prometheus/server/operator.go).
SIDECAR_SRV = "dnssrv+_grpc._tcp.prometheus-operated.{namespace}.svc"
#: The label the operator puts on each replica's series; Query deduplicates on it.
REPLICA_LABEL = "prometheus_replica"
#: Work space of the compactor (it downloads the blocks it merges).
COMPACT_VOLUME_GB = 50


def objstore_config(store: ObjectStore, name: str, secret: str | None = None) -> dict[str, Any]:
    """The objstore client configuration (thanos-io/objstore client/factory.go: type, config, prefix).

    :param name: the bucket's or container's name (`store.name`, resolved).
    :param secret: Swift: the application credential's secret.

    S3 (providers/s3): the endpoint is required; without keys the client takes the pod's web
    identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, which EKS injects for an annotated service
    account). SWIFT (providers/swift): application credentials; the container must exist.
    """
    if store.kind == "s3":
        config: dict[str, Any] = {
            "bucket": name,
            "endpoint": f"s3.{store.region}.amazonaws.com",
            "region": store.region,
        }
        return {"type": "S3", "config": config}
    # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
    assert secret is not None, "a Swift store needs the application credential's secret"
    # pragma: no mutate end
    return {
        "type": "SWIFT",
        "config": {
            "auth_url": store.auth_url,
            "auth_version": 3,
            "application_credential_id": store.credential_id,
            "application_credential_secret": secret,
            "region_name": store.region,
            "container_name": name,
        },
    }


def sidecar_spec() -> dict[str, Any]:
    """The central Prometheus's `spec.thanos` (Prometheus Operator API: ThanosSpec)."""
    return {
        "version": THANOS_VERSION,
        "objectStorageConfig": {"name": OBJSTORE_SECRET, "key": OBJSTORE_KEY},
        "resources": container_resources("50m", "128Mi", "512Mi"),
    }


def _security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod(
    labels: Mapping[str, str], args: list[str], volumes: list[dict[str, Any]], resources: dict[str, Any]
) -> dict[str, Any]:
    """A Thanos pod: non-root, restricted, the objstore configuration mounted read-only."""
    return {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "fsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "thanos",
                    "image": THANOS_IMAGE,
                    "args": args,
                    "ports": [
                        {"name": "grpc", "containerPort": GRPC_PORT},
                        {"name": "http", "containerPort": HTTP_PORT},
                    ],
                    "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "http"}, "periodSeconds": 10},
                    "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "http"}, "periodSeconds": 30},
                    "resources": resources,
                    "securityContext": _security(),
                    "volumeMounts": [
                        {"name": "objstore", "mountPath": "/etc/thanos", "readOnly": True},
                        {"name": "data", "mountPath": "/data"},
                    ],
                }
            ],
            "volumes": [{"name": "objstore", "secret": {"secretName": OBJSTORE_SECRET}}, *volumes],
        },
    }


def _labels(component: str, labels: Mapping[str, str]) -> dict[str, str]:
    return {**labels, "app.kubernetes.io/name": "thanos", "app.kubernetes.io/component": component}


def _selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "thanos", "app.kubernetes.io/component": component}


def _deployment(
    name: str,
    component: str,
    namespace: str,
    labels: Mapping[str, str],
    args: list[str],
    volumes: list[dict[str, Any]],
    sizes: tuple[str, str, str],
) -> dict[str, Any]:
    """One stateless Thanos component (store or query) as a one-replica Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(component, labels)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(component)},
            "template": _pod(_labels(component, labels), args, volumes, container_resources(*sizes)),
        },
    }


def _service(name: str, component: str, namespace: str, labels: Mapping[str, str], port: str) -> dict[str, Any]:
    number = GRPC_PORT if port == "grpc" else HTTP_PORT
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(component, labels)},
        "spec": {"selector": _selector(component), "ports": [{"name": port, "port": number, "targetPort": port}]},
    }


def thanos_documents(
    observability: ObservabilitySpec, namespace: str, labels: Mapping[str, str], service_account: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The Thanos objects, by role (resource name suffix), as the API takes them (the objstore Secret aside).

    :param service_account: extra metadata of the ServiceAccount (the IAM role annotation on eks).
    """
    days = observability.retention.metrics_days
    objstore = f"--objstore.config-file=/etc/thanos/{OBJSTORE_KEY}"
    scratch = [{"name": "data", "emptyDir": {"sizeLimit": "10Gi"}}]
    store_args = ["store", "--data-dir=/data", objstore, "--log.format=logfmt"]
    query_args = [
        "query",
        f"--endpoint={SIDECAR_SRV.format(namespace=namespace)}",
        f"--endpoint=dns+{STORE}.{namespace}.svc:{GRPC_PORT}",
        f"--query.replica-label={REPLICA_LABEL}",
        "--log.format=logfmt",
    ]
    compact_args = [
        "compact",
        "--wait",
        "--data-dir=/data",
        objstore,
        # metrics_days at every resolution: the spec's retention, downsampled data included.
        f"--retention.resolution-raw={days}d",
        f"--retention.resolution-5m={days}d",
        f"--retention.resolution-1h={days}d",
        # Out-of-order blocks overlap others (module docstring).
        "--compact.enable-vertical-compaction",
        "--log.format=logfmt",
    ]
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": SERVICE_ACCOUNT,
            "namespace": namespace,
            "labels": _labels("storage", labels),
            **dict(service_account),
        },
    }
    store = _deployment(STORE, "store", namespace, labels, store_args, scratch, ("100m", "512Mi", "2Gi"))
    query_scratch = [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}]
    query = _deployment(QUERY, "query", namespace, labels, query_args, query_scratch, ("100m", "256Mi", "2Gi"))
    compact = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": COMPACT, "namespace": namespace, "labels": _labels("compact", labels)},
        "spec": {
            # One compactor per bucket (Thanos docs, compact: a singleton).
            "replicas": 1,
            "serviceName": COMPACT,
            "selector": {"matchLabels": _selector("compact")},
            "template": _pod(_labels("compact", labels), compact_args, [], container_resources("100m", "512Mi", "2Gi")),
            # Scratch space only (the bucket is the data): removed with the StatefulSet.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": f"{COMPACT_VOLUME_GB}Gi"}},
                    },
                }
            ],
        },
    }
    # Query answers every site's series, recent and archived, without credentials; Store serves the
    # archive to Query; the compactor only its metrics. Their clients are all in `namespace`
    # (Grafana, Query, the agent scraping them): nothing else reaches them (the central
    # Prometheus's policy, central.py, closes the other door to the same data).
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "thanos",
            "namespace": namespace,
            "labels": {**labels, "app.kubernetes.io/name": "thanos"},
        },
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "thanos"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]}],
        },
    }
    return {
        "thanos": account,
        "thanos-policy": policy,
        "thanos-store": store,
        "thanos-store-service": _service(STORE, "store", namespace, labels, "grpc"),
        "thanos-query": query,
        "thanos-query-service": _service(QUERY, "query", namespace, labels, "http"),
        "thanos-compact": compact,
    }
