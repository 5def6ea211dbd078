"""CentralObservability: the project's one view of every site, on the cluster the spec names.

Children of `<c>-central-observability` (`meridian:addons:CentralObservability`, parented to the
central cluster; through its provider):

* the central cluster's own collector (observability.py `collector_objects`): Namespace `monitoring`
  and the kube-prometheus-stack release, whose agent remote-writes in-cluster to the central
  Prometheus, and which here also runs Alertmanager and Grafana
* `<c>-alertmanager-config`   core/v1 Secret `meridian-alertmanager`: Alertmanager's configuration (its
                              receivers hold credentials: webhook URLs, SMTP passwords)
* `<c>-grafana-admin`         random.RandomPassword: Grafana's local admin (break-glass; people log in with OIDC)
* `<c>-grafana-secrets`       core/v1 Secret `meridian-grafana`: the admin's credentials and the OAuth client secret
* `<c>-central-prometheus`    monitoring.coreos.com/v1 Prometheus `central`: the remote-write receiver, the
                              store (retention from the spec) and the rule evaluator, alerting to Alertmanager
* `<c>-central-prometheus-service`  core/v1 Service `central-prometheus` in front of it
* `<c>-central-prometheus-policy`   networking.k8s.io/v1 NetworkPolicy `central-prometheus`: only Meridian's
                              own pods reach the server (its remote-write receiver takes any sample it is
                              sent, unauthenticated in-cluster): the `monitoring` namespace, Traefik's pods
                              (the authenticated push endpoint) and the metrics adapter of the model services
* `<c>-push-users`            core/v1 Secret `meridian-push-users`: the bcrypt htpasswd entry Traefik checks
* `<c>-push-auth`             traefik.io/v1alpha1 Middleware `meridian-push-auth` (basicAuth)
* `<c>-push-ca-keypair`       core/v1 Secret `meridian-push-ca-keypair` (kubernetes.io/tls): the project CA
                              (pushca.py), and `<c>-push-issuer` cert-manager.io/v1 Issuer `meridian-push-ca`
                              signing with it; `<c>-push-ca` ConfigMap of its certificate for the probes
* `<c>-remote-write`, `<c>-logs`  networking.k8s.io/v1 Ingresses: https://<metrics_hostname>/api/v1/write and
                              https://<logs_hostname>/loki/api/v1/push on Traefik's push entry point only, a
                              certificate from the project CA, basic auth; the push load balancer admits the
                              observed sites and nothing else (ingress.py `PUSH_ENTRY`, `collector_sources`)
* `<c>-alertmanager-policy`   networking.k8s.io/v1 NetworkPolicy `alertmanager`: its API (alerts, silences)
                              from `monitoring` only
* `<c>-loki-policy`           networking.k8s.io/v1 NetworkPolicy `loki`: Loki's pods take logs and queries from
                              `monitoring` (Grafana), `node-agents` (the central cluster's own log collector)
                              and Traefik's pods (the authenticated push endpoint) only
* `<c>-alert-rules`           monitoring.coreos.com/v1 PrometheusRule: the alerts (alerts.py)
* `<c>-blackbox-exporter`     helm.v3.Release of prometheus-blackbox-exporter, and `<c>-probe-<target>`
                              monitoring.coreos.com/v1 Probes of every public hostname (probes.py)
* `<c>-dashboard-<uid>`       core/v1 ConfigMaps Grafana's sidecar loads (dashboards.py)
* `<c>-grafana-dns`           Grafana's record at the ingress load balancer; `<c>-metrics-dns`, `<c>-logs-dns`
                              the push hostnames' records at the push load balancer (dns.py)

Why a Prometheus object of its own next to the chart's agent: Prometheus keeps external labels
out of its own TSDB (they are added on remote write, federation and alerts only), so a central
server scraping its own cluster would store that cluster's series without `cluster` and `site`.
Here the chart's agent scrapes the central cluster like every other collector and remote-writes
to the central server in-cluster, so every series arrives the same way; the server scrapes
nothing itself (its ServiceMonitor selector matches no monitor).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pulumi

from ..spec.addons import AuthenticatorSpec
from ..spec.observability import ObservabilitySpec, ReceiverSpec
from ..yamlout import dump
from . import thanos
from .base import AddonContext, chart_release, container_resources, deliver, kubernetes_object
from .ingress import INGRESS_CLASS, PUSH_ENTRY, Ingress
from .logs import (
    LOKI_CHART,
    LOKI_PORT,
    LOKI_PUSH_PATH,
    LOKI_SERVICE,
    LOKI_SERVICE_ACCOUNT,
    LOKI_STORAGE_SECRET,
    in_cluster_push_url,
    loki_storage,
    loki_values,
)
from .objectstore import ObjectStore, object_store
from .observability import NAMESPACE, REMOTE_WRITE_PATH, Endpoints, collector_objects, monitoring_namespace
from .pushca import authority, ca_configmap

#: The annotation EKS reads a service account's IAM role from (EKS user guide, IRSA).
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
#: The central Prometheus object and its Service.
CENTRAL_PROMETHEUS = "central"
CENTRAL_SERVICE = "central-prometheus"
#: The label the Prometheus Operator gives the central server's pods (its Service and policy select them).
PROMETHEUS_POD = {"operator.prometheus.io/name": CENTRAL_PROMETHEUS}
PROMETHEUS_PORT = 9090
#: In-cluster, the central cluster's agent writes straight to the server's Service.
IN_CLUSTER = Endpoints(
    remote_write=f"http://{CENTRAL_SERVICE}.{NAMESPACE}.svc:{PROMETHEUS_PORT}{REMOTE_WRITE_PATH}",
    logs=in_cluster_push_url(NAMESPACE),
    authenticated=False,
)
ALERTMANAGER_SECRET = "meridian-alertmanager"
#: bcrypt hashes the first 72 bytes of a password only (and Go's refuses longer ones).
BCRYPT_MAX_BYTES = 72
GRAFANA_SECRET = "meridian-grafana"
#: Grafana's OAuth client secret where the cluster reads it from Vault (an ExternalSecret's target).
GRAFANA_OAUTH_SECRET = "meridian-grafana-oauth"
PUSH_USERS_SECRET = "meridian-push-users"
PUSH_MIDDLEWARE = "meridian-push-auth"
#: The project CA's key pair on the central cluster, and the Issuer that signs with it.
PUSH_CA_SECRET = "meridian-push-ca-keypair"
PUSH_ISSUER = "meridian-push-ca"
#: Label the central Prometheus selects PrometheusRules by (only Meridian's rules run centrally).
RULE_LABEL = {"meridian.io/rules": "central"}
#: The Alertmanager Service kube-prometheus-stack makes for release `kube-prometheus-stack`
#: (templates/alertmanager/service.yaml: `<fullname>-alertmanager`, port `http-web`).
ALERTMANAGER_SERVICE = ("kube-prometheus-stack-alertmanager", "http-web")
#: The service account the chart makes for its Prometheus (templates/prometheus/serviceaccount.yaml).
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"
#: The Prometheus datasource's uid in Grafana (dashboards.py queries name it).
PROMETHEUS_DATASOURCE_UID = "prometheus"
LOKI_DATASOURCE_UID = "loki"
#: Environment variable Grafana reads its OAuth client secret from (Grafana docs, "Override
#: configuration with environment variables": GF_<SECTION>_<KEY>).
OAUTH_SECRET_ENV = {"generic-oauth": "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET", "github": "GF_AUTH_GITHUB_CLIENT_SECRET"}
#: Alertmanager's grouping and pacing (Alertmanager docs, configuration: route).
ROUTE_TIMING = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
#: The root receiver takes nothing: every alert reaches the spec's receivers through their routes.
NULL_RECEIVER = "null"


def alertmanager_config(observability: ObservabilitySpec, secrets: Mapping[str, str]) -> dict[str, Any]:
    """Alertmanager's configuration (Alertmanager docs, configuration: route, receiver, *_configs).

    :param secrets: the revealed secret of each receiver that has one, by receiver name (the
        webhook or Slack URL, or the SMTP password); the result is only ever stored in a secret.
    """
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    routes = []
    for name, receiver in observability.receivers.items():
        receivers.append({"name": name, **_receiver_configs(receiver, secrets.get(name))})
        routes.append(
            {
                "receiver": name,
                "matchers": [f'severity=~"{"|".join(receiver.severities)}"'],
                # Every receiver that subscribes to the severity gets the alert, not only the first.
                "continue": True,
            }
        )
    return {
        "route": {
            "receiver": NULL_RECEIVER,
            # One notification per alert and cluster: a site outage does not merge with another's.
            "group_by": ["alertname", "project", "site", "cluster"],
            **ROUTE_TIMING,
            "routes": routes,
        },
        "receivers": receivers,
    }


def _receiver_configs(receiver: ReceiverSpec, secret: str | None) -> dict[str, Any]:
    if receiver.kind == "email":
        email: dict[str, Any] = {
            "to": ", ".join(receiver.to),
            "from": receiver.sender,
            "smarthost": receiver.smarthost,
            "require_tls": True,
            "send_resolved": True,
        }
        if receiver.username is not None:
            email.update(auth_username=receiver.username, auth_password=secret)
        return {"email_configs": [email]}
    if receiver.kind == "webhook":
        return {"webhook_configs": [{"url": secret, "send_resolved": True}]}
    slack: dict[str, Any] = {"api_url": secret, "send_resolved": True}
    if receiver.channel is not None:
        slack["channel"] = receiver.channel
    return {"slack_configs": [slack]}


def receiver_secret_refs(observability: ObservabilitySpec) -> dict[str, str]:
    """The secret reference of each receiver that has one, by receiver name."""
    found = {}
    for name, receiver in observability.receivers.items():
        ref = receiver.password if receiver.kind == "email" else receiver.url
        if ref is not None:
            found[name] = ref
    return found


def _quoted_list(values: list[str]) -> str:
    return "[" + ", ".join(_literal(value) for value in values) + "]"


def _literal(value: str) -> str:
    r"""`value` as a JMESPath JSON literal: its JSON string between backticks, a backtick in it escaped.

    Not a raw string literal (`'...'`): implementations read backslashes in those differently
    (jmespath/go-jmespath lexer.go unescapes only a quote, later lexers a backslash too), so a
    name with a backslash (an LDAP group's DN) would match or not by the library Grafana is
    built with. Every lexer reads a JSON literal the same way: up to the first unescaped
    backtick, `\`` made a backtick, the rest JSON (jmespath specification, "Literal Expressions").
    """
    return "`" + json.dumps(value).replace("`", "\\`") + "`"


def role_attribute_path(login: AuthenticatorSpec) -> str:
    """Grafana's JMESPath mapping a user to a role: Admin for the spec's admins, Viewer for allowed users.

    With `role_attribute_strict`, a user the expression maps to no role cannot log in (Grafana
    docs, "Configure generic OAuth authentication": role mapping), so the spec's allow-list holds.
    """
    user = "login" if login.kind == "github" else login.username_claim
    admin = []
    viewer = []
    if login.admin_users:
        admin.append(f"contains({_quoted_list(login.admin_users)}, {user})")
    if login.kind == "generic-oauth" and login.groups_claim is not None:
        groups = f"{login.groups_claim}[*]"
        admin += [f"contains({groups}, {_literal(group)})" for group in login.admin_groups]
        viewer += [f"contains({groups}, {_literal(group)})" for group in login.allowed_groups]
    if login.allowed_users:
        viewer.append(f"contains({_quoted_list(login.allowed_users)}, {user})")
    terms = [f"{' || '.join(admin)} && 'Admin'"] if admin else []
    if login.allow_all or (login.kind == "github" and login.allowed_organizations):
        # Everyone the provider lets through (GitHub: members of the allowed organizations) views.
        terms.append("'Viewer'")
    elif viewer:
        terms.append(f"{' || '.join(viewer)} && 'Viewer'")
    terms.append("''")
    return " || ".join(f"({term})" if "&&" in term else term for term in terms)


def grafana_ini(observability: ObservabilitySpec) -> dict[str, Any]:
    """grafana.ini sections: the public URL, OAuth login only (Grafana docs, generic OAuth and GitHub OAuth)."""
    central = observability.central
    login = central.login
    auth: dict[str, Any] = {
        "enabled": True,
        "client_id": login.client_id,
        "scopes": " ".join(login.scopes) if login.kind == "generic-oauth" else ",".join(["user:email", *login.scopes]),
        "allow_sign_up": True,
        "role_attribute_path": role_attribute_path(login),
        "role_attribute_strict": True,
    }
    if login.kind == "generic-oauth":
        section = "auth.generic_oauth"
        auth.update(
            name="Login",
            auth_url=login.authorize_url,
            token_url=login.token_url,
            api_url=login.userdata_url,
            login_attribute_path=login.username_claim,
            use_pkce=True,
        )
        if login.groups_claim is not None:
            auth["groups_attribute_path"] = login.groups_claim
    else:
        section = "auth.github"
        if login.allowed_organizations:
            auth["allowed_organizations"] = " ".join(org.split(":")[0] for org in login.allowed_organizations)
    return {
        "server": {"domain": central.grafana_hostname, "root_url": f"https://{central.grafana_hostname}"},
        # People log in through the project's identity provider; the local admin is break-glass.
        "auth": {"disable_login_form": True},
        "users": {"allow_sign_up": False},
        section: auth,
    }


def central_stack_values(
    observability: ObservabilitySpec,
    issuer: str,
    metrics_role: pulumi.Input[str] | None = None,
    oauth_secret: str = GRAFANA_SECRET,
) -> dict[str, Any]:
    """What the central cluster's kube-prometheus-stack adds to the agent's: Alertmanager and Grafana.

    :param metrics_role: on eks, the IAM role of the metrics bucket, for the Prometheus service account
        (the central Prometheus's Thanos sidecar uploads with it).
    :param oauth_secret: the Secret holding Grafana's OAuth client secret (`oauth-client-secret`):
        Meridian's own, or the one an ExternalSecret makes where the cluster reads it from Vault.
    """
    central = observability.central
    login = central.login
    host = central.grafana_hostname
    extra: dict[str, Any] = {}
    if metrics_role is not None:
        extra["prometheus"] = {"serviceAccount": {"annotations": {IRSA_ANNOTATION: metrics_role}}}
    return {
        **extra,
        "alertmanager": {
            "enabled": True,
            "alertmanagerSpec": {
                # The configuration is Meridian's Secret (receivers hold credentials), not chart values.
                "useExistingSecret": True,
                "configSecret": ALERTMANAGER_SECRET,
                "replicas": 2,
                "resources": container_resources("20m", "64Mi", "256Mi"),
                "storage": {
                    "volumeClaimTemplate": {
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}
                    }
                },
            },
        },
        "grafana": {
            "enabled": True,
            "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "envValueFrom": {
                OAUTH_SECRET_ENV[login.kind]: {"secretKeyRef": {"name": oauth_secret, "key": "oauth-client-secret"}}
            },
            "grafana.ini": grafana_ini(observability),
            # Stateless: dashboards and datasources are provisioned from the program, users come
            # from the identity provider at each login, alerts go through Alertmanager. A restart
            # loses only users' personal preferences, and no volume needs protecting.
            "persistence": {"enabled": False},
            "resources": container_resources("100m", "256Mi", "1Gi"),
            "ingress": {
                "enabled": True,
                "ingressClassName": INGRESS_CLASS,
                "annotations": {"cert-manager.io/cluster-issuer": issuer},
                "hosts": [host],
                "tls": [{"secretName": "grafana-tls", "hosts": [host]}],
            },
            # The chart's default datasource is its own Prometheus, which here is the agent (no
            # queries); the central server is the datasource.
            "sidecar": {
                "datasources": {"defaultDatasourceEnabled": False},
                "resources": container_resources("20m", "64Mi", "256Mi"),
            },
            "additionalDataSources": [
                {
                    "name": "Central Prometheus",
                    "uid": PROMETHEUS_DATASOURCE_UID,
                    "type": "prometheus",
                    # Thanos Query: the central Prometheus's recent blocks and the bucket's, one API.
                    "url": f"http://{thanos.QUERY}.{NAMESPACE}.svc:{thanos.HTTP_PORT}",
                    "access": "proxy",
                    "isDefault": True,
                },
                {
                    "name": "Central Loki",
                    "uid": LOKI_DATASOURCE_UID,
                    "type": "loki",
                    "url": f"http://{LOKI_SERVICE}.{NAMESPACE}.svc:{LOKI_PORT}",
                    "access": "proxy",
                },
            ],
        },
    }


def central_prometheus(observability: ObservabilitySpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """The central Prometheus (monitoring.coreos.com/v1, Prometheus Operator API reference: PrometheusSpec)."""
    retention = observability.retention
    am_service, am_port = ALERTMANAGER_SERVICE
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": CENTRAL_PROMETHEUS, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "enableRemoteWriteReceiver": True,
            # Collectors replay up to buffer_minutes of samples after an outage; Prometheus takes
            # samples older than its head only within the out-of-order window (TSDB docs,
            # out_of_order_time_window).
            "tsdb": {"outOfOrderTimeWindow": f"{observability.buffer_minutes}m"},
            # Recent metrics here; every block also goes to object storage through the Thanos
            # sidecar, kept there for metrics_days (thanos.py).
            "retention": f"{retention.local_days}d",
            "thanos": thanos.sidecar_spec(),
            # Size-based retention below the volume, so a full disk never stops ingestion.
            "retentionSize": f"{int(retention.metrics_storage_gb * 0.85)}GB",
            "storage": {
                "volumeClaimTemplate": {
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": f"{retention.metrics_storage_gb}Gi"}},
                    }
                }
            },
            # Kept when the object goes: the operator's StatefulSet deletes no claims by default.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            # It scrapes nothing (every series arrives by remote write, see the module docstring).
            "serviceMonitorSelector": {"matchLabels": {"meridian.io/central-scrape": "never"}},
            "podMonitorSelector": {"matchLabels": {"meridian.io/central-scrape": "never"}},
            "ruleSelector": {"matchLabels": dict(RULE_LABEL)},
            "ruleNamespaceSelector": {},
            "alerting": {
                "alertmanagers": [{"namespace": NAMESPACE, "name": am_service, "port": am_port, "apiVersion": "v2"}]
            },
            # The chart's Prometheus service account: its ClusterRole lets Prometheus discover the
            # Alertmanager's endpoints (kube-prometheus-stack templates/prometheus/clusterrole.yaml);
            # the namespace's `default` account may not.
            "serviceAccountName": PROMETHEUS_SERVICE_ACCOUNT,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000},
            "resources": container_resources("500m", "4Gi", "16Gi"),
        },
    }


def central_service(labels: Mapping[str, str]) -> dict[str, Any]:
    """The central Prometheus's Service (the operator labels its pods `operator.prometheus.io/name`)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": CENTRAL_SERVICE, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "selector": dict(PROMETHEUS_POD),
            "ports": [{"name": "web", "port": PROMETHEUS_PORT, "targetPort": "web"}],
        },
    }


