"""MLflow: the project's tracking server and model registry, its PostgreSQL and its object store.

Two add-ons on the cluster the spec's `mlops.cluster` names:

* `cloudnative_pg` — the CloudNativePG operator (chart `cloudnative-pg`, locked), which runs
  MLflow's PostgreSQL: `<c>-cloudnative-pg` Namespace `cnpg-system` and the release.
* `mlflow` — the program's own objects (no chart: the mirror's community chart depends on a
  PostgreSQL chart no copy of which could be had, and runs an image other than MLflow's own),
  children of `<c>-mlflow` (`meridian:addons:Mlflow`):

  * `<c>-mlflow`                 Namespace `mlflow` (Pod Security restricted), kept when MLflow leaves
                                 the stack (retain_on_delete): the database's volumes live in it
  * `<c>-mlflow` (bucket)         the artifact store: `<project>-<c>-mlflow`, an S3 bucket with an IAM
                                 role for the service accounts (AWS, IRSA) or a Swift container reached
                                 over the site's S3 endpoint (OpenStack); protected (objectstore.py)
  * `<c>-mlflow-object-store`    Secret (or ExternalSecret) `mlflow-object-store`: the site's S3 keys (OpenStack)
  * `<c>-mlflow-db`              CloudNativePG Cluster `mlflow-db`: the backend store, WAL archived and
                                 base backups kept in the bucket under `postgres/`; protected
  * `<c>-mlflow-db-backup`       ScheduledBackup `mlflow-db-daily` at the spec's schedule
  * `<c>-mlflow-account`         ServiceAccount `mlflow` (with the IAM role on AWS)
  * `<c>-mlflow-db-upgrade`      Job: `mlflow db upgrade` before any server runs (creates the schema on
                                 an empty database, migrates an older one: MLflow's server refuses to
                                 start on an out-of-date schema, mlflow/store/db/utils.py `_verify_schema`)
  * `<c>-mlflow-server`, `<c>-mlflow-service`, `<c>-mlflow-server-budget`
                                 Deployment, Service `mlflow` (port 5000, for in-cluster clients) and
                                 PodDisruptionBudget of the tracking server
  * `<c>-mlflow-oidc`, `<c>-mlflow-cookie-secret`, `<c>-mlflow-cookie`
                                 the login's OAuth client secret (Secret or ExternalSecret
                                 `mlflow-login-oidc`), its generated cookie key and Secret `mlflow-login-cookie`
  * `<c>-mlflow-login`, `<c>-mlflow-login-service`, `<c>-mlflow-login-budget`
                                 oauth2-proxy in front of the server: Deployment, Service `mlflow-login`, PDB
  * `<c>-mlflow-ingress`         Ingress of the hostname to the login, TLS from the ACME issuer
  * `<c>-mlflow-server-policy`, `<c>-mlflow-login-policy`
                                 NetworkPolicies: the server admits the login, the collector and the
                                 in-cluster clients (the hub's notebooks); the login admits Traefik and the collector
  * `<c>-mlflow-monitor`, `<c>-mlflow-login-monitor`, `<c>-mlflow-db-monitor`
                                 on observed clusters: ServiceMonitors of the server and the login, a
                                 PodMonitor of the database's exporter
  * `<c>-mlflow-dns`             the hostname's A record at the ingress load balancer (dns.py)

The login. MLflow's own authentication (`--app-name basic-auth`) keeps its own users and
passwords; the project logs in with its OpenID Connect provider instead, through oauth2-proxy in
front of the server: browsers get the provider's login, API clients (the `mlflow` client, CI)
send an ID token the provider issued to the same client as a bearer token
(`MLFLOW_TRACKING_TOKEN`, mlflow/utils/rest_utils.py; oauth2-proxy `--skip-jwt-bearer-tokens`
verifies it against the issuer's keys and audience). Only members of `allowed_groups` pass.
Inside the cluster, the server's Service is for the clients its NetworkPolicy admits.

Database. CloudNativePG 1.30's in-tree Barman Cloud backup (`spec.backup.barmanObjectStore`) is
deprecated in favour of the Barman Cloud plugin (docs/src/backup.md) and removed in 1.31
(release_notes/v1.30.md); the plugin's CRDs and chart are not in the mirror, so the in-tree
backup is used and the operator stays pinned to chart 0.29.0 (components/charts.lock.yaml) until
the move to the plugin, whose object stores read backups the in-tree one wrote. Only the
`-system-` PostgreSQL images carry barman-cloud (cloudnative-pg/postgres-containers README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from ..spec import ClusterSpec, PlatformSpec
from ..spec.mlops import DatabaseSpec, MlopsSpec
from .base import AddonContext, ChartRelease, chart_release, container_resources, deliver, kubernetes_object
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
from .objectstore import ObjectStore, bucket_name, object_store

CNPG_CHART = "cloudnative-pg"
OPERATOR_NAMESPACE = "cnpg-system"
NAMESPACE = "mlflow"
#: The official images, pinned. MLflow's `-full` variant carries the PostgreSQL drivers, boto3 and
#: prometheus-flask-exporter the plain one lacks (mlflow docker/Dockerfile.full, docker/README.md:
#: `-full` tags from v3.9.0). oauth2-proxy v7.15.3 (CHANGELOG; v7.15.2 fixed authentication
#: bypasses). PostgreSQL 18, the major CloudNativePG 1.30 defaults to (pkg/versions/versions.go), in
#: the `system` flavour, the one with barman-cloud for backups.
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.17.0-full"
POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"
#: The tracking server's port (`mlflow server --port`, default 5000) and the login's: oauth2-proxy
#: listens on 4180 (`--http-address`, whose default binds 127.0.0.1 only) and serves /metrics on
#: a port of its own (`--metrics-address`, off by default).
PORT = 5000
#: The CloudNativePG Cluster, and what the operator derives from its name (pkg/specs/secrets.go,
#: services.go, pods.go): the app user's Secret `<name>-app` (key `uri`), the read-write Service
#: `<name>-rw` on 5432, the exporter's pod port `metrics` (9187), the pods' label `cnpg.io/cluster`,
#: and the instances' service account, named as the cluster.
DATABASE = "mlflow-db"
DATABASE_NAME = "mlflow"
APP_SECRET = f"{DATABASE}-app"
SERVICE_ACCOUNT = "mlflow"
OBJECT_SECRET = "mlflow-object-store"
#: Where the bucket's objects go: the runs' artifacts and the database's backups.
ARTIFACTS_PREFIX = "artifacts"
BACKUPS_PREFIX = "postgres"
#: A non-root user for MLflow's image, which declares none (python:3.11-slim, docker/Dockerfile.full),
#: and the one oauth2-proxy's distroless image runs as (CHANGELOG, #1478: 65532).
MLFLOW_UID = 10001
#: boto3 1.36+ sends checksums that S3-compatible stores other than AWS refuse (cloudnative-pg#7715,
#: barman#1112); CloudNativePG 1.30's documented fix (docs/src/appendixes/object_stores.md) is to
#: compute them only where an operation requires them. MLflow's boto3 gets the same.
S3_COMPAT_ENV = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}
#: The IRSA annotation of a service account (amazon-eks-pod-identity-webhook).
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
#: pulumi-kubernetes waits for a custom resource's condition only when told (CHANGELOG 4.18.0).
WAIT_READY = {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "1800"}
#: MLflow's server answers 403 to a Host header it does not allow (mlflow/server/fastapi_security.py);
#: a list replaces its default of localhost and the private ranges, which in-cluster clients and the
#: collector (scraping pod addresses) need, so the private ranges are listed again
#: (mlflow/server/security_utils.py `get_private_ip_patterns`).
PRIVATE_HOST_PATTERNS = ("10.*", "192.168.*", *(f"172.{octet}.*" for octet in range(16, 32)))
#: Loopback names, also in MLflow's default list (`get_localhost_addresses`): the server's own
#: helpers call it at http://<host>:<port> (mlflow/server/__init__.py, the job runner's URI).
LOOPBACK_HOSTS = ("localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "0.0.0.0", "0.0.0.0:*")  # noqa: S104 - Host names
#: What the server is told besides its flags (mlflow/environment_variables.py, utils/crypto.py):
#: * no telemetry to mlflow-telemetry.io from a research platform's servers;
#: * no background job runner: it keeps its queue per pod (huey in /dev/shm) and would run the
#:   periodic GenAI tasks once per replica (MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS: "enable this on
#:   only one instance"); evaluations run from clients and workflows instead;
#: * USER for a uid with no passwd entry (getpass.getuser, tracking/context/default_context.py).
SERVER_SETTINGS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "USER": "mlflow",
}
#: The Secret with the key that wraps the secrets MLflow stores in its database (gateway API keys):
#: unset, MLflow uses a published default passphrase (utils/crypto.py DEFAULT_KEK_PASSPHRASE).
SERVER_SECRET = "mlflow-server"
KEK_ENV = {
    "name": "MLFLOW_CRYPTO_KEK_PASSPHRASE",
    "valueFrom": {"secretKeyRef": {"name": SERVER_SECRET, "key": "kek-passphrase"}},
}
#: Uploads are spooled to the temporary directory before they go to S3 (S3 has no streaming
#: upload in mlflow/server/handlers.py): room for large model files.
SPOOL_LIMIT = "20Gi"
SERVER_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}
LOGIN_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "login"}
UPGRADE_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "db-upgrade"}


def applies(spec: PlatformSpec, cluster_name: str) -> bool:
    """Whether MLflow (and its database operator) run on `cluster_name`."""
    return spec.mlops is not None and spec.mlops.cluster == cluster_name


def service_url() -> str:
    """The tracking server's in-cluster URL (Service `mlflow`)."""
    return f"http://mlflow.{NAMESPACE}.svc.cluster.local:{PORT}"


