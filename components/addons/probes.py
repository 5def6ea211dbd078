"""Probes of every public hostname the platform exposes, from the central cluster (blackbox exporter).

The central cluster runs the Prometheus blackbox exporter (chart prometheus-blackbox-exporter)
and one Probe object (monitoring.coreos.com/v1, the Prometheus Operator's Probe) per public
hostname of the project: every cluster's JupyterHub, Grafana and the two push endpoints. The
central cluster's collector scrapes them (its selector takes every Probe), so `probe_success`
and `probe_ssl_earliest_cert_expiry` reach the central store and the EndpointDown,
EndpointCertificateExpiring and JupyterHubDown alerts (alerts.py) have something to read.

Probes go out from the central cluster to the public addresses, as a scientist's browser or a
site's collector would; their series carry the central cluster's labels (where they were probed
from) and `target_kind`, `target_cluster` (what was probed). One limit: an AWS Network Load
Balancer with client addresses preserved drops a connection from one of its own targets to
itself, so on an eks central cluster a probe of its own endpoints from a pod on an ingress
target node can fail while the endpoint is up (AWS NLB docs, "Client IP preservation":
hairpinning); the alerts wait five minutes, and the probes of other clusters are unaffected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec import PlatformSpec
from .alerts import JUPYTERHUB_TARGET_KIND, TARGET_KIND_LABEL
from .base import ChartRelease, chart_release, container_resources
from .pushca import PUSH_CA_CONFIGMAP, PUSH_CA_DIR, PUSH_CA_FILE

BLACKBOX_CHART = "prometheus-blackbox-exporter"
#: The exporter's Service for release `prometheus-blackbox-exporter` (chart templates/service.yaml:
#: the fullname, port 9115).
BLACKBOX_SERVICE = "prometheus-blackbox-exporter"
BLACKBOX_PORT = 9115
#: Modules (blackbox_exporter CONFIGURATION.md: http prober): a page that answers 2xx over TLS, and
#: a push endpoint that answers 401 to a request without credentials (Traefik's basic auth), with a
#: certificate of the project CA (http.tls_config.ca_file).
MODULES: dict[str, Any] = {
    "https_2xx": {
        "prober": "http",
        "timeout": "10s",
        "http": {
            "valid_http_versions": ["HTTP/1.1", "HTTP/2.0"],
            "preferred_ip_protocol": "ip4",
            "fail_if_not_ssl": True,
            "follow_redirects": True,
        },
    },
    "https_auth_required": {
        "prober": "http",
        "timeout": "10s",
        "http": {
            "valid_status_codes": [401],
            "preferred_ip_protocol": "ip4",
            "fail_if_not_ssl": True,
            "follow_redirects": False,
            # The project CA's certificate (pushca.py), mounted from its ConfigMap.
            "tls_config": {"ca_file": PUSH_CA_FILE},
        },
    },
}
#: How often each endpoint is probed.
PROBE_INTERVAL = "60s"


def probe_targets(spec: PlatformSpec) -> list[dict[str, str]]:
    """Every public hostname of the project: (name, URL, module, kind, cluster), hubs first, in spec order.

    Paths are each service's health endpoint: JupyterHub's /hub/health (JupyterHub REST API, no
    authentication) and Grafana's /api/health; the push endpoints are probed on their own path.
    """
    targets: list[dict[str, str]] = []
    for name, cluster in spec.clusters.items():
        hub = cluster.addons.hub
        if hub is not None:
            scheme = "https" if hub.tls else "http"
            targets.append(
                {
                    "name": f"hub-{name}",
                    "url": f"{scheme}://{hub.hostname}/hub/health",
                    "module": "https_2xx" if hub.tls else "http_2xx",
                    "kind": JUPYTERHUB_TARGET_KIND,
                    "cluster": name,
                }
            )
    observability = spec.observability
    if observability is not None:
        from .logs import LOKI_PUSH_PATH
        from .observability import REMOTE_WRITE_PATH

        central = observability.central
        for name, url, module, kind in (
            ("grafana", f"https://{central.grafana_hostname}/api/health", "https_2xx", "grafana"),
            ("remote-write", f"https://{central.metrics_hostname}{REMOTE_WRITE_PATH}", "https_auth_required", "push"),
            ("logs-push", f"https://{central.logs_hostname}{LOKI_PUSH_PATH}", "https_auth_required", "push"),
        ):
            targets.append({"name": name, "url": url, "module": module, "kind": kind, "cluster": central.cluster})
    return targets


def blackbox_values() -> dict[str, Any]:
    """Chart values (prometheus-blackbox-exporter 11.17.2 values.yaml): the modules, sized, plain HTTP too."""
    modules = dict(MODULES)
    # A hub published without TLS (tls: false in the spec) is probed over plain HTTP.
    modules["http_2xx"] = {
        "prober": "http",
        "timeout": "10s",
        "http": {"valid_http_versions": ["HTTP/1.1", "HTTP/2.0"], "preferred_ip_protocol": "ip4"},
    }
    return {
        "config": {"modules": modules},
        # The project CA's ConfigMap, made by the central stack before the release (central.py).
        "extraConfigmapMounts": [
            {
                "name": "push-ca",
                "mountPath": PUSH_CA_DIR,
                "configMap": PUSH_CA_CONFIGMAP,
                "readOnly": True,
                "defaultMode": 0o444,
            }
        ],
        "resources": container_resources("20m", "32Mi", "128Mi"),
    }


def blackbox_release(cluster_name: str, namespace: str) -> ChartRelease:
    """The exporter's release record."""
    return chart_release(
        f"{cluster_name}-blackbox-exporter", BLACKBOX_CHART, namespace=namespace, values=blackbox_values()
    )


def probe(target: Mapping[str, str], namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """One Probe object (Prometheus Operator API: ProbeSpec prober, module, targets.staticConfig)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Probe",
        "metadata": {"name": f"meridian-{target['name']}", "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "prober": {"url": f"{BLACKBOX_SERVICE}.{namespace}.svc:{BLACKBOX_PORT}"},
            "module": target["module"],
            "interval": PROBE_INTERVAL,
            "targets": {
                "staticConfig": {
                    "static": [target["url"]],
                    "labels": {TARGET_KIND_LABEL: target["kind"], "target_cluster": target["cluster"]},
                }
            },
        },
    }
