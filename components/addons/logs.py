"""Logs: Grafana Alloy on every observed cluster, shipping pod logs to the project's central Loki.

The collector side (`alloy_release`, used by observability.py on every observed cluster) reads
every pod's log files on its node and pushes them with the labels the metrics carry (`project`,
`site`, `cluster`). The central side (`LokiStore`, used by central.py) runs Loki as a single
binary whose chunks and index live in object storage the program creates and protects: an S3
bucket (eks, the role Loki's service account assumes) or a Swift container (OpenStack sites, the
site's cluster application credential). Sources are named beside each setting: Loki 3.6 and its
chart 7.3.0, Alloy 1.18 and its chart 1.11.1.

Why Alloy: Promtail, Loki's former agent, reached its end of life in 2026; Alloy is its
successor and reads the same files (/var/log/pods) with the same labels. It runs in `node-agents`
(Pod Security privileged, exempt from the policy pack's host rules) because it reads the host's
/var/log, and keeps its read positions on the host so a restart resumes where it stopped.

What a central outage costs: Alloy keeps retrying a batch without limit (`max_backoff_retries =
0`, backoff up to 5 minutes), and while it waits it reads no further, so nothing is dropped as
long as the node still has the files: the kubelet keeps 5 files of 10 MiB per container by default
(containerLogMaxFiles, containerLogMaxSize); a pod writing faster than that over the outage loses
its oldest lines. Alloy's on-disk WAL for logs is experimental in 1.18 and not used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from ..spec.observability import ObservabilitySpec
from .base import ChartRelease, chart_release, container_resources
from .objectstore import ObjectStore
from .pushca import PUSH_CA_CONFIGMAP, PUSH_CA_DIR, PUSH_CA_FILE

LOKI_CHART = "loki"
ALLOY_CHART = "alloy"
#: Loki's Service for release `loki` without the gateway (chart templates/service.yaml: port 3100, http-metrics).
LOKI_SERVICE = "loki"
LOKI_PORT = 3100
#: Loki's push API (Loki docs, HTTP API: POST /loki/api/v1/push).
LOKI_PUSH_PATH = "/loki/api/v1/push"
#: Where Alloy keeps its read positions on the host (a restart resumes there).
ALLOY_HOST_STATE = "/var/lib/meridian-alloy"
#: Loki's service account for release `loki` (chart templates/_helpers.tpl `loki.serviceAccountName`).
LOKI_SERVICE_ACCOUNT = "loki"
#: The Secret with the object store's credential, read into Loki's environment (OpenStack).
LOKI_STORAGE_SECRET = "meridian-loki-storage"
#: The day Loki's first schema starts (tsdb, v13: Loki docs, "Storage schema"); fixed, never moved.
SCHEMA_FROM = "2026-01-01"


def in_cluster_push_url(namespace: str) -> str:
    """Loki's push URL inside the central cluster."""
    return f"http://{LOKI_SERVICE}.{namespace}.svc:{LOKI_PORT}{LOKI_PUSH_PATH}"


def _literal(value: str) -> str:
    """An Alloy string literal (its syntax takes JSON's escapes)."""
    return json.dumps(value)