def allowed_hosts(hostname: str) -> list[str]:
    """The Host headers the server answers: its public name, its Service's names, and the private ranges."""
    service = [
        f"mlflow.{NAMESPACE}.svc.cluster.local:{PORT}",
        f"mlflow.{NAMESPACE}.svc:{PORT}",
        f"mlflow.{NAMESPACE}:{PORT}",
    ]
    return [hostname, *service, *LOOPBACK_HOSTS, *PRIVATE_HOST_PATTERNS]


@dataclass(frozen=True)
class NotebookAccess:
    """How the hub's notebooks on a cluster reach MLflow."""

    #: MLFLOW_TRACKING_URI: the Service on MLflow's own cluster, the public hostname elsewhere (with
    #: the user's token in MLFLOW_TRACKING_TOKEN, which the login verifies).
    url: str
    #: NetworkPolicy egress rules the notebooks need for it: the chart's singleuser policy admits
    #: public addresses only (z2jh 4.4.0 values.yaml `egressAllowRules.privateIPs: false`).
    egress: list[dict[str, Any]]


def client_env(url: str) -> dict[str, str]:
    """The environment of MLflow's clients the platform runs (notebooks, workflow steps): where, and no telemetry."""
    return {"MLFLOW_TRACKING_URI": url, "MLFLOW_DISABLE_TELEMETRY": "true"}


