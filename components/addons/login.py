"""The project's login in front of an MLOps service: oauth2-proxy with the project's OIDC provider.

MLflow's tracking server and the served models have no login of their own that knows the
project's identity provider, so each is published behind oauth2-proxy (v7.15.3): browsers get the
provider's login, API clients send an ID token the provider issued to the same client as a bearer
token (`--skip-jwt-bearer-tokens`, verified against the issuer's keys and the client as audience),
and only members of `mlops.login.allowed_groups` pass. `publish` builds, for one service
(`<p>` the resource prefix the caller gives):

* `<p>-oidc`                      Secret (or ExternalSecret) `<proxy>-oidc`: the OAuth client secret
* `<p>-cookie-secret`, `<p>-cookie`
                                  the generated cookie key (random.RandomPassword) and Secret `<proxy>-cookie`
* `<p>-login`, `<p>-login-service`, `<p>-login-budget`
                                  oauth2-proxy's Deployment, Service `<proxy>` and PodDisruptionBudget
* `<p>-ingress`                   the hostname's Ingress to the proxy, TLS from the cluster's ACME issuer
* `<p>-login-policy`              NetworkPolicy: only Traefik's pods (and the collector, its metrics) reach the proxy
* `<p>-login-monitor`             on observed clusters: a ServiceMonitor of the proxy's metrics
* `<p>-dns`                       the hostname's A record at the ingress load balancer (dns.py)

The provider's client must allow `https://<hostname>/oauth2/callback` as a redirect URI for every
hostname published so (one client, `mlops.login.client_id`, for all of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from ..spec.mlops import OidcLoginSpec
from .base import AddonContext, container_resources, kubernetes_object
from .dns import public_record
from .ingress import INGRESS_CLASS, TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS, Ingress

#: oauth2-proxy's image (CHANGELOG v7.15.3; v7.15.2 fixed authentication bypasses).
PROXY_IMAGE = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3"
#: It listens on 4180 (`--http-address`, whose default binds 127.0.0.1 only) and serves /metrics on
#: a port of its own (`--metrics-address`, off by default).
PROXY_PORT = 4180
PROXY_METRICS_PORT = 44180
#: The user its distroless image runs as (CHANGELOG, #1478: 65532).
PROXY_UID = 65532
#: Letters and digits of the cookie key: 43 decode (base64, URL alphabet) to 32 bytes (`publish`).
COOKIE_SECRET_LENGTH = 43
#: How long the proxy waits for the service's answer (`--upstream-timeout`, default 30 s): an
#: upload is answered only once it is stored.
UPSTREAM_TIMEOUT = "15m"
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def restricted_pod(uid: int) -> dict[str, Any]:
    """Pod Security restricted, as a pod states it."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}}


def spread(selector: Mapping[str, str]) -> dict[str, Any]:
    """Replicas on different nodes where the cluster has them."""
    return {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": dict(selector)},
    }


@dataclass(frozen=True)
class LoginProxy:
    """One service's login: where it is published and what it forwards to."""

    #: The proxy's Deployment and Service name (`mlflow-login`).
    name: str
    namespace: str
    hostname: str
    #: The service's in-cluster URL, with its trailing slash (every path is forwarded).
    upstream: str
    replicas: int
    #: The proxy pods' labels (its selector).
    pods: Mapping[str, str]
    #: Paths of the service's API: a request without a session gets 401 there, not the login page.
    api_routes: tuple[str, ...] = ()

    @property
    def oidc_secret(self) -> str:
        """The Secret with the OAuth client secret."""
        return f"{self.name}-oidc"

    @property
    def cookie_secret(self) -> str:
        """The Secret with the generated cookie key."""
        return f"{self.name}-cookie"


