"""MLflow on the MLOps cluster: database, artifact store, login, network and monitors (components/addons/mlflow.py).

tests/specs/mlops.happy.yaml runs MLflow on a magnum cluster of an OpenStack site with an S3
endpoint; mlops-eks.happy.yaml on an eks cluster, its bucket reached through IRSA; eo4eu, bundled,
on its rke2 core cluster with every secret read at run time (External Secrets). The CloudNativePG
objects are validated against the CRDs the locked operator chart renders (the real Helm).
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import string
from pathlib import Path
from typing import Any

import pytest
from conftest import named, unordered_namespaced
from conftest import revealed_plan as plan_of

from components.addons import mlflow
from components.addons.external_secrets import RUNTIME_NAMESPACES
from scripts.harness import Plan, offline_vault_field
from scripts.render import own_objects, releases, render_release, rendered_crds
from scripts.validate import _pod_spec, builtin_api_versions, references, validate_objects

OPENSTACK = "tests/specs/mlops.happy.yaml"
EKS = "tests/specs/mlops-eks.happy.yaml"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
NAME = "kubernetes.io/metadata.name"


def spec_of(resource: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = resource["inputs"]["spec"]
    return found


def container(plan: Plan, name: str) -> dict[str, Any]:
    (deployment,) = [d for d in plan.by_type(DEPLOYMENT) if d["inputs"]["metadata"]["name"] == name]
    containers: list[dict[str, Any]] = deployment["inputs"]["spec"]["template"]["spec"]["containers"]
    (found,) = containers
    return found


def flags(args: list[str]) -> dict[str, list[str]]:
    """`--name=value` arguments by name (a flag given twice keeps both values)."""
    found: dict[str, list[str]] = {}
    for arg in args:
        name, _, value = arg.partition("=")
        found.setdefault(name, []).append(value)
    return found


def env(found: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in found["env"]}


# -- the database --------------------------------------------------------------------------------------


def test_the_database_archives_to_the_bucket_over_the_sites_s3_endpoint_with_its_keys() -> None:
    plan = plan_of(OPENSTACK)
    database = plan.one(CNPG_CLUSTER)
    bucket = plan.one("openstack:objectstorage/container:Container", "hub-mlflow")["inputs"]["name"]
    assert bucket == "testproj-hub-mlflow"
    store = spec_of(database)["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == f"s3://{bucket}/postgres"
    assert store["endpointURL"] == "https://object-store.os-a.example"
    # The keys by reference to the Secret the program writes; never in the Cluster itself.
    assert store["s3Credentials"] == {
        "accessKeyId": {"name": "mlflow-object-store", "key": "AWS_ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "mlflow-object-store", "key": "AWS_SECRET_ACCESS_KEY"},
    }
    keys = named(plan, SECRET, "mlflow-object-store")
    assert keys["inputs"]["metadata"]["namespace"] == "mlflow"
    assert "stringData" in keys["secret_paths"]
    assert plan.revealed[keys["urn"]]["stringData"] == {
        "AWS_ACCESS_KEY_ID": offline_vault_field("kv", "testproj/object-storage", "access_key_id"),
        "AWS_SECRET_ACCESS_KEY": offline_vault_field("kv", "testproj/object-storage", "secret_access_key"),
    }
    assert keys["urn"] in database["depends_on"]
    # boto3 1.36+ checksums that S3-compatible stores refuse (CloudNativePG 1.30 object_stores.md).
    assert {"name": "AWS_REQUEST_CHECKSUM_CALCULATION", "value": "when_required"} in spec_of(database)["env"]
    assert {"name": "AWS_RESPONSE_CHECKSUM_VALIDATION", "value": "when_required"} in spec_of(database)["env"]


def test_the_database_and_its_bucket_are_protected_and_outlive_the_stack() -> None:
    plan = plan_of(OPENSTACK)
    database = plan.one(CNPG_CLUSTER)
    bucket = plan.one("openstack:objectstorage/container:Container", "hub-mlflow")
    namespace = named(plan, "kubernetes:core/v1:Namespace", "mlflow")
    for resource in (database, bucket):
        assert resource["protect"] is True and resource["retain_on_delete"] is True, resource["name"]
    # The database's volumes live in the namespace: removing MLflow from the stack must not delete them.
    assert namespace["retain_on_delete"] is True
    # Nothing else of MLflow's is protected: the server, the login and their objects are replaceable.
    protected = {r["name"] for r in plan.resources if r.get("protect") and "mlflow" in r["name"]}
    assert protected == {"hub-mlflow-db", "hub-mlflow"}


def test_the_database_runs_the_pinned_system_image_with_the_specs_size_and_retention() -> None:
    database = spec_of(plan_of(OPENSTACK).one(CNPG_CLUSTER))
    # Only the system images carry barman-cloud, which the in-tree backup runs (postgres-containers README).
    assert database["imageName"] == "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"
    assert database["instances"] == 2
    assert database["storage"] == {"size": "20Gi"}
    assert database["backup"]["retentionPolicy"] == "30d"
    assert database["bootstrap"] == {"initdb": {"database": "mlflow", "owner": "mlflow"}}
    assert database["enableSuperuserAccess"] is False


def test_base_backups_follow_the_schedule_and_start_at_once() -> None:
    plan = plan_of(OPENSTACK)
    backup = plan.one(BACKUP)
    assert spec_of(backup) == {
        "schedule": "0 0 2 * * *",
        "cluster": {"name": plan.one(CNPG_CLUSTER)["inputs"]["metadata"]["name"]},
        "method": "barmanObjectStore",
        "immediate": True,
        "backupOwnerReference": "self",
    }
    # Six fields, seconds first: ScheduledBackup's cron (robfig/cron with seconds).
    assert len(spec_of(backup)["schedule"].split()) == 6


def test_pulumi_waits_for_the_database_before_the_schema_job_and_the_job_before_the_servers() -> None:
    plan = plan_of(OPENSTACK)
    database = plan.one(CNPG_CLUSTER)
    assert database["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    (job,) = plan.by_type("kubernetes:batch/v1:Job")
    assert database["urn"] in job["depends_on"]
    # Its pod runs as MLflow's account and reads the server's Secret: both exist first.
    assert named(plan, "kubernetes:core/v1:ServiceAccount", "mlflow")["urn"] in job["depends_on"]
    assert named(plan, SECRET, "mlflow-server")["urn"] in job["depends_on"]
    server = named(plan, DEPLOYMENT, "mlflow")
    assert job["urn"] in server["depends_on"]
    # The operator (its release's CRDs and webhook) before the Cluster it admits: a component
    # dependency reaches the engine as its resources' URNs.
    operator = plan.one("kubernetes:helm.sh/v3:Release", "hub-cloudnative-pg")
    assert operator["urn"] in database["depends_on"]
    (upgrade,) = job["inputs"]["spec"]["template"]["spec"]["containers"]
    # The URI holds the password: taken from the environment by the shell, never written in the spec.
    assert upgrade["command"] == ["sh", "-c", 'exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"']
    assert env(upgrade)["MLFLOW_BACKEND_STORE_URI"] == {"secretKeyRef": {"name": "mlflow-db-app", "key": "uri"}}
    assert job["inputs"]["metadata"]["name"] == "mlflow-db-upgrade-v3-17-0-full"


# -- the tracking server -------------------------------------------------------------------------------


def test_the_server_reads_the_operators_app_secret_and_proxies_the_buckets_artifacts() -> None:
    plan = plan_of(OPENSTACK)
    server = container(plan, "mlflow")
    database = plan.one(CNPG_CLUSTER)["inputs"]["metadata"]["name"]
    variables = env(server)
    # CloudNativePG writes the app user's connection URI to `<cluster>-app`, key `uri` (pkg/specs/secrets.go).
    assert variables["MLFLOW_BACKEND_STORE_URI"] == {"secretKeyRef": {"name": f"{database}-app", "key": "uri"}}
    assert variables["MLFLOW_S3_ENDPOINT_URL"] == "https://object-store.os-a.example"
    assert variables["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "mlflow-object-store", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert server["command"] == ["mlflow"] and server["args"][0] == "server"
    found = flags(server["args"][1:])
    assert found["--artifacts-destination"] == ["s3://testproj-hub-mlflow/artifacts"]
    assert "--serve-artifacts" in found
    assert found["--host"] == ["0.0.0.0"] and found["--port"] == ["5000"]
    assert server["ports"] == [{"name": "http", "containerPort": 5000}]
    hosts = found["--allowed-hosts"][0].split(",")
    # The public name (through the login, which passes the Host header on), the Service's names with
    # the port, and the private ranges MLflow allows by default (pod addresses the collector scrapes).
    assert {"mlflow.a.example.org", "mlflow.mlflow.svc.cluster.local:5000", "10.*", "172.31.*", "192.168.*"} <= set(
        hosts
    )
    assert "172.32.*" not in hosts and "*" not in hosts
    assert found["--cors-allowed-origins"] == ["https://mlflow.a.example.org"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert server["image"] == "ghcr.io/mlflow/mlflow:v3.17.0-full"


def test_mlflows_pods_meet_pod_security_restricted() -> None:
    plan = plan_of(OPENSTACK)
    namespace = named(plan, "kubernetes:core/v1:Namespace", "mlflow")
    assert namespace["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name in ("mlflow", "mlflow-login"):
        pod = named(plan, DEPLOYMENT, name)["inputs"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (found,) = pod["containers"]
        assert found["securityContext"]["allowPrivilegeEscalation"] is False
        assert found["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert found["resources"]["limits"]["memory"]
        assert pod["automountServiceAccountToken"] is False


def test_the_service_and_the_budget_select_the_servers_pods() -> None:
    plan = plan_of(OPENSTACK)
    labels = named(plan, DEPLOYMENT, "mlflow")["inputs"]["spec"]["template"]["metadata"]["labels"]
    service = named(plan, "kubernetes:core/v1:Service", "mlflow")["inputs"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"] == [{"name": "http", "port": 5000, "targetPort": "http"}]
    budget = named(plan, "kubernetes:policy/v1:PodDisruptionBudget", "mlflow")["inputs"]["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": service["selector"]}}
    login = named(plan, DEPLOYMENT, "mlflow-login")["inputs"]["spec"]["template"]["metadata"]["labels"]
    assert not service["selector"].items() <= login.items()
    # Replicas of the server and of its login spread over nodes where the cluster has several,
    # without ever leaving one pending for it (a soft constraint).
    for name in ("mlflow", "mlflow-login"):
        spec = named(plan, DEPLOYMENT, name)["inputs"]["spec"]
        assert spec["template"]["spec"]["topologySpreadConstraints"] == [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": spec["selector"],
            }
        ]


# -- the login -------------------------------------------------------------------------------------------


def test_the_login_is_the_projects_oidc_provider_in_front_of_the_service() -> None:
    plan = plan_of(OPENSTACK)
    login = container(plan, "mlflow-login")
    found = flags(login["args"])
    assert found["--provider"] == ["oidc"]
    assert found["--oidc-issuer-url"] == ["https://login.example.org/realms/r"]
    assert found["--client-id"] == ["mlops"]
    assert found["--redirect-url"] == ["https://mlflow.a.example.org/oauth2/callback"]
    assert found["--allowed-group"] == ["scientists"]
    assert found["--oidc-groups-claim"] == ["groups"]
    # API clients send the provider's ID token as a bearer token (MLFLOW_TRACKING_TOKEN).
    assert found["--skip-jwt-bearer-tokens"] == ["true"]
    assert found["--upstream"] == ["http://mlflow.mlflow.svc.cluster.local:5000/"]
    # oauth2-proxy binds 127.0.0.1:4180 unless told otherwise: the port the Service reaches.
    assert found["--http-address"] == ["0.0.0.0:4180"]
    assert {"name": "http", "containerPort": 4180} in login["ports"]
    assert found["--cookie-secure"] == ["true"]
    variables = env(login)
    assert variables["OAUTH2_PROXY_CLIENT_SECRET"] == {
        "secretKeyRef": {"name": "mlflow-login-oidc", "key": "client-secret"}
    }
    assert variables["OAUTH2_PROXY_COOKIE_SECRET"] == {
        "secretKeyRef": {"name": "mlflow-login-cookie", "key": "cookie-secret"}
    }
    assert not any("secret" in arg.lower() for arg in login["args"])


def test_the_logins_secrets_are_secret_and_the_cookie_key_a_length_oauth2_proxy_takes() -> None:
    plan = plan_of(OPENSTACK)
    oidc = named(plan, SECRET, "mlflow-login-oidc")
    assert "stringData" in oidc["secret_paths"]
    assert oidc["inputs"]["stringData"] == "[secret]"
    assert plan.revealed[oidc["urn"]]["stringData"] == {
        "client-secret": offline_vault_field("kv", "testproj/mlops", "client_secret")
    }
    (key,) = [
        r for r in plan.by_type("random:index/randomPassword:RandomPassword") if r["name"] == "hub-mlflow-cookie-secret"
    ]
    # oauth2-proxy v7.15.3 keys its cookies with the base64 decoding of the secret when that decodes
    # to 16, 24 or 32 bytes, else with its raw bytes (pkg/encryption/utils.go SecretBytes, unpadded
    # URL alphabet); pkg/validation/cookie.go refuses other lengths. Letters and digits decode: the
    # key the proxy uses is 32 bytes (AES-256), not the 24 that 32 characters would decode to.
    assert key["inputs"]["special"] is False

    def secret_bytes(secret: str) -> bytes:
        try:
            decoded = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        except ValueError:
            return secret.encode()
        return decoded if len(decoded) in (16, 24, 32) else secret.encode()

    alphabet = string.ascii_letters + string.digits
    for _ in range(20):
        sample = "".join(secrets.choice(alphabet) for _ in range(key["inputs"]["length"]))
        assert len(secret_bytes(sample)) == 32
    assert len(secret_bytes("a" * 32)) == 24  # what the key was before
    cookie = named(plan, SECRET, "mlflow-login-cookie")
    assert "stringData" in cookie["secret_paths"]


def test_the_ingress_publishes_the_login_with_a_certificate() -> None:
    plan = plan_of(OPENSTACK)
    ingress = named(plan, "kubernetes:networking.k8s.io/v1:Ingress", "mlflow-login")["inputs"]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-staging"}
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["tls"] == [{"hosts": ["mlflow.a.example.org"], "secretName": "mlflow-login-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "mlflow.a.example.org"
    (path,) = rule["http"]["paths"]
    assert path["backend"] == {"service": {"name": "mlflow-login", "port": {"name": "http"}}}
    record = plan.one("openstack:dns/recordSet:RecordSet", "hub-mlflow-dns")
    assert record["inputs"]["name"] == "mlflow.a.example.org."


def test_only_the_login_the_notebooks_and_the_collector_reach_the_server() -> None:
    plan = plan_of(OPENSTACK)
    policies = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]
        for r in plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r["inputs"]["metadata"]["namespace"] == "mlflow"
    }
    server = policies["mlflow-server"]
    assert server["podSelector"] == {"matchLabels": mlflow.SERVER_LABELS}
    sources = [peer for rule in server["ingress"] for peer in rule["from"]]
    assert {"podSelector": {"matchLabels": mlflow.LOGIN_LABELS}} in sources
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in sources
        if "namespaceSelector" in peer
    }
    assert namespaces == {"jupyterhub", "monitoring", "workflows", "models"}
    # Of the hub's namespace, its users' servers only (KubeSpawner's label), not the hub or its proxy.
    (notebooks,) = [
        p for p in sources if p.get("namespaceSelector", {}).get("matchLabels", {}).get(NAME) == "jupyterhub"
    ]
    assert notebooks["podSelector"] == {"matchLabels": {"component": "singleuser-server"}}
    login = policies["mlflow-login"]
    (traefik,) = login["ingress"][0]["from"]
    assert traefik["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "traefik"}
    assert login["ingress"][0]["ports"] == [{"port": "http"}]


def test_the_collector_scrapes_the_server_the_login_and_the_database() -> None:
    plan = plan_of(OPENSTACK)
    # The collector's own kind of monitor (observability.py service_monitor): in its namespace,
    # selecting the Services of MLflow's.
    monitors = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]
        for r in plan.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
        if r["inputs"]["spec"].get("namespaceSelector") == {"matchNames": ["mlflow"]}
    }
    assert monitors["mlflow"]["endpoints"] == [{"port": "http", "interval": "30s"}]
    assert monitors["mlflow"]["selector"] == {"matchLabels": mlflow.SERVER_LABELS}
    assert monitors["mlflow-login"]["endpoints"][0]["port"] == "metrics"
    database = plan.one("kubernetes:monitoring.coreos.com/v1:PodMonitor")["inputs"]["spec"]
    # The instances' exporter: pod label cnpg.io/cluster, port `metrics` (9187; pkg/specs/pods.go).
    assert database == {
        "selector": {"matchLabels": {"cnpg.io/cluster": "mlflow-db"}},
        "podMetricsEndpoints": [{"port": "metrics", "interval": "60s"}],
    }
    server = container(plan, "mlflow")
    assert flags(server["args"][1:])["--expose-prometheus"] == ["/tmp/metrics"]
    operator = plan.one("kubernetes:helm.sh/v3:Release", "hub-cloudnative-pg")["inputs"]["values"]
    assert operator["monitoring"]["podMonitorEnabled"] is True


# -- AWS -------------------------------------------------------------------------------------------------


def test_on_eks_the_bucket_is_reached_through_a_role_only_mlflows_accounts_assume() -> None:
    plan = plan_of(EKS)
    bucket = plan.one("aws:s3/bucket:Bucket", "edge-mlflow")
    assert bucket["inputs"]["bucket"] == "testproj-edge-mlflow" and bucket["protect"] is True
    role = plan.one("aws:iam/role:Role", "edge-mlflow-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    (subjects,) = [value for key, value in condition.items() if key.endswith(":sub")]
    # The server's account and the database instances' (CloudNativePG names it after the Cluster).
    assert subjects == ["system:serviceaccount:mlflow:mlflow", "system:serviceaccount:mlflow:mlflow-db"]
    database = spec_of(plan.one(CNPG_CLUSTER))
    store = database["backup"]["barmanObjectStore"]
    assert store["s3Credentials"] == {"inheritFromIAMRole": True}
    assert "endpointURL" not in store
    annotation = database["serviceAccountTemplate"]["metadata"]["annotations"][mlflow.ROLE_ANNOTATION]
    account = named(plan, "kubernetes:core/v1:ServiceAccount", "mlflow")
    assert account["inputs"]["metadata"]["annotations"][mlflow.ROLE_ANNOTATION] == annotation
    assert annotation.startswith("arn:aws:iam::111122223333:role/")
    variables = env(container(plan, "mlflow"))
    assert "MLFLOW_S3_ENDPOINT_URL" not in variables and "AWS_SECRET_ACCESS_KEY" not in variables
    assert not [r for r in plan.by_type(SECRET) if r["inputs"]["metadata"]["name"] == "mlflow-object-store"]


# -- eo4eu: secrets at run time --------------------------------------------------------------------------


def test_eo4eu_reads_mlflows_secrets_at_run_time() -> None:
    plan = plan_of("eo4eu")
    found = {
        r["inputs"]["metadata"]["name"]: r["inputs"]
        for r in plan.by_type(EXTERNAL_SECRET)
        if r["inputs"]["metadata"]["namespace"] == "mlflow"
    }
    assert set(found) == {"mlflow-object-store", "mlflow-login-oidc"}
    keys = {item["secretKey"]: item["remoteRef"] for item in found["mlflow-object-store"]["spec"]["data"]}
    assert keys["AWS_ACCESS_KEY_ID"]["key"].endswith("runtime/object-storage")
    assert keys["AWS_ACCESS_KEY_ID"]["property"] == "access_key_id"
    # The store serves MLflow's namespace, and no Secret of MLflow's goes through the stack's state.
    assert "mlflow" in RUNTIME_NAMESPACES
    assert not [r for r in plan.by_type(SECRET) if r["inputs"]["metadata"].get("name") in found]


# -- contracts nobody here wrote --------------------------------------------------------------------------


def charts_crds(stack: str, charts: set[str]) -> list[dict[str, Any]]:
    """The CRDs the stack's releases of the locked `charts` render (the real `helm template`)."""
    plan = plan_of(stack)
    found = [r for r in releases(plan, plan) if r.chart in charts]
    assert {r.chart for r in found} == charts
    rendered = [render_release(r, builtin_api_versions(r.kube_version), stack) for r in found]
    return [crd for crds in rendered_crds(rendered).values() for crd in crds]