def central_policy(labels: Mapping[str, str]) -> dict[str, Any]:
    """Who may reach the central Prometheus pods, on every port (remote write, queries, the Thanos sidecar).

    `enableRemoteWriteReceiver` takes any sample from anyone who reaches the web port, and the
    in-cluster path carries no credentials: without this policy a notebook or a workflow on the
    central cluster could write series (a forged request rate scales a model service to its
    maximum, models.py) or read every site's. Admitted: the `monitoring` namespace (the agent that
    ships the central cluster's own series, Thanos Query), Traefik's pods (the push endpoint, which
    checks the collectors' basic auth first) and the model services' metrics adapter. Thanos
    (thanos.py), Alertmanager and Loki have policies of their own. Enforced only where the
    cluster's CNI enforces NetworkPolicies: Calico or Canal on rke2, capi and Magnum; on eks only
    with the VPC CNI's network policy agent switched on, which Meridian does not do (README).
    """
    from .ingress import TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
    from .login import from_namespace, network_policy
    from .models import ADAPTER_NAMESPACE

    peers = [
        from_namespace(NAMESPACE),
        from_namespace(TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS),
        from_namespace(ADAPTER_NAMESPACE),
    ]
    return network_policy(CENTRAL_SERVICE, NAMESPACE, PROMETHEUS_POD, [{"from": peers}], labels)