def notebook_access(spec: PlatformSpec | None, cluster_name: str) -> NotebookAccess | None:
    """MLflow as the notebooks of `cluster_name` reach it; None when the project runs no MLflow."""
    if spec is None or spec.mlops is None:
        return None
    if not applies(spec, cluster_name):
        return NotebookAccess(url=f"https://{spec.mlops.mlflow.hostname}", egress=[])
    rule = {
        "to": [{**from_namespace(NAMESPACE), "podSelector": {"matchLabels": dict(SERVER_LABELS)}}],
        "ports": [{"port": PORT, "protocol": "TCP"}],
    }
    return NotebookAccess(url=service_url(), egress=[rule])


# -- the operator ------------------------------------------------------------------------------------


def operator_values(observed: bool, labels: Mapping[str, str]) -> dict[str, Any]:
    """The cloudnative-pg chart values: its CRDs, a PodMonitor of the operator where observed, bounded resources.

    The chart's pod and container security contexts already meet Pod Security restricted
    (chart values.yaml: non-root 10001, RuntimeDefault seccomp, read-only root, no capabilities).
    """
    from .gpu_operator import SCRAPE_LABEL

    return {
        "crds": {"create": True},
        "monitoring": {
            "podMonitorEnabled": observed,
            # Read only with the PodMonitor enabled.
            "podMonitorAdditionalLabels": {**labels, **SCRAPE_LABEL},
        },
        "resources": container_resources("100m", "200Mi", "512Mi"),
    }