@pytest.fixture(scope="module")
def cnpg_crds() -> list[dict[str, Any]]:
    return charts_crds(OPENSTACK, {"cloudnative-pg"})


def test_the_database_objects_validate_against_the_operators_crds(cnpg_crds: list[dict[str, Any]]) -> None:
    plan = plan_of(OPENSTACK)
    documents = [
        {
            "apiVersion": r["inputs"]["apiVersion"],
            "kind": r["inputs"]["kind"],
            **{k: v for k, v in r["inputs"].items() if k not in ("apiVersion", "kind")},
        }
        for r in (plan.one(CNPG_CLUSTER), plan.one(BACKUP))
    ]
    assert validate_objects(documents, "v1.34.0", "mlflow", crds=cnpg_crds) == []
    broken = copy.deepcopy(documents[0])
    broken["spec"]["backup"]["retentionPolicy"] = "30 days"  # the CRD's pattern: ^[1-9][0-9]*[dwm]$
    (problem,) = validate_objects([broken], "v1.34.0", "mlflow", crds=cnpg_crds)
    assert problem.kind == "postgresql.cnpg.io/v1/Cluster" and "retentionPolicy" in problem.message
    broken = copy.deepcopy(documents[1])
    broken["spec"]["method"] = "snapshot"
    (problem,) = validate_objects([broken], "v1.34.0", "mlflow", crds=cnpg_crds)
    assert "method" in problem.message