def alloy_config(labels: Mapping[str, str], push_url: str, *, authenticated: bool) -> str:
    """Alloy's configuration: every pod's log files on this node, labelled like the metrics, pushed to Loki.

    Components and arguments: Alloy 1.18 reference (discovery.kubernetes with a field selector on
    the node, discovery.relabel, local.file_match, loki.source.file, loki.process with stage.cri,
    loki.write with basic_auth, tls_config and external_labels).
    """
    external = "\n".join(f"    {key} = {_literal(value)}," for key, value in labels.items())
    # Through the push endpoint: basic auth, and the project CA as the only CA trusted for it (pushca.py),
    # read from a file: a mounted ConfigMap follows a rotation, an environment variable would not.
    auth = (
        '\n    basic_auth {\n      username = sys.env("PUSH_USER")\n      password = sys.env("PUSH_PASSWORD")\n    }'
        f"\n    tls_config {{\n      ca_file = {_literal(PUSH_CA_FILE)}\n    }}"
        if authenticated
        else ""
    )
    relabels = "".join(
        f"""
  rule {{
    source_labels = [{_literal(source)}]
    target_label  = {_literal(target)}
  }}"""
        for source, target in (
            ("__meta_kubernetes_namespace", "namespace"),
            ("__meta_kubernetes_pod_name", "pod"),
            ("__meta_kubernetes_pod_container_name", "container"),
            ("__meta_kubernetes_pod_node_name", "node"),
        )
    )
    return f"""discovery.kubernetes "pods" {{
  role = "pod"
  selectors {{
    role  = "pod"
    field = "spec.nodeName=" + sys.env("NODE_NAME")
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets{relabels}
  rule {{
    source_labels = ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]
    separator     = "/"
    target_label  = "__path__"
    replacement   = "/var/log/pods/*$1/*.log"
  }}
}}

local.file_match "pods" {{
  path_targets = discovery.relabel.pods.output
}}

loki.source.file "pods" {{
  targets    = local.file_match.pods.targets
  forward_to = [loki.process.pods.receiver]
}}

loki.process "pods" {{
  stage.cri {{}}
  forward_to = [loki.write.central.receiver]
}}

loki.write "central" {{
  endpoint {{
    url                 = {_literal(push_url)}
    max_backoff_period  = "5m"
    max_backoff_retries = 0{auth}
  }}
  external_labels = {{
{external}
  }}
}}
"""


def alloy_values(labels: Mapping[str, str], push_url: str, push_secret: str | None) -> dict[str, Any]:
    """Alloy chart values (alloy 1.11.1 values.yaml): a DaemonSet reading /var/log read-only from the host.

    :param push_secret: the Secret (keys `username`, `password`) to authenticate with; None in-cluster.
        With it, the project CA's ConfigMap (pushca.py) is mounted too.
    """
    env: list[dict[str, Any]] = [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    if push_secret is not None:
        env += [
            {"name": "PUSH_USER", "valueFrom": {"secretKeyRef": {"name": push_secret, "key": "username"}}},
            {"name": "PUSH_PASSWORD", "valueFrom": {"secretKeyRef": {"name": push_secret, "key": "password"}}},
        ]
    authenticated = push_secret is not None
    mounts: list[dict[str, Any]] = [{"name": "state", "mountPath": "/var/lib/alloy"}]
    state = {"path": ALLOY_HOST_STATE, "type": "DirectoryOrCreate"}
    volumes: list[dict[str, Any]] = [{"name": "state", "hostPath": state}]
    if authenticated:
        # The project CA's ConfigMap as a directory (no subPath: the kubelet updates it in place).
        mounts.append({"name": "push-ca", "mountPath": PUSH_CA_DIR, "readOnly": True})
        volumes.append({"name": "push-ca", "configMap": {"name": PUSH_CA_CONFIGMAP}})
    return {
        "alloy": {
            "configMap": {"create": True, "content": alloy_config(labels, push_url, authenticated=authenticated)},
            "mounts": {"varlog": True, "extra": mounts},
            "storagePath": "/var/lib/alloy/data",
            "extraEnv": env,
            "resources": container_resources("50m", "128Mi", "512Mi"),
            # Usage reports go to Grafana Labs by default; the logs path sends nothing else out.
            "enableReporting": False,
        },
        "configReloader": {"resources": container_resources("10m", "32Mi", "64Mi")},
        "controller": {
            "type": "daemonset",
            # Every node's logs, GPU pools (tainted) included.
            "tolerations": [{"operator": "Exists"}],
            "volumes": {"extra": volumes},
        },
        # Discovery of the node's pods only: no Secrets, ConfigMaps or cluster-wide reads beyond pods.
        "rbac": {
            "create": True,
            "rules": [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}],
            "clusterRules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}],
        },
    }


def alloy_release(
    cluster_name: str, namespace: str, labels: Mapping[str, str], push_url: str, push_secret: str | None
) -> ChartRelease:
    """The log collector's release record (`alloy_values`)."""
    return chart_release(
        f"{cluster_name}-alloy", ALLOY_CHART, namespace=namespace, values=alloy_values(labels, push_url, push_secret)
    )