def operator_release(cluster_name: str, cluster: ClusterSpec, labels: Mapping[str, str]) -> ChartRelease:
    """The operator's release record: after the collector where observed (its PodMonitor CRD)."""
    observed = cluster.addons.observed
    return chart_release(
        f"{cluster_name}-cloudnative-pg",
        CNPG_CHART,
        namespace=OPERATOR_NAMESPACE,
        values=operator_values(observed, labels),
        waits_for=("observability",) if observed else (),
    )


class CloudNativePg(pulumi.ComponentResource):
    """The CloudNativePG operator on the MLOps cluster."""

    release: ChartRelease

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meridian:addons:CloudNativePg", name, None, opts)
        self.release = operator_release(context.cluster_name, context.cluster, context.labels)
        namespace = addon_namespace(
            name,
            OPERATOR_NAMESPACE,
            labels=context.labels,
            enforce="restricted",
            provider=context.provider,
            parent=self,
        )
        deliver(
            self.release,
            provider=context.provider,
            parent=self,
            depends_on=context.waits(self.release),
            namespace=namespace.metadata.name,
        )
        self.register_outputs({"namespace": OPERATOR_NAMESPACE, "chart_version": self.release.chart.version})


# -- the database ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreAccess:
    """How MLflow and the database reach the bucket."""

    #: The bucket's name.
    bucket: str
    #: AWS: the IAM role the service accounts assume; None on OpenStack (keys in OBJECT_SECRET).
    role_arn: pulumi.Input[str] | None
    #: OpenStack: the site's S3 endpoint; None on AWS.
    endpoint: str | None
    region: str


def database_document(database: DatabaseSpec, access: StoreAccess, labels: Mapping[str, str]) -> dict[str, Any]:
    """The CloudNativePG Cluster of MLflow's backend store (postgresql.cnpg.io/v1, CRD in the operator chart).

    WAL is archived continuously and base backups are taken by the ScheduledBackup; both go to
    `s3://<bucket>/postgres/` and are kept `retention_days` (spec.backup.retentionPolicy, `^[1-9][0-9]*[dwm]$`).
    """
    s3: dict[str, Any]
    if access.role_arn is not None:
        s3 = {"inheritFromIAMRole": True}
    else:
        s3 = {
            "accessKeyId": {"name": OBJECT_SECRET, "key": "AWS_ACCESS_KEY_ID"},
            "secretAccessKey": {"name": OBJECT_SECRET, "key": "AWS_SECRET_ACCESS_KEY"},
        }
    store: dict[str, Any] = {
        "destinationPath": f"s3://{access.bucket}/{BACKUPS_PREFIX}",
        "s3Credentials": s3,
        "wal": {"compression": "gzip"},
        "data": {"compression": "gzip"},
    }
    env = [{"name": "AWS_DEFAULT_REGION", "value": access.region}]
    if access.endpoint is not None:
        store["endpointURL"] = access.endpoint
        env += [{"name": key, "value": value} for key, value in S3_COMPAT_ENV.items()]
    spec: dict[str, Any] = {
        "instances": database.instances,
        "imageName": POSTGRES_IMAGE,
        # A switchover, not a restart of the primary, when the operator updates the instances.
        "primaryUpdateMethod": "switchover",
        "storage": {"size": f"{database.storage.size_gb}Gi"},
        "bootstrap": {"initdb": {"database": DATABASE_NAME, "owner": DATABASE_NAME}},
        "enableSuperuserAccess": False,
        "resources": container_resources("250m", "512Mi", "2Gi"),
        "env": env,
        "backup": {"barmanObjectStore": store, "retentionPolicy": f"{database.retention_days}d"},
    }
    if database.storage.storage_class is not None:
        spec["storage"]["storageClass"] = database.storage.storage_class
    if access.role_arn is not None:
        spec["serviceAccountTemplate"] = {"metadata": {"annotations": {ROLE_ANNOTATION: access.role_arn}}}
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": DATABASE, "namespace": NAMESPACE, "labels": dict(labels), "annotations": dict(WAIT_READY)},
        "spec": spec,
    }