#: The labels of the Alertmanager pods the chart's Service selects (kube-prometheus-stack
#: templates/alertmanager/service.yaml: name, and the operator's `alertmanager: <object name>`).
ALERTMANAGER_POD = {"app.kubernetes.io/name": "alertmanager", "alertmanager": ALERTMANAGER_SERVICE[0]}


def alertmanager_policy(labels: Mapping[str, str]) -> dict[str, Any]:
    """Who may reach Alertmanager: `monitoring` only.

    Its API takes alerts and silences from whoever reaches it; the central Prometheus sends there and
    Grafana reads there, so a workflow on the central cluster cannot mute an alert.
    """
    from .login import from_namespace, network_policy

    return network_policy("alertmanager", NAMESPACE, ALERTMANAGER_POD, [{"from": [from_namespace(NAMESPACE)]}], labels)


#: The labels the loki chart gives its single-binary pods (templates/single-binary/_helpers-single-binary.tpl
#: loki.singleBinarySelectorLabels: name, instance, component).
LOKI_POD = {"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "single-binary"}


def loki_policy(labels: Mapping[str, str]) -> dict[str, Any]:
    """Who may reach Loki's pods (its push and query APIs).

    Like the central Prometheus, its push API takes any line in-cluster, and its query API returns
    every site's logs. Admitted: `monitoring` (Grafana), the node agents' namespace (the central
    cluster's own Alloy pushes in-cluster) and Traefik's pods (the push endpoint, behind basic auth).
    """
    from .ingress import TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
    from .login import from_namespace, network_policy
    from .observability import NODE_AGENTS_NAMESPACE

    peers = [
        from_namespace(NAMESPACE),
        from_namespace(NODE_AGENTS_NAMESPACE),
        from_namespace(TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS),
    ]
    return network_policy(LOKI_SERVICE, NAMESPACE, LOKI_POD, [{"from": peers}], labels)


def htpasswd(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (what Traefik's basicAuth reads), stable for the same password.

    The salt derives from the password itself, so the hash changes only when the password does
    (a random salt would show a change at every preview); bcrypt's cost keeps it slow to guess.
    """
    import base64

    import bcrypt

    if len(password.encode()) > BCRYPT_MAX_BYTES:
        # Said without the value; bcrypt (and Traefik's Go bcrypt) read only the first 72 bytes.
        raise ValueError(
            f"observability.push_password: the secret is longer than {BCRYPT_MAX_BYTES} bytes, more than bcrypt "
            "reads; store a shorter one (32 random characters are plenty)"
        )
    raw = hashlib.sha256(f"meridian-push:{user}:{password}".encode()).digest()[:16]
    # bcrypt's salt: 16 bytes in its own base64 alphabet (22 characters).
    alphabet = bytes.maketrans(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    )
    encoded = base64.b64encode(raw).translate(alphabet)[:22]
    hashed = bcrypt.hashpw(password.encode(), b"$2b$12$" + encoded)
    return f"{user}:{hashed.decode()}"


def _htpasswd_of(user: str, password: pulumi.Output[str]) -> pulumi.Output[str]:
    hashed: pulumi.Output[str] = password.apply(lambda value: htpasswd(user, value))
    return pulumi.Output.secret(hashed)


#: The central push endpoints: (Ingress name, path, Service, its port) for metrics and for logs.
PUSH_ROUTES = {
    "metrics": ("central-remote-write", REMOTE_WRITE_PATH, CENTRAL_SERVICE, {"name": "web"}),
    "logs": ("central-logs", LOKI_PUSH_PATH, LOKI_SERVICE, {"number": LOKI_PORT}),
}


def push_ingress(route: str, host: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """A push endpoint (`PUSH_ROUTES`): only its path, over TLS, behind basic auth (Traefik Ingress annotations).

    Served on Traefik's push entry point only, so only through the push load balancer; its
    certificate comes from the project CA's Issuer in the same namespace (cert-manager
    ingress-shim: `cert-manager.io/issuer` names an Issuer of the Ingress's namespace). Its
    `status.loadBalancer` shows the hub's load balancer all the same (Traefik publishes one address
    for every Ingress: the default Service's, or `ingressEndpoint.ip` on rke2); the DNS records
    are Meridian's own and point at the push load balancer (`Ingress.push_addresses`).
    """
    name, path, service, port = PUSH_ROUTES[route]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": dict(labels),
            "annotations": {
                "cert-manager.io/issuer": PUSH_ISSUER,
                # Traefik: the router serves TLS only, through the namespace's basicAuth Middleware
                # (traefik docs, Kubernetes Ingress: router.entrypoints, router.tls, router.middlewares
                # `<ns>-<name>@kubernetescrd`).
                "traefik.ingress.kubernetes.io/router.entrypoints": PUSH_ENTRY,
                "traefik.ingress.kubernetes.io/router.tls": "true",
                "traefik.ingress.kubernetes.io/router.middlewares": f"{NAMESPACE}-{PUSH_MIDDLEWARE}@kubernetescrd",
            },
        },
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {"path": path, "pathType": "Exact", "backend": {"service": {"name": service, "port": port}}}
                        ]
                    },
                }
            ],
        },
    }


def push_issuer(labels: Mapping[str, str]) -> dict[str, Any]:
    """cert-manager's CA Issuer signing with the project CA's key pair.

    cert-manager docs, CA issuer: `spec.ca.secretName` names a Secret with `tls.crt` and `tls.key`
    in the Issuer's namespace.
    """
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": PUSH_ISSUER, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {"ca": {"secretName": PUSH_CA_SECRET}},
    }


def push_middleware(labels: Mapping[str, str]) -> dict[str, Any]:
    """Traefik's basicAuth Middleware reading the htpasswd Secret (traefik docs, middlewares: BasicAuth)."""
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": PUSH_MIDDLEWARE, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {"basicAuth": {"secret": PUSH_USERS_SECRET, "removeHeader": True}},
    }


class CentralObservability(pulumi.ComponentResource):
    """The project's central stack and the central cluster's own collector (see the module docstring)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Build the central stack on `context.cluster_name`.

        :param name: `<cluster>-central-observability`.
        :param context: the central cluster's add-on context; its ingress add-on is installed.
        :param opts: options of the component.
        """
        super().__init__("meridian:addons:CentralObservability", name, None, opts)
        import pulumi_kubernetes as k8s
        import pulumi_random as random

        from .. import secrets
        from . import alerts, dashboards, probes
        from .dns import public_record
        from .external_secrets import delivered_at_run_time, runtime_secret

        spec = context.spec
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert spec is not None and spec.observability is not None, "applies only when declared"
        # pragma: no mutate end
        observability = spec.observability
        central = observability.central
        cluster_name, labels = context.cluster_name, context.labels
        acme = context.cluster.addons.ingress.acme
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert acme is not None, "the spec requires the central cluster's ingress to have an ACME account"
        # pragma: no mutate end
        ingress = context.installed["ingress"]
        # pragma: no mutate start - narrows a type for mypy; the ingress add-on is installed first
        assert isinstance(ingress, Ingress)
        # pragma: no mutate end
        on_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)

        refs = receiver_secret_refs(observability)
        names = sorted(refs)
        config: pulumi.Output[str] = pulumi.Output.all(*(secrets.secret(refs[name]) for name in names)).apply(
            # Output.all gives one value per name, so `strict` can never fire.
            lambda values: dump(
                alertmanager_config(observability, dict(zip(names, values, strict=True)))  # pragma: no mutate - above
            )
        )
        config = pulumi.Output.secret(config)
        # The Secrets the stack's release reads live in `monitoring`: made after it.
        monitoring = monitoring_namespace(self, context)
        after_namespace = pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[monitoring])
        alertmanager_secret = k8s.core.v1.Secret(
            f"{cluster_name}-alertmanager-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ALERTMANAGER_SECRET, namespace=NAMESPACE, labels=labels),
            string_data={"alertmanager.yaml": config},
            opts=after_namespace,
        )
        admin = random.RandomPassword(f"{cluster_name}-grafana-admin", length=32, special=False, opts=on_cluster)
        #: Grafana's break-glass admin password (secret): what Vault write-back stores.
        self.grafana_admin_password: pulumi.Output[str] = pulumi.Output.secret(admin.result)
        generated: dict[str, pulumi.Input[str]] = {"admin-user": "admin", "admin-password": admin.result}
        oauth_ref = {"oauth-client-secret": central.login.client_secret}
        oauth_secret = GRAFANA_SECRET
        secrets_first: list[pulumi.Resource] = []
        if delivered_at_run_time(context, list(oauth_ref.values())):
            # The cluster reads the client secret from Vault itself: it never passes through the stack.
            # Grafana's pod cannot start without it: the release waits for the ExternalSecret, which
            # is created once its Ready condition holds, the Secret written (external_secrets.WAIT_READY).
            oauth_secret = GRAFANA_OAUTH_SECRET
            secrets_first.append(runtime_secret(
                f"{cluster_name}-grafana-oauth", context, name=oauth_secret, namespace=NAMESPACE, data=oauth_ref,
                parent=self, depends_on=[monitoring],
            ))  # fmt: skip
        else:
            generated["oauth-client-secret"] = secrets.secret(central.login.client_secret)
        grafana_secret = k8s.core.v1.Secret(
            f"{cluster_name}-grafana-secrets",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_SECRET, namespace=NAMESPACE, labels=labels),
            string_data=generated,
            opts=after_namespace,
        )
        metrics_store = object_store(
            "metrics", context, self, [(NAMESPACE, PROMETHEUS_SERVICE_ACCOUNT), (NAMESPACE, thanos.SERVICE_ACCOUNT)]
        )
        self.collector = collector_objects(
            self,
            context,
            observability,
            IN_CLUSTER,
            stack_values=central_stack_values(observability, acme.issuer, metrics_store.role_arn, oauth_secret),
            depends_on=[alertmanager_secret, grafana_secret, *secrets_first, ingress],
            namespace=monitoring,
        )
        thanos_needs = self._thanos(cluster_name, context, observability, metrics_store)
        stack = self.collector["stack"]
        prometheus = kubernetes_object(
            f"{cluster_name}-central-prometheus",
            central_prometheus(observability, labels),
            provider=context.provider,
            parent=self,
            depends_on=[stack, *thanos_needs],
        )
        for suffix, document in (
            ("central-prometheus-service", central_service(labels)),
            ("central-prometheus-policy", central_policy(labels)),
            ("alertmanager-policy", alertmanager_policy(labels)),
        ):
            kubernetes_object(
                f"{cluster_name}-{suffix}",
                document,
                provider=context.provider,
                parent=self,
                depends_on=[self.collector["namespace"]],
            )
        project = spec.project.name
        password = secrets.secret(observability.push_password)
        users = k8s.core.v1.Secret(
            f"{cluster_name}-push-users",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PUSH_USERS_SECRET, namespace=NAMESPACE, labels=labels),
            string_data={"users": _htpasswd_of(project, password)},
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=[self.collector["namespace"]]
            ),
        )
        middleware = kubernetes_object(
            f"{cluster_name}-push-auth",
            push_middleware(labels),
            provider=context.provider,
            parent=self,
            depends_on=[users, ingress],
        )
        ca = authority(context.project)
        in_monitoring = pulumi.ResourceOptions(
            parent=self, provider=context.provider, depends_on=[self.collector["namespace"]]
        )
        keypair = k8s.core.v1.Secret(
            f"{cluster_name}-push-ca-keypair",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PUSH_CA_SECRET, namespace=NAMESPACE, labels=labels),
            type="kubernetes.io/tls",
            string_data={"tls.crt": ca.cert_pem, "tls.key": ca.key_pem},
            opts=in_monitoring,
        )
        # The Issuer's CRD and admission webhook come with the ingress add-on's cert-manager release.
        issuer = kubernetes_object(
            f"{cluster_name}-push-issuer",
            push_issuer(labels),
            provider=context.provider,
            parent=self,
            depends_on=[keypair, ingress],
        )
        ca_bundle = ca_configmap(f"{cluster_name}-push-ca", NAMESPACE, ca.cert_pem, labels, in_monitoring)
        logs_store = object_store("logs", context, self, [(NAMESPACE, LOKI_SERVICE_ACCOUNT)])
        storage_needs = list(logs_store.needs)
        service_account: dict[str, Any] = {}
        if logs_store.role_arn is not None:
            service_account = {"annotations": {IRSA_ANNOTATION: logs_store.role_arn}}
        if logs_store.credential_secret_ref is not None:
            storage_needs.append(
                k8s.core.v1.Secret(
                    f"{cluster_name}-loki-storage",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=LOKI_STORAGE_SECRET, namespace=NAMESPACE, labels=labels),
                    string_data={
                        "SWIFT_APPLICATION_CREDENTIAL_SECRET": secrets.secret(logs_store.credential_secret_ref)
                    },
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=context.provider, depends_on=[self.collector["namespace"]]
                    ),
                )
            )
        loki_release = chart_release(
            f"{cluster_name}-loki",
            LOKI_CHART,
            namespace=NAMESPACE,
            values=loki_values(observability, loki_storage(logs_store), service_account),
        )
        loki = deliver(
            loki_release,
            provider=context.provider,
            parent=self,
            depends_on=[self.collector["namespace"], *storage_needs, *context.waits(loki_release)],
            namespace=NAMESPACE,
        )
        kubernetes_object(
            f"{cluster_name}-loki-policy",
            loki_policy(labels),
            provider=context.provider,
            parent=self,
            depends_on=[self.collector["namespace"]],
        )
        for route, host, backend in (
            ("metrics", central.metrics_hostname, prometheus),
            ("logs", central.logs_hostname, loki),
        ):
            kubernetes_object(
                f"{cluster_name}-{PUSH_ROUTES[route][0].removeprefix('central-')}",
                push_ingress(route, host, labels),
                provider=context.provider,
                parent=self,
                depends_on=[middleware, issuer, backend],
            )
        kubernetes_object(
            f"{cluster_name}-alert-rules",
            alerts.prometheus_rule("meridian-alerts", NAMESPACE, {**labels, **RULE_LABEL}, observability.thresholds),
            provider=context.provider,
            parent=self,
            depends_on=[stack],
        )
        blackbox_record = probes.blackbox_release(cluster_name, NAMESPACE)
        blackbox = deliver(
            blackbox_record,
            provider=context.provider,
            parent=self,
            depends_on=[self.collector["namespace"], ca_bundle, *context.waits(blackbox_record)],
            namespace=NAMESPACE,
        )
        for target in probes.probe_targets(spec):
            kubernetes_object(
                f"{cluster_name}-probe-{target['name']}",
                probes.probe(target, NAMESPACE, labels),
                provider=context.provider,
                parent=self,
                depends_on=[stack, blackbox],
            )
        for document in dashboards.dashboard_configmaps(NAMESPACE, labels):
            kubernetes_object(
                f"{cluster_name}-dashboard-{document['metadata']['name']}",
                document,
                provider=context.provider,
                parent=self,
                depends_on=[self.collector["namespace"]],
            )
        for role, hostname, addresses, what in (
            ("grafana", central.grafana_hostname, ingress.addresses, "Grafana, the project's central view,"),
            ("metrics", central.metrics_hostname, ingress.push_addresses, "the central remote-write endpoint"),
            ("logs", central.logs_hostname, ingress.push_addresses, "the central log push endpoint"),
        ):
            public_record(f"{cluster_name}-{role}", hostname, addresses, context.site, self, what)
        self.register_outputs(
            {
                "grafana": f"https://{central.grafana_hostname}",
                "remote_write": f"https://{central.metrics_hostname}{REMOTE_WRITE_PATH}",
                "logs": f"https://{central.logs_hostname}{LOKI_PUSH_PATH}",
            }
        )

    def _thanos(
        self, cluster_name: str, context: AddonContext, observability: ObservabilitySpec, store: ObjectStore
    ) -> list[pulumi.Resource]:
        """The objstore Secret and the Thanos objects (thanos.py); returns what the sidecar needs first."""
        import pulumi_kubernetes as k8s

        from .. import secrets

        namespace = self.collector["namespace"]
        if store.credential_secret_ref is not None:
            secret = secrets.secret(store.credential_secret_ref)
            config: pulumi.Output[str] = pulumi.Output.all(store.name, secret).apply(
                lambda found: dump(thanos.objstore_config(store, found[0], found[1]))
            )
        else:
            config = store.name.apply(lambda name: dump(thanos.objstore_config(store, name)))
        config = pulumi.Output.secret(config)
        objstore = k8s.core.v1.Secret(
            f"{cluster_name}-thanos-objstore",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=thanos.OBJSTORE_SECRET, namespace=NAMESPACE, labels=context.labels
            ),
            string_data={thanos.OBJSTORE_KEY: config},
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[namespace]),
        )
        account: dict[str, Any] = {}
        if store.role_arn is not None:
            account = {"annotations": {IRSA_ANNOTATION: store.role_arn}}
        needs: list[pulumi.Resource] = [objstore, *store.needs]
        for role, document in thanos.thanos_documents(observability, NAMESPACE, context.labels, account).items():
            kubernetes_object(
                f"{cluster_name}-{role}",
                document,
                provider=context.provider,
                parent=self,
                depends_on=[namespace, *needs],
            )
        return needs