def test_notebooks_find_mlflow_in_their_cluster_or_at_its_hostname() -> None:
    plan = plan_of("eo4eu")
    core = plan.one("kubernetes:helm.sh/v3:Release", "core-jupyterhub")["inputs"]["values"]["singleuser"]
    assert core["extraEnv"] == {
        "MLFLOW_TRACKING_URI": "http://mlflow.mlflow.svc.cluster.local:5000",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    # z2jh's singleuser policy admits no private address: the server's pods are opened, on its port only.
    (rule,) = core["networkPolicy"]["egress"]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}
    assert peer["podSelector"] == {"matchLabels": mlflow.SERVER_LABELS}
    assert rule["ports"] == [{"port": 5000, "protocol": "TCP"}]
    # Frankfurt's notebooks reach it at its public name, through the login.
    burst = plan.one("kubernetes:helm.sh/v3:Release", "burst-jupyterhub")["inputs"]["values"]["singleuser"]
    assert burst["extraEnv"]["MLFLOW_TRACKING_URI"] == "https://mlflow.bologna.eo4eu.eu"
    assert "egress" not in burst["networkPolicy"]


def test_the_server_keeps_its_stored_secrets_under_its_own_key_and_sends_no_telemetry() -> None:
    plan = plan_of(OPENSTACK)
    deployment = named(plan, DEPLOYMENT, "mlflow")["inputs"]["spec"]["template"]["spec"]
    variables = env(container(plan, "mlflow"))
    # Unset, MLflow wraps the gateway's stored keys with a published default (mlflow/utils/crypto.py).
    assert variables["MLFLOW_CRYPTO_KEK_PASSPHRASE"] == {
        "secretKeyRef": {"name": "mlflow-server", "key": "kek-passphrase"}
    }
    key = plan.one("random:index/randomPassword:RandomPassword", "hub-mlflow-kek-passphrase")
    assert key["inputs"]["length"] >= 32
    assert "stringData" in named(plan, SECRET, "mlflow-server")["secret_paths"]
    assert variables["MLFLOW_DISABLE_TELEMETRY"] == "true"
    # One job queue per pod would run the periodic tasks once per replica.
    assert variables["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    # Service links would set MLFLOW_PORT=tcp://..., the variable behind --port.
    assert deployment["enableServiceLinks"] is False
    # The server's own helpers call it on the loopback names (MLflow's default list has them).
    hosts = flags(container(plan, "mlflow")["args"][1:])["--allowed-hosts"][0].split(",")
    assert {"localhost:*", "127.0.0.1:*"} <= set(hosts)


def test_large_uploads_have_room_and_time_on_their_way_through_the_login_and_traefik() -> None:
    plan = plan_of(OPENSTACK)
    deployment = named(plan, DEPLOYMENT, "mlflow")["inputs"]["spec"]["template"]["spec"]
    # Uploads are spooled to TMPDIR before they go to the bucket.
    assert env(container(plan, "mlflow"))["TMPDIR"] == "/tmp"
    (volume,) = deployment["volumes"]
    assert volume["emptyDir"]["sizeLimit"] == "20Gi"
    login = flags(container(plan, "mlflow-login")["args"])
    assert login["--upstream-timeout"] == ["15m"]  # oauth2-proxy's default is 30 s
    assert login["--api-route"] == ["^/api/", "^/ajax-api/", "^/gateway/", "^/v1/traces"]
    # Users the provider has not verified an address of still get in by their groups.
    assert login["--insecure-oidc-allow-unverified-email"] == ["true"]
    assert login["--code-challenge-method"] == ["S256"]
    traefik = plan.one("kubernetes:helm.sh/v3:Release", "hub-traefik")["inputs"]["values"]["ports"]["websecure"]
    assert traefik["transport"] == {"respondingTimeouts": {"readTimeout": "15m"}}  # Traefik v3's default is 60 s


@pytest.mark.parametrize("stack", [OPENSTACK, EKS])
def test_every_object_the_mlops_stacks_create_validates(stack: str) -> None:
    """All the stack's own objects (MLflow, Argo, the model services and the adapter included), strictly:
    a misspelt or unknown field is refused (Kubernetes' OpenAPI schemas, kubernetes-validate)."""
    plan = plan_of(stack)
    served = charts_crds(stack, {"cloudnative-pg", "cert-manager"})
    # And each waits for its Namespace (conftest.unordered_namespaced), and sits under the
    # component that made it (its URN names it; `pulumi stack` groups by it).
    assert unordered_namespaced(plan) == []
    types = {r["urn"]: r["type"] for r in plan.resources}
    top = [r["name"] for r in plan.resources if types.get(r["parent"] or "") in (None, "pulumi:pulumi:Stack")]
    assert top == ["meridian-" + Path(stack).name.removesuffix(".yaml"), "testproj"]
    groups = own_objects(plan)
    kinds = {o["kind"] for group in groups for o in group.objects}
    assert {"Deployment", "RoleBinding", "NetworkPolicy", "Cluster", "WorkflowTemplate"} <= kinds
    all_routed: set[tuple[str, str]] = set()
    for group in groups:
        problems = validate_objects(group.objects, group.kube_version, group.cluster, crds=served)
        assert [str(p) for p in problems] == []
        # Every object carries the project's labels, its site's and its cluster's (the stack file's
        # `labels`, and what Meridian adds: cost reports and policies select by them).
        site = {"hub": "os-a", "edge": "aws-b"}[group.cluster]
        project = {"managed-by": "meridian", "project": "testproj", "cost-centre": "CC-0001"}
        wanted = {**project, "data-classification": "internal", "site": site, "cluster": group.cluster}
        # Every Ingress of the logins sends to a port of a Service the stack makes in its namespace
        # (an unnamed one would get a generated name from the provider, and the Ingress would answer
        # 503: validate.references, which `meridian render` runs with the charts' objects too).
        logins = [
            group.objects[i]
            for i, _ in references(group.objects)
            if group.objects[i]["kind"] == "Ingress"
            and group.objects[i]["metadata"]["namespace"] in ("mlflow", "models")
        ]
        assert logins == []
        routed = {
            (o["metadata"].get("namespace"), path["backend"]["service"]["name"])
            for o in group.objects
            if o["kind"] == "Ingress" and o["metadata"].get("namespace") in ("mlflow", "models")
            for rule in o["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
        all_routed |= routed
        # Meridian's Secrets have the API's built-in types (unset: Opaque); the API also takes any
        # other type, a misspelt one silently (Kubernetes docs, "Secrets": types of Secret).
        builtin = {
            None,
            "Opaque",
            "kubernetes.io/basic-auth",
            "kubernetes.io/tls",
            "kubernetes.io/service-account-token",
        }
        assert {o.get("type") for o in group.objects if o["kind"] == "Secret"} <= builtin
        unlabelled = [
            (o["kind"], o["metadata"]["name"])
            for o in group.objects
            if not (o["metadata"].get("labels") or {}).items() >= wanted.items()
        ]
        assert unlabelled == []
    assert ("mlflow", "mlflow-login") in all_routed
    binding = next(o for group in groups for o in group.objects if o["kind"] == "RoleBinding")
    broken = copy.deepcopy(binding)
    broken["roleRef"]["KIND"] = broken["roleRef"].pop("kind")
    (problem,) = validate_objects([broken], groups[0].kube_version, "broken")
    assert "roleRef" in problem.message


def test_the_components_outputs() -> None:
    plan = plan_of(OPENSTACK)
    (component,) = plan.by_type("meridian:addons:Mlflow")
    assert plan.component_outputs[component["urn"]] == {
        "hostname": "mlflow.a.example.org",
        "url": "http://mlflow.mlflow.svc.cluster.local:5000",
        "bucket": "testproj-hub-mlflow",
        "namespace": "mlflow",
    }


def test_the_mlops_containers_sizes() -> None:
    """What each MLOps container reserves (requests) and may reach (limits), one table.

    Memory is limited above the request (room for a burst, an OOM kill past it); CPU is not
    limited (a CPU limit throttles a busy server even on an idle node). The model server's size
    is the stack file's (`cpu`, `memory_gb`: defaults 1 and 4 here), its memory limit equal to its
    request, with its GPU.
    """
    plan = plan_of(OPENSTACK)

    def size(cpu: str, memory: str, limit: str) -> dict[str, Any]:
        return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}

    found = {}
    for group in own_objects(plan):
        for document in group.objects:
            spec = _pod_spec(document)
            if spec is not None and document["metadata"].get("namespace") in ("mlflow", "models", "custom-metrics"):
                for container in spec["containers"]:
                    found[document["metadata"]["name"], container["name"]] = container["resources"]
    assert found == {
        ("mlflow", "mlflow"): size("250m", "1Gi", "2Gi"),
        ("mlflow-login", "oauth2-proxy"): size("50m", "64Mi", "256Mi"),
        ("mlflow-db-upgrade-v3-17-0-full", "upgrade"): size("100m", "512Mi", "1Gi"),
        ("prometheus-adapter", "prometheus-adapter"): size("100m", "180Mi", "512Mi"),
        ("model-nowcast-login", "oauth2-proxy"): size("50m", "64Mi", "256Mi"),
        ("model-nowcast", "model"): {
            "requests": {"cpu": "1", "memory": "4Gi"},
            "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"},
        },
    }