def login_args(login: OidcLoginSpec, proxy: LoginProxy) -> list[str]:
    """oauth2-proxy's arguments (v7.15 docs/configuration/overview.md): the project's OIDC provider, its groups."""
    return [
        "--provider=oidc",
        f"--oidc-issuer-url={login.issuer}",
        f"--client-id={login.client_id}",
        f"--redirect-url=https://{proxy.hostname}/oauth2/callback",
        f"--http-address=0.0.0.0:{PROXY_PORT}",
        f"--metrics-address=0.0.0.0:{PROXY_METRICS_PORT}",
        f"--upstream={proxy.upstream}",
        f"--oidc-groups-claim={login.groups_claim}",
        *(f"--allowed-group={group}" for group in login.allowed_groups),
        f"--scope={' '.join(login.scopes)}",
        # Who gets in is decided by groups: any address, verified by the provider or not (an
        # unverified one is refused otherwise: providers/provider_data.go, email_verified).
        "--email-domain=*",
        "--insecure-oidc-allow-unverified-email=true",
        "--code-challenge-method=S256",
        "--skip-jwt-bearer-tokens=true",
        *(f"--api-route={route}" for route in proxy.api_routes),
        f"--upstream-timeout={UPSTREAM_TIMEOUT}",
        # Behind Traefik, whose pods alone reach the proxy (its NetworkPolicy).
        "--reverse-proxy=true",
        "--cookie-secure=true",
        f"--cookie-name=_{proxy.name.replace('-', '_')}",
        "--cookie-expire=12h",
        "--skip-provider-button=true",
        "--silence-ping-logging=true",
    ]


def login_deployment(login: OidcLoginSpec, proxy: LoginProxy, labels: Mapping[str, str]) -> dict[str, Any]:
    """oauth2-proxy's Deployment: its secrets from the environment (OAUTH2_PROXY_<FLAG>), probes /ping and /ready."""
    env = [
        {
            "name": "OAUTH2_PROXY_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"name": proxy.oidc_secret, "key": "client-secret"}},
        },
        {
            "name": "OAUTH2_PROXY_COOKIE_SECRET",
            "valueFrom": {"secretKeyRef": {"name": proxy.cookie_secret, "key": "cookie-secret"}},
        },
    ]
    container = {
        "name": "oauth2-proxy",
        "image": PROXY_IMAGE,
        "args": login_args(login, proxy),
        "env": env,
        "ports": [
            {"name": "http", "containerPort": PROXY_PORT},
            {"name": "metrics", "containerPort": PROXY_METRICS_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": container_resources("50m", "64Mi", "256Mi"),
        "securityContext": RESTRICTED_CONTAINER,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": proxy.name, "namespace": proxy.namespace, "labels": {**labels, **proxy.pods}},
        "spec": {
            "replicas": proxy.replicas,
            "selector": {"matchLabels": dict(proxy.pods)},
            "template": {
                "metadata": {"labels": {**labels, **proxy.pods}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod(PROXY_UID),
                    "containers": [container],
                    "topologySpreadConstraints": [spread(proxy.pods)],
                },
            },
        },
    }


def service_document(
    name: str, namespace: str, selector: Mapping[str, str], ports: Sequence[tuple[str, int]], labels: Mapping[str, str]
) -> dict[str, Any]:
    """A ClusterIP Service of `selector`'s pods, ports by name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **selector}},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [{"name": port, "port": number, "targetPort": port} for port, number in ports],
        },
    }


def budget_document(
    name: str, namespace: str, selector: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, Any]:
    """A PodDisruptionBudget: one pod may go at a time (`maxUnavailable`, so a single replica never blocks a drain)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
    }


def ingress_document(proxy: LoginProxy, issuer: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The hostname's Ingress to the proxy, its certificate from the ACME issuer (cert-manager ingress-shim)."""
    backend = {"service": {"name": proxy.name, "port": {"name": "http"}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": proxy.name,
            "namespace": proxy.namespace,
            "labels": dict(labels),
            "annotations": {"cert-manager.io/cluster-issuer": issuer},
        },
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [proxy.hostname], "secretName": f"{proxy.name}-tls"}],
            "rules": [{"host": proxy.hostname, "http": {"paths": [path]}}],
        },
    }