def backup_document(database: DatabaseSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """The ScheduledBackup of the database: one at once (`immediate`), then at the spec's schedule."""
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": {"name": f"{DATABASE}-daily", "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "schedule": database.backup_schedule,
            "cluster": {"name": DATABASE},
            "method": "barmanObjectStore",
            "immediate": True,
            # The Backup objects belong to the schedule: removing it removes their records, never the data.
            "backupOwnerReference": "self",
        },
    }


# -- the tracking server -----------------------------------------------------------------------------


def store_env(access: StoreAccess) -> list[dict[str, Any]]:
    """The environment MLflow's boto3 reaches the bucket with: the role (IRSA injects it) or the site's keys."""
    env: list[dict[str, Any]] = [{"name": "AWS_DEFAULT_REGION", "value": access.region}]
    if access.endpoint is not None:
        env.append({"name": "MLFLOW_S3_ENDPOINT_URL", "value": access.endpoint})
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": OBJECT_SECRET, "key": key}}})
        env += [{"name": key, "value": value} for key, value in S3_COMPAT_ENV.items()]
    return env


DATABASE_ENV = {
    "name": "MLFLOW_BACKEND_STORE_URI",
    "valueFrom": {"secretKeyRef": {"name": APP_SECRET, "key": "uri"}},
}
#: MLflow and its Python write only here (HOME, the metrics' multiprocess files, a lock file of the
#: schema check): the root file system stays read-only.
SCRATCH = "/tmp"  # noqa: S108 - the pod's own emptyDir volume, shared with nothing else
TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
TMP_MOUNT = {"name": "tmp", "mountPath": SCRATCH}


def _settings_env() -> list[dict[str, str]]:
    """SERVER_SETTINGS, HOME and the temporary directory on the pod's scratch volume."""
    scratch = {"HOME": SCRATCH, "TMPDIR": SCRATCH}
    return [{"name": key, "value": value} for key, value in {**SERVER_SETTINGS, **scratch}.items()]


def server_args(hostname: str, access: StoreAccess) -> list[str]:
    """`mlflow server`'s arguments (mlflow/cli/__init__.py `server`); the database comes from the environment.

    Artifacts are proxied (`--serve-artifacts`): clients upload and download through the server
    (`mlflow-artifacts:/` URIs), so only the server holds the bucket's credentials.
    """
    return [
        "server",
        "--host=0.0.0.0",
        f"--port={PORT}",
        "--workers=2",
        "--serve-artifacts",
        f"--artifacts-destination=s3://{access.bucket}/{ARTIFACTS_PREFIX}",
        f"--expose-prometheus={SCRATCH}/metrics",
        f"--allowed-hosts={','.join(allowed_hosts(hostname))}",
        f"--cors-allowed-origins=https://{hostname}",
    ]


def server_deployment(
    mlflow_hostname: str, replicas: int, access: StoreAccess, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The tracking server's Deployment: probes on /health (exempt from the Host check), bounded resources."""
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    container = {
        "name": "mlflow",
        "image": MLFLOW_IMAGE,
        "command": ["mlflow"],
        "args": server_args(mlflow_hostname, access),
        "env": [DATABASE_ENV, KEK_ENV, *store_env(access), *_settings_env()],
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": container_resources("250m", "1Gi", "2Gi"),
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [TMP_MOUNT],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "mlflow", "namespace": NAMESPACE, "labels": {**labels, **SERVER_LABELS}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": SERVER_LABELS},
            "template": {
                "metadata": {"labels": {**labels, **SERVER_LABELS}},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # The server never calls the Kubernetes API (IRSA mounts its own token).
                    "automountServiceAccountToken": False,
                    # Kubernetes' service links would set MLFLOW_PORT=tcp://... (Service `mlflow`),
                    # the variable behind `mlflow server --port`.
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod(MLFLOW_UID),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": SPOOL_LIMIT}}],
                    "topologySpreadConstraints": [spread(SERVER_LABELS)],
                },
            },
        },
    }