def loki_values(
    observability: ObservabilitySpec, storage: Mapping[str, Any], service_account: Mapping[str, Any]
) -> dict[str, Any]:
    """Loki chart values (loki 7.3.0 values.yaml): one binary, object storage, retention from the spec.

    :param storage: `loki.storage` and, for Swift, `loki.structuredConfig` settings (`loki_storage`).
    :param service_account: the chart's `serviceAccount` settings (annotations for IRSA on eks).
    """
    retention_hours = observability.retention.logs_days * 24
    store = storage["store"]
    loki: dict[str, Any] = {
        # One tenant: every site is the project's, and the central endpoints authenticate collectors.
        "auth_enabled": False,
        "commonConfig": {"replication_factor": 1},
        "schemaConfig": {
            "configs": [
                {
                    "from": SCHEMA_FROM,
                    "store": "tsdb",
                    "object_store": store,
                    "schema": "v13",
                    "index": {"prefix": "loki_index_", "period": "24h"},
                }
            ]
        },
        "storage": storage["storage"],
        # The compactor deletes what is past retention (Loki docs, "Log retention").
        "compactor": {"retention_enabled": True, "delete_request_store": store},
        "limits_config": {
            "retention_period": f"{retention_hours}h",
            # Collectors replay their backlog after an outage: accept lines as old as their buffer
            # (the chart's default, a week, when that is longer).
            "reject_old_samples": True,
            "reject_old_samples_max_age": f"{max(observability.buffer_minutes, 7 * 24 * 60)}m",
        },
    }
    if "structuredConfig" in storage:
        loki["structuredConfig"] = storage["structuredConfig"]
    single: dict[str, Any] = {
        "replicas": 1,
        "resources": container_resources("200m", "1Gi", "4Gi"),
        "persistence": {"enabled": True, "size": "20Gi"},
    }
    if storage.get("env_secret"):
        single["extraArgs"] = ["-config.expand-env=true"]
        single["extraEnvFrom"] = [{"secretRef": {"name": LOKI_STORAGE_SECRET}}]
    return {
        "deploymentMode": "SingleBinary",
        "loki": loki,
        "singleBinary": single,
        "serviceAccount": dict(service_account),
        # The simple-scalable targets are the chart's default; one binary runs them all here.
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        # Not needed by one binary behind Traefik: the nginx gateway, the canary, the Helm test, the memcached
        # caches; the ruler (alerts run in Prometheus).
        "gateway": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "ruler": {"enabled": False},
        "sidecar": {"rules": {"enabled": False}},
    }


def loki_storage(store: ObjectStore) -> dict[str, Any]:
    """Loki's storage settings for the `logs` object store (objectstore.py)."""
    if store.kind == "s3":
        return s3_storage(store.name, store.region)
    # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
    assert store.auth_url is not None and store.credential_id is not None, "a Swift store has its credential"
    # pragma: no mutate end
    return swift_storage(store.name, store.auth_url, store.region, store.credential_id)


def s3_storage(bucket: pulumi.Input[str], region: str) -> dict[str, Any]:
    """Loki's S3 storage with the AWS SDK's default credentials: the web identity of its service account."""
    return {"store": "s3", "storage": {"type": "s3", "bucketNames": {"chunks": bucket}, "s3": {"region": region}}}


def swift_storage(container: pulumi.Input[str], auth_url: str, region: str, credential_id: str) -> dict[str, Any]:
    """Loki's Swift storage with an application credential: Loki's Thanos object-store client.

    Loki 3.6's own `swift` block has no application-credential fields; the Thanos client's
    (pkg/storage/bucket/swift/config.go) has `application_credential_id` and `_secret`, used with
    `use_thanos_objstore` (pkg/storage/factory.go). The chart writes Thanos blocks for s3, gcs and
    azure only, so the Swift block goes in `structuredConfig`; the secret comes from the
    environment (`-config.expand-env`).
    """
    return {
        "store": "swift",
        "env_secret": True,
        "storage": {
            "type": "swift",
            "bucketNames": {"chunks": container},
            "use_thanos_objstore": True,
            "object_store": {"type": "swift"},
        },
        "structuredConfig": {
            "common": {
                "storage": {
                    "object_store": {
                        "swift": {
                            "auth_version": 3,
                            "auth_url": auth_url,
                            "application_credential_id": credential_id,
                            "application_credential_secret": "${SWIFT_APPLICATION_CREDENTIAL_SECRET}",
                            "region_name": region,
                            "container_name": container,
                        }
                    }
                }
            }
        },
    }