def from_namespace(name: str, pods: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A NetworkPolicy peer: a namespace by name, and of it the pods with `pods`' labels if given."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
    if pods is not None:
        peer["podSelector"] = {"matchLabels": dict(pods)}
    return peer


def network_policy(
    name: str, namespace: str, pods: Mapping[str, str], rules: list[dict[str, Any]], labels: Mapping[str, str]
) -> dict[str, Any]:
    """A NetworkPolicy admitting only `rules` to `pods` (where the cluster's CNI enforces policies)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"podSelector": {"matchLabels": dict(pods)}, "policyTypes": ["Ingress"], "ingress": rules},
    }


def proxy_policy(proxy: LoginProxy, observed: bool, labels: Mapping[str, str]) -> dict[str, Any]:
    """Traefik's pods reach the proxy; the collector its metrics port."""
    from .observability import NAMESPACE as COLLECTOR_NAMESPACE

    rules: list[dict[str, Any]] = [
        {"from": [from_namespace(TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS)], "ports": [{"port": "http"}]}
    ]
    if observed:
        rules.append({"from": [from_namespace(COLLECTOR_NAMESPACE)], "ports": [{"port": "metrics"}]})
    return network_policy(proxy.name, proxy.namespace, proxy.pods, rules, labels)


def publish(
    prefix: str,
    context: AddonContext,
    parent: pulumi.Resource,
    login: OidcLoginSpec,
    proxy: LoginProxy,
    *,
    after: Sequence[pulumi.Resource],
    what: str,
) -> pulumi.Resource:
    """Publish `proxy.hostname` behind the login (the objects in the module docstring); returns the proxy.

    :param after: what the proxy waits for (the namespace, the service it forwards to).
    :param what: what the hostname serves, for its DNS record.
    """
    import pulumi_kubernetes as k8s
    import pulumi_random as random

    from .external_secrets import runtime_secret

    labels, provider = context.labels, context.provider

    def own(resource: str, document: Mapping[str, Any], *depends: pulumi.Resource) -> pulumi.CustomResource:
        return kubernetes_object(resource, document, provider=provider, parent=parent, depends_on=depends)

    oidc = runtime_secret(
        f"{prefix}-oidc",
        context,
        name=proxy.oidc_secret,
        namespace=proxy.namespace,
        data={"client-secret": login.client_secret},
        parent=parent,
        depends_on=list(after),
    )
    # oauth2-proxy's cookie key must be 16, 24 or 32 bytes (pkg/validation/cookie.go), after it
    # base64-decodes what decodes (pkg/encryption/utils.go `SecretBytes`, unpadded URL alphabet):
    # 32 letters and digits would decode to 24 bytes (AES-192); 43 decode to 32, an AES-256 key.
    cookie_key = random.RandomPassword(
        f"{prefix}-cookie-secret",
        length=COOKIE_SECRET_LENGTH,
        special=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    cookie = k8s.core.v1.Secret(
        f"{prefix}-cookie",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=proxy.cookie_secret, namespace=proxy.namespace, labels=labels),
        type="Opaque",
        string_data={"cookie-secret": cookie_key.result},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(after)),
    )
    deployment = own(f"{prefix}-login", login_deployment(login, proxy, labels), oidc, cookie, *after)
    ports = [("http", PROXY_PORT), ("metrics", PROXY_METRICS_PORT)]
    own(f"{prefix}-login-service", service_document(proxy.name, proxy.namespace, proxy.pods, ports, labels), *after)
    own(f"{prefix}-login-budget", budget_document(proxy.name, proxy.namespace, proxy.pods, labels), *after)
    acme = context.cluster.addons.ingress.acme
    assert acme is not None, "the spec gives the MLOps cluster's ingress its ACME account"
    ingress = cast(Ingress, context.installed["ingress"])  # pragma: no mutate - cast does nothing at run time
    own(f"{prefix}-ingress", ingress_document(proxy, acme.issuer, labels), deployment, ingress)
    observed = context.cluster.addons.observed
    own(f"{prefix}-login-policy", proxy_policy(proxy, observed, labels), *after)
    if observed:
        from .observability import service_monitor

        monitor = service_monitor(proxy.name, proxy.namespace, proxy.pods, "metrics", labels)
        own(f"{prefix}-login-monitor", monitor, deployment, context.installed["observability"])
    public_record(prefix, proxy.hostname, ingress.addresses, context.site, parent, what)
    return deployment