def upgrade_job(labels: Mapping[str, str]) -> dict[str, Any]:
    """The Job that brings the database's schema to the image's version before the servers start.

    `mlflow db upgrade` creates the tables on an empty database and migrates an older one
    (mlflow/db.py `upgrade`). Its name carries the image's tag, so a new MLflow version runs a new
    Job (a Job's template is immutable).
    """
    tag = MLFLOW_IMAGE.rpartition(":")[2].replace(".", "-")
    container = {
        "name": "upgrade",
        "image": MLFLOW_IMAGE,
        # Through the shell so that the URI (with the password) is never an argument in the pod spec.
        "command": ["sh", "-c", 'exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"'],
        "env": [DATABASE_ENV, KEK_ENV, *_settings_env()],
        "resources": container_resources("100m", "512Mi", "1Gi"),
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [TMP_MOUNT],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"mlflow-db-upgrade-{tag}",
            "namespace": NAMESPACE,
            "labels": {**labels, **UPGRADE_LABELS},
        },
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": {**labels, **UPGRADE_LABELS}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "enableServiceLinks": False,
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod(MLFLOW_UID),
                    "containers": [container],
                    "volumes": [TMP_VOLUME],
                },
            },
        },
    }


# -- the login ---------------------------------------------------------------------------------------


#: MLflow's API paths (mlflow/server/__init__.py, fastapi_app.py: the REST API, the UI's, the AI
#: gateway's and the OpenTelemetry traces' routers): a request without a session gets 401 there.
API_ROUTES = ("^/api/", "^/ajax-api/", "^/gateway/", "^/v1/traces")


#: The hub's users' servers (KubeSpawner labels them `component: singleuser-server`).
NOTEBOOK_PODS = {"component": "singleuser-server"}


def client_namespaces(spec: PlatformSpec, cluster_name: str) -> list[tuple[str, Mapping[str, str] | None]]:
    """Pods on the cluster that use the server directly, by namespace: notebooks, workflow steps, model servers.

    They reach it without the login: the hub's users are the project's scientists (the hub has its
    own login and allowed list), and workflows run what was submitted through Argo's login.
    """
    from .jupyterhub import NAMESPACE as HUB_NAMESPACE
    from .models import NAMESPACE as MODELS_NAMESPACE
    from .models import applies as serves_models
    from .workflows import WORKFLOWS_NAMESPACE
    from .workflows import applies as runs_workflows

    found: list[tuple[str, Mapping[str, str] | None]] = []
    if spec.clusters[cluster_name].addons.hub is not None:
        found.append((HUB_NAMESPACE, NOTEBOOK_PODS))
    if runs_workflows(spec, cluster_name):
        found.append((WORKFLOWS_NAMESPACE, None))
    if serves_models(spec, cluster_name):
        found.append((MODELS_NAMESPACE, None))
    return found


def server_policy(spec: PlatformSpec, cluster_name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """Who reaches the server: its login, the in-cluster clients' pods and the collector (its /metrics).

    Nobody else in the cluster does (where the CNI enforces policies); the login's own policy is login.py's.
    """
    from .observability import NAMESPACE as COLLECTOR_NAMESPACE

    server_from = [
        {"podSelector": {"matchLabels": LOGIN_LABELS}},
        *(from_namespace(name, pods) for name, pods in client_namespaces(spec, cluster_name)),
    ]
    rules: list[dict[str, Any]] = [{"from": server_from, "ports": [{"port": "http"}]}]
    if spec.clusters[cluster_name].addons.observed:
        rules.append({"from": [from_namespace(COLLECTOR_NAMESPACE)], "ports": [{"port": "http"}]})
    return network_policy("mlflow-server", NAMESPACE, SERVER_LABELS, rules, labels)


def monitors(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The collector's monitors: the server's /metrics and the database's exporter (port `metrics`)."""
    from .gpu_operator import SCRAPE_LABEL
    from .observability import service_monitor

    database = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": DATABASE, "namespace": NAMESPACE, "labels": {**labels, **SCRAPE_LABEL}},
        "spec": {
            "selector": {"matchLabels": {"cnpg.io/cluster": DATABASE}},
            "podMetricsEndpoints": [{"port": "metrics", "interval": "60s"}],
        },
    }
    return [service_monitor("mlflow", NAMESPACE, SERVER_LABELS, "http", labels), database]


def login_proxy(mlops: MlopsSpec) -> LoginProxy:
    """MLflow's login: oauth2-proxy `mlflow-login` in front of the Service (login.py)."""
    return LoginProxy(
        name="mlflow-login",
        namespace=NAMESPACE,
        hostname=mlops.mlflow.hostname,
        upstream=f"{service_url()}/",
        replicas=mlops.mlflow.replicas,
        pods=LOGIN_LABELS,
        api_routes=API_ROUTES,
    )


# -- the component -----------------------------------------------------------------------------------


class Mlflow(pulumi.ComponentResource):
    """MLflow's tracking server and registry on the MLOps cluster, with its database, bucket and login."""

    store: ObjectStore
    """The artifact store (bucket or container)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meridian:addons:Mlflow", name, None, opts)
        import pulumi_kubernetes as k8s
        import pulumi_random as random

        from .external_secrets import runtime_secret

        spec = context.spec
        assert spec is not None and spec.mlops is not None, "the add-on list applies MLflow only where mlops names it"
        mlops = spec.mlops
        labels = context.labels
        provider = context.provider

        def own(
            resource: str, document: Mapping[str, Any], *depends: pulumi.Resource, stateful: bool = False
        ) -> pulumi.CustomResource:
            return kubernetes_object(
                resource, document, provider=provider, parent=self, depends_on=depends, stateful=stateful
            )

        namespace = addon_namespace(
            name,
            NAMESPACE,
            labels=labels,
            enforce="restricted",
            provider=provider,
            parent=self,
            retain_on_delete=True,
        )
        accounts = [(NAMESPACE, SERVICE_ACCOUNT), (NAMESPACE, DATABASE)]
        self.store = object_store("mlflow", context, self, accounts, owner="MLflow", over_s3=True)
        access = StoreAccess(
            bucket=bucket_name(spec.project.name, context.cluster_name, "mlflow"),
            role_arn=self.store.role_arn,
            endpoint=self.store.endpoint,
            region=self.store.region,
        )
        prerequisites: list[pulumi.Resource] = [namespace, *self.store.needs, context.installed["cloudnative_pg"]]
        if self.store.endpoint is not None:
            assert self.store.access_key_ref is not None and self.store.secret_key_ref is not None
            prerequisites.append(
                runtime_secret(
                    f"{name}-object-store",
                    context,
                    name=OBJECT_SECRET,
                    namespace=NAMESPACE,
                    data={
                        "AWS_ACCESS_KEY_ID": self.store.access_key_ref,
                        "AWS_SECRET_ACCESS_KEY": self.store.secret_key_ref,
                    },
                    parent=self,
                    depends_on=[namespace],
                )
            )
        database = own(
            f"{name}-db",
            database_document(mlops.mlflow.database, access, labels),
            *prerequisites,
            stateful=True,
        )
        own(f"{name}-db-backup", backup_document(mlops.mlflow.database, labels), database)
        account_annotations = {ROLE_ANNOTATION: access.role_arn} if access.role_arn is not None else None
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT, namespace=namespace.metadata.name, labels=labels, annotations=account_annotations
            ),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        # Generated once and kept: a new passphrase would leave the stored secrets unreadable.
        passphrase = random.RandomPassword(
            f"{name}-kek-passphrase", length=48, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        server_secret = k8s.core.v1.Secret(
            f"{name}-server-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVER_SECRET, namespace=namespace.metadata.name, labels=labels),
            type="Opaque",
            string_data={"kek-passphrase": passphrase.result},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        upgrade = own(f"{name}-db-upgrade", upgrade_job(labels), database, account, server_secret)
        server = own(
            f"{name}-server",
            server_deployment(mlops.mlflow.hostname, mlops.mlflow.replicas, access, labels),
            upgrade,
            *prerequisites,
        )
        own(
            f"{name}-service", service_document("mlflow", NAMESPACE, SERVER_LABELS, [("http", PORT)], labels), namespace
        )
        own(f"{name}-server-budget", budget_document("mlflow", NAMESPACE, SERVER_LABELS, labels), namespace)
        publish(name, context, self, mlops.login, login_proxy(mlops), after=[namespace, server], what="MLflow")
        own(f"{name}-server-policy", server_policy(spec, context.cluster_name, labels), namespace)
        if context.cluster.addons.observed:
            server_monitor, database_monitor = monitors(labels)
            observability = context.installed["observability"]
            own(f"{name}-monitor", server_monitor, server, observability)
            own(f"{name}-db-monitor", database_monitor, database, observability)
        self.register_outputs(
            {"hostname": mlops.mlflow.hostname, "url": service_url(), "bucket": access.bucket, "namespace": NAMESPACE}
        )
