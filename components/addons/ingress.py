"""Ingress: Traefik as the cluster's ingress controller, cert-manager and an ACME ClusterIssuer.

Children of `<c>-ingress` (`meridian:addons:Ingress`, parented to the cluster; through its provider):

* `<c>-ingress`                       networking.FloatingIp (OpenStack sites): the load balancer's address
* `<c>-ingress-<zone>`                ec2.Eip per availability zone (AWS sites): the NLB's addresses
* rke2 only: `<c>-ingress` loadbalancer.LoadBalancer with FloatingIpAssociate, `<c>-ingress-{80,443}`
  Listener, Pool and Monitor, a Member per agent on Traefik's node port, and
  `<c>-nodes-tcp-{30080,30443}` SecGroupRules admitting the load balancer to the nodes
* central observability cluster only: the same again for the push entry point, named `<c>-push`
  (`<c>-push`, `<c>-push-<zone>`; on rke2 `<c>-push-443` and `<c>-nodes-tcp-30444`), admitting the
  observed sites only (`PUSH_ENTRY`)
* `<c>-traefik`, `<c>-cert-manager`   core/v1 Namespaces (Pod Security restricted)
* `<c>-traefik`                       helm.v3.Release of traefik/traefik at the locked version
* `<c>-cert-manager`                  helm.v3.Release of jetstack/cert-manager at the locked version (with CRDs)
* `<c>-letsencrypt-<environment>`     cert-manager.io/v1 ClusterIssuer (only with an ACME account in the spec)
* `<c>-cert-manager-role`             iam.Role cert-manager's service account assumes (IRSA; DNS-01 on AWS), with
                                      `<c>-cert-manager-dns01` iam.RolePolicy: TXT records in the site's zone only

Why Traefik: ingress-nginx ended maintenance in March 2026; Traefik is maintained, serves the
`networking.k8s.io/v1` Ingress that the zero-to-jupyterhub chart renders natively, and is
what the offline mirror carries. The Gateway API (whose CRDs the mirror also has) would need
the hub's HTTPRoute and cert-manager's Gateway support switched on; Ingress is the path both
charts support by default, so the hub uses it.

The controller's LoadBalancer Service admits only the spec's `allowed_sources`
(`loadBalancerSourceRanges`; CIDRs and `site:<name>` resolved to that site's egress addresses,
components/reachability.py). On OpenStack, cloud-provider-openstack turns the ranges into the
Octavia listener's allowed_cidrs (amphora provider: the spec refuses ovn); on EKS the cloud
provider (cloud-provider-aws, which EKS runs) admits them to the nodes' security group, since a
Network Load Balancer keeps the client's address.

On rke2 nothing in the cluster makes load balancers (cloud-provider-openstack is not installed):
Meridian builds the Octavia load balancer itself, as it does for the cluster's API, in front of
Traefik's node ports on every agent; the listeners carry the allow-list (`allowed_cidrs`).

Meridian owns the load balancer's public addresses on both clouds, so DNS records point at them
from the first `pulumi up` and survive a replaced Service: a floating IP on OpenStack, one
Elastic IP per availability zone on AWS (a Network Load Balancer has one address per zone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from ..spec import PlatformSpec
from ..spec.addons import AcmeSpec
from .base import AddonContext, ChartRelease, chart_release, container_resources
from .base import namespace as addon_namespace

#: The IngressClass Traefik serves (and the only one Meridian's Ingresses name).
INGRESS_CLASS = "traefik"
TRAEFIK_NAMESPACE = "traefik"
#: Labels of the chart's Traefik pods for release `traefik` in TRAEFIK_NAMESPACE.
TRAEFIK_POD_LABELS = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": f"traefik-{TRAEFIK_NAMESPACE}"}
CERT_MANAGER_NAMESPACE = "cert-manager"
#: Let's Encrypt's ACME v2 directories (letsencrypt.org/docs/staging-environment, /docs/acme-protocol-updates).
ACME_SERVERS = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


REDIRECT_TO_HTTPS = {"to": "websecure", "scheme": "https", "permanent": True}
#: Strict-Transport-Security on every HTTPS answer of the public entry point: a browser that has
#: seen a Meridian host once never asks it over plain HTTP again, so a cookie set without the
#: Secure attribute (Argo Workflows' SSO cookies when the server itself runs without TLS:
#: argo-workflows server/apiserver/argoserver.go passes `TLSConfig != nil` to sso.New) is never
#: sent in clear. A headers middleware of Traefik's file provider (dynamic configuration
#: `http.middlewares.<name>.headers.stsSeconds`; Traefik sends it on TLS requests only), named on
#: the entry point so that every router gets it. One year; no includeSubDomains or preload, which
#: would bind hosts Meridian does not run.
HSTS_MIDDLEWARE = "meridian-hsts"
HSTS_SECONDS = 31536000

#: cloud-provider-aws Service annotations (pkg/providers/v1/aws.go): a Network Load Balancer, in
#: the given subnets, with the given Elastic IP allocations (one per subnet, so one per zone: "Must
#: have same number of EIP AllocationIDs and SubnetIDs"; NLB only).
AWS_LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
AWS_LB_SUBNETS = "service.beta.kubernetes.io/aws-load-balancer-subnets"
AWS_LB_EIPS = "service.beta.kubernetes.io/aws-load-balancer-eip-allocations"
#: cloud-provider-aws turns cross-zone load balancing off on the NLBs it makes unless this says
#: otherwise (aws_loadbalancer.go reconcileLBAttributes). Off, a zone's address reaches only targets
#: in that zone, and a zone with no node (small pools spread over three zones) would answer nothing
#: on the address the DNS record still lists: on, every address reaches every node.
AWS_LB_CROSS_ZONE = "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled"
OPENSTACK_KEEP_FLOATING_IP = "loadbalancer.openstack.org/keep-floatingip"
OPENSTACK_TIMEOUT_CLIENT_DATA = "loadbalancer.openstack.org/timeout-client-data"
OPENSTACK_TIMEOUT_MEMBER_DATA = "loadbalancer.openstack.org/timeout-member-data"
#: Traefik's node ports on rke2, behind Meridian's Octavia load balancer (inside the API server's
#: default node-port range, 30000-32767), by the entry point and public port they serve.
NODE_PORTS = {"web": (80, 30080), "websecure": (443, 30443)}
#: The central observability's push entry point (central cluster only): its own Traefik port, in
#: its own Service `traefik-push` (the chart's `service.additionalServices`, named
#: `<fullname>-<key>` by templates/_service.tpl) behind a load balancer of its own that admits the
#: project's sites only, while the hub and Grafana stay on the default Service's load balancer.
PUSH_ENTRY = "push"
PUSH_SERVICE_KEY = "push"
#: The entry point's port inside the pod (unprivileged, and not websecure's 8443: chart values.yaml
#: `ports.websecure.port`), its public port and, on rke2, node port.
PUSH_CONTAINER_PORT = 8444
PUSH_NODE_PORTS = {PUSH_ENTRY: (443, 30444)}


def openstack_load_balancer(address: pulumi.Input[str]) -> dict[str, Any]:
    """The controller Service's settings that give Octavia's load balancer Meridian's floating IP.

    cloud-provider-openstack attaches an existing floating IP named in spec.loadBalancerIP to the
    load balancer it creates (OCCM docs, "Exposing applications using services of LoadBalancer
    type"; the field is deprecated in Kubernetes but kept, kubernetes#107235), and keeps it when
    the Service goes (annotation keep-floatingip). Its listeners' idle timeouts are the ones
    Meridian's own load balancers have (octavia.IDLE_TIMEOUT_MS): without the annotations OCCM
    sets Octavia's 50 s (cloud-provider-openstack v1.35.0 pkg/openstack/loadbalancer.go, applied
    only where the provider supports timeouts, so harmless on OVN).
    """
    from ..octavia import IDLE_TIMEOUT_MS

    return {
        "spec": {"loadBalancerIP": address},
        "annotations": {
            OPENSTACK_KEEP_FLOATING_IP: "true",
            OPENSTACK_TIMEOUT_CLIENT_DATA: str(IDLE_TIMEOUT_MS),
            OPENSTACK_TIMEOUT_MEMBER_DATA: str(IDLE_TIMEOUT_MS),
        },
    }


def aws_load_balancer(allocations: Sequence[pulumi.Input[str]], subnets: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """The controller Service's annotations for an internet-facing NLB on Meridian's Elastic IPs.

    One allocation per public subnet (cloud-provider-aws refuses unequal counts, and pairs them in
    the order EC2 describes the subnets: any Elastic IP of the region fits any of them); the subnets
    are the site's public ones, one per zone, which also carry the `kubernetes.io/role/elb` tag its
    discovery would pick them by. cloud-provider-aws reads both only when it creates the NLB: a zone
    added to the site later gets its Elastic IP (and DNS answer) only once the Service is recreated
    (README, "Ingress and certificates").
    """
    if len(allocations) != len(subnets):
        raise ValueError(f"{len(allocations)} Elastic IPs for {len(subnets)} public subnets: one per zone")
    return {
        "annotations": {
            AWS_LB_TYPE: "nlb",
            AWS_LB_SUBNETS: pulumi.Output.all(*subnets).apply(",".join),
            AWS_LB_EIPS: pulumi.Output.all(*allocations).apply(",".join),
            AWS_LB_CROSS_ZONE: "true",
        }
    }


def node_port_service(
    address: pulumi.Input[str], node_ports: Mapping[str, tuple[int, int]] = NODE_PORTS
) -> dict[str, Any]:
    """The controller's settings behind a load balancer Meridian builds (rke2): fixed node ports.

    A NodePort Service has no load-balancer status for Traefik to copy into its Ingresses
    (publishedService), so it publishes the floating IP itself (kubernetesIngress.ingressEndpoint.ip).

    :param node_ports: entry point -> (public port, node port): `NODE_PORTS`, or `PUSH_NODE_PORTS`.
    """
    return {
        "spec": {"type": "NodePort"},
        "ports": {entry: {"nodePort": node_port} for entry, (_, node_port) in node_ports.items()},
        "ingress_endpoint": address,
    }


def _service(source_ranges: pulumi.Input[Sequence[str]], cloud: Mapping[str, Any]) -> dict[str, Any]:
    """A Service of the chart (the default or an additional one): its type, allow-list and cloud settings."""
    service: dict[str, Any] = {
        "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": source_ranges, **cloud.get("spec", {})}
    }
    if service["spec"]["type"] == "NodePort":
        # Kubernetes accepts the field on LoadBalancer Services only; the listeners filter instead.
        del service["spec"]["loadBalancerSourceRanges"]
    if "annotations" in cloud:
        service["annotations"] = cloud["annotations"]
    return service


@dataclass(frozen=True)
class PushEntry:
    """The central cluster's push entry point: who may reach it, and its load balancer's settings."""

    source_ranges: pulumi.Input[Sequence[str]]
    load_balancer: Mapping[str, Any]


def traefik_values(
    source_ranges: pulumi.Input[Sequence[str]],
    load_balancer: dict[str, Any] | None = None,
    push: PushEntry | None = None,
) -> dict[str, Any]:
    """Traefik chart values: an IngressClass, HTTPS with HTTP redirected, the allow-list on the LB.

    :param load_balancer: the Service's cloud settings (`spec` fields, `annotations`, node `ports`, an
        `ingress_endpoint`) that put the load balancer on addresses Meridian owns
        (`openstack_load_balancer`, `aws_load_balancer`, `node_port_service`).
    :param push: the central observability's push entry point, in a Service and load balancer of
        its own; Traefik then also serves Middleware objects (the kubernetesCRD provider), which
        the push Ingresses name in an annotation for their basic auth.
    """
    cloud = load_balancer or {}
    service = _service(source_ranges, cloud)
    ports: dict[str, Any] = {
        # Plain HTTP answers with a permanent redirect to HTTPS. ACME HTTP-01 challenges
        # follow it: Let's Encrypt follows redirects to HTTPS on port 443 without checking the
        # certificate (letsencrypt.org/docs/challenge-types, HTTP-01), and so does cert-manager's
        # self-check (pkg/issuer/acme/http/http.go testReachability: InsecureSkipVerify).
        # Both are Traefik's default entry points (`asDefault`): a router of an Ingress that names
        # no entry point is served on them only (Traefik docs, EntryPoints: asDefault; with none
        # marked, every entry point would be a default), never on the push entry point.
        "web": {"asDefault": True, "http": {"redirections": {"entryPoint": REDIRECT_TO_HTTPS}}},
        # Traefik v3 reads a request for 60 s at most by default (entry point
        # respondingTimeouts.readTimeout): enough for pages, not for a model file uploaded to MLflow.
        "websecure": {
            "asDefault": True,
            "http": {"tls": {"enabled": True}, "middlewares": [f"{HSTS_MIDDLEWARE}@file"]},
            "transport": {"respondingTimeouts": {"readTimeout": "15m"}},
        },
    }
    if push is not None:
        ports[PUSH_ENTRY] = {
            "port": PUSH_CONTAINER_PORT,
            "exposedPort": PUSH_NODE_PORTS[PUSH_ENTRY][0],
            # On the push Service only (templates/_service.tpl: a port joins the Services its
            # `expose` map names).
            "expose": {"default": False, PUSH_SERVICE_KEY: True},
            "protocol": "TCP",
            "http": {"tls": {"enabled": True}},
        }
        service["additionalServices"] = {PUSH_SERVICE_KEY: _service(push.source_ranges, push.load_balancer)}
        for entry, settings in push.load_balancer.get("ports", {}).items():
            ports[entry] = {**ports[entry], **settings}
    for entry, settings in cloud.get("ports", {}).items():
        ports[entry] = {**ports[entry], **settings}
    published: dict[str, Any] = {"enabled": True, "publishedService": {"enabled": True}}
    if "ingress_endpoint" in cloud:
        published = {
            "enabled": True,
            "publishedService": {"enabled": False},
            "ingressEndpoint": {"ip": cloud["ingress_endpoint"]},
        }
    return {
        "deployment": {"replicas": 2},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        # Not the cluster's default class, so other controllers' Ingresses stay theirs. (Traefik
        # also serves Ingresses that name no class at all; Meridian's always name this one.)
        "ingressClass": {"enabled": True, "isDefaultClass": False, "name": INGRESS_CLASS},
        # The two replicas on different nodes where there are two (a node drain keeps one).
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                # The chart's pod labels for release `traefik` in namespace `traefik`
                # (templates/_helpers.tpl: instance is <release>-<namespace>).
                "labelSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "traefik",
                        "app.kubernetes.io/instance": "traefik-traefik",
                    }
                },
            }
        ],
        "providers": {
            # Meridian writes Ingresses; Middlewares (basic auth for the central observability
            # endpoints) only where they are used. Each Ingress names its own namespace's Middleware.
            "kubernetesCRD": {"enabled": push is not None, "allowCrossNamespace": False},
            # Ingress status gets the load balancer's address (what DNS records point at).
            "kubernetesIngress": published,
            # The HSTS middleware (HSTS_MIDDLEWARE): a ConfigMap the chart writes and mounts
            # (templates/provider-file-cm.yaml), not a CRD object, so no CRD provider for it.
            "file": {
                "enabled": True,
                "content": {"http": {"middlewares": {HSTS_MIDDLEWARE: {"headers": {"stsSeconds": HSTS_SECONDS}}}}},
            },
        },
        "ports": ports,
        # externalTrafficPolicy stays Cluster: Local keeps traffic off nodes without a Traefik pod
        # only through the load balancer's health monitor (OCCM `create-monitor`, which Magnum sets
        # from the label octavia_lb_healthcheck: magnum-capi-helm driver.py), and the amphora proxies
        # TCP, so Local would not keep the client's address either.
        "service": service,
        "ingressRoute": {"dashboard": {"enabled": False}, "healthcheck": {"enabled": False}},
        # Prometheus metrics on the internal `metrics` entry point, behind a ClusterIP Service the
        # collector scrapes (traefik chart templates/service-metrics.yaml); never exposed publicly.
        "metrics": {"prometheus": {"service": {"enabled": True}}},
        "resources": container_resources("100m", "128Mi", "512Mi", cpu_limit="1"),
    }


#: The service account of the cert-manager controller for release `cert-manager` in its namespace
#: (chart templates/_helpers.tpl: serviceAccountName defaults to the fullname, which is the release
#: name when it contains the chart's name).
CERT_MANAGER_SERVICE_ACCOUNT = (CERT_MANAGER_NAMESPACE, "cert-manager")


def cert_manager_values(role_arn: pulumi.Input[str] | None = None) -> dict[str, Any]:
    """cert-manager chart values: CRDs installed and kept, every component sized.

    :param role_arn: the IAM role the controller assumes for DNS-01 on Route53 (IRSA). cert-manager's
        Route53 docs ("EKS IAM Role for Service Accounts"): annotate its service account with the
        role, and give the pod `fsGroup: 1001` so the projected token is readable by its user.
    """
    small = container_resources("10m", "64Mi", "256Mi", cpu_limit="200m")
    irsa: dict[str, Any] = {}
    if role_arn is not None:
        irsa = {
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": role_arn}},
            # Merged by Helm into the chart's securityContext (runAsNonRoot, seccomp RuntimeDefault).
            "securityContext": {"fsGroup": 1001},
        }
    return {
        **irsa,
        # The CRDs come with the release and stay when it is uninstalled: removing them would
        # delete every Certificate and Issuer with them (chart values.yaml, crds.keep).
        "crds": {"enabled": True, "keep": True},
        "replicaCount": 1,
        "resources": container_resources("50m", "128Mi", "512Mi", cpu_limit="500m"),
        "webhook": {"replicaCount": 1, "resources": small},
        "cainjector": {"replicaCount": 1, "resources": small},
        "startupapicheck": {"resources": small},
        # The metrics Service the cluster's collector scrapes (its ServiceMonitor is the collector's:
        # the Prometheus Operator's CRDs come with the collector, after this release).
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
    }


def ingress_releases(
    cluster_name: str,
    source_ranges: pulumi.Input[Sequence[str]],
    load_balancer: dict[str, Any] | None = None,
    cert_manager_role: pulumi.Input[str] | None = None,
    push: PushEntry | None = None,
) -> list[ChartRelease]:
    """The two release records: Traefik, then cert-manager (with its DNS-01 role, when it has one).

    :param push: the central observability's push entry point (see `traefik_values`).
    """
    return [
        traefik_release(cluster_name, source_ranges, load_balancer, push),
        cert_manager_release(cluster_name, cert_manager_role),
    ]


def traefik_release(
    cluster_name: str,
    source_ranges: pulumi.Input[Sequence[str]],
    load_balancer: dict[str, Any] | None = None,
    push: PushEntry | None = None,
) -> ChartRelease:
    """Traefik's release record (see `traefik_values`)."""
    return chart_release(
        f"{cluster_name}-traefik",
        "traefik",
        namespace=TRAEFIK_NAMESPACE,
        values=traefik_values(source_ranges, load_balancer, push),
        # Its crds/ (IngressRoute, Middleware, Traefik Hub) are installed on every cluster, though
        # Traefik serves Middlewares only where the central observability endpoints are: Helm
        # installs crds/ at a release's install only, never at an upgrade, so a cluster that
        # becomes the central one later must already have them.
    )


def cert_manager_release(cluster_name: str, cert_manager_role: pulumi.Input[str] | None = None) -> ChartRelease:
    """cert-manager's release record (with its DNS-01 role, when it has one)."""
    return chart_release(
        f"{cluster_name}-cert-manager",
        "cert-manager",
        namespace=CERT_MANAGER_NAMESPACE,
        values=cert_manager_values(cert_manager_role),
    )


def cluster_issuer_spec(acme: AcmeSpec, route53: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ClusterIssuer's spec: the ACME account and its solver.

    HTTP-01 goes through Traefik's IngressClass. DNS-01 writes the challenge's TXT record in the
    site's Route53 zone (`route53`: the zone's domain, ID and region), with the controller's ambient
    credentials, i.e. its IRSA role (ClusterIssuers may use them by default:
    --cluster-issuer-ambient-credentials); the zone ID spares it ListHostedZonesByName.
    """
    if acme.challenge == "dns-01":
        if route53 is None:
            raise ValueError("a dns-01 issuer needs the site's Route53 zone")
        solver: dict[str, Any] = {
            "selector": {"dnsZones": [route53["domain"]]},
            "dns01": {"route53": {"region": route53["region"], "hostedZoneID": route53["zone_id"]}},
        }
    else:
        solver = {"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}
    return {
        "acme": {
            "server": ACME_SERVERS[acme.environment],
            "email": acme.email,
            # cert-manager creates the account key in this Secret (cluster resource namespace).
            "privateKeySecretRef": {"name": f"{acme.issuer}-account-key"},
            "solvers": [solver],
        }
    }


def dns01_policy(zone_id: str, partition: str) -> dict[str, Any]:
    """cert-manager's Route53 permissions (its Route53 docs, "Set up an IAM Policy"), narrowed to one zone.

    It reads the change it made (GetChange), and lists and changes record sets of the site's zone
    only, TXT records only (condition key route53:ChangeResourceRecordSetsRecordTypes); with the
    zone ID in the issuer it needs no ListHostedZonesByName.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "route53:GetChange", "Resource": f"arn:{partition}:route53:::change/*"},
            {
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                "Resource": f"arn:{partition}:route53:::hostedzone/{zone_id}",
                "Condition": {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}},
            },
        ],
    }


@dataclass(frozen=True)
class Balancer:
    """One public load balancer in front of Traefik: its resource names, purpose and entry points."""

    #: `<c>-ingress` or `<c>-push`: the prefix of its resources' names.
    name: str
    #: Its role in listener and rule descriptions: "ingress", "observability".
    role: str
    #: What it serves, in the descriptions of it and its address.
    purpose: str
    #: Entry point -> (public port, node port on rke2).
    node_ports: Mapping[str, tuple[int, int]]


def _public_addresses(
    balancer: Balancer, context: AddonContext, parent: pulumi.Resource, allowed: pulumi.Input[Sequence[str]]
) -> tuple[dict[str, Any], list[pulumi.Output[str]]]:
    """The addresses Meridian owns for one of the cluster's load balancers, and the Service settings using them.

    :param allowed: the IPv4 CIDRs that may reach the load balancer (listeners Meridian builds).
    """
    site = context.site
    cluster_name = context.cluster_name
    on_site = pulumi.ResourceOptions(parent=parent, provider=site.provider)
    if site.spec.openstack is not None:
        import pulumi_openstack as openstack

        floating_ip = openstack.networking.FloatingIp(
            balancer.name,
            pool=site.spec.openstack.external_network,
            description=f"{balancer.purpose} of cluster {cluster_name}",
            tags=[*site.tags, f"cluster={cluster_name}"],
            opts=on_site,
        )
        if context.cluster.backend == "rke2":
            _octavia_ingress(balancer, context, floating_ip, allowed, on_site)
            return node_port_service(floating_ip.address, balancer.node_ports), [floating_ip.address]
        return openstack_load_balancer(floating_ip.address), [floating_ip.address]
    import pulumi_aws as aws

    assert site.spec.aws is not None  # a site is OpenStack or AWS (SiteSpec)
    eips = [
        aws.ec2.Eip(
            f"{balancer.name}-{zone}",
            domain="vpc",
            tags={**site.tags, "cluster": cluster_name, "Name": f"{site.prefix}-{balancer.name}-{zone}"},
            opts=on_site,
        )
        for zone in site.spec.aws.availability_zones
    ]
    settings = aws_load_balancer([eip.allocation_id for eip in eips], site.public_subnet_ids)
    return settings, [eip.public_ip for eip in eips]


def _octavia_ingress(
    balancer: Balancer,
    context: AddonContext,
    floating_ip: Any,
    allowed: pulumi.Input[Sequence[str]],
    on_site: pulumi.ResourceOptions,
) -> None:
    """An rke2 cluster's load balancer in front of Traefik: Octavia to its node ports on every agent.

    The same shape as the cluster's API load balancer (components/octavia.py): amphora, TCP
    listeners that pass TLS through to Traefik with the allow-list as allowed_cidrs, a TCP health
    monitor per pool; the amphorae reach the members from the site subnet, which the nodes'
    security group admits on the balancer's node ports only.
    """
    import pulumi_openstack as openstack

    from .. import octavia

    site = context.site
    cluster_name = context.cluster_name
    cluster = context.parent
    tags = [*site.tags, f"cluster={cluster_name}"]
    assert cluster.node_security_group_id is not None  # the rke2 backend sets it
    for entry, (_, node_port) in balancer.node_ports.items():
        octavia.admit_from_site(
            f"{cluster_name}-nodes-tcp-{node_port}",
            cluster.node_security_group_id,
            node_port,
            f"Traefik {entry} node port from the site subnet ({balancer.role} load balancer)",
            site=site,
            opts=on_site,
        )
    octavia_balancer, pools = octavia.tcp_load_balancer(
        balancer.name,
        display_name=f"{site.prefix}-{balancer.name}",
        description=f"{balancer.purpose} of cluster {cluster_name}",
        site=site,
        tags=tags,
        listeners=[
            octavia.TcpListener(
                port,
                allowed,
                f"{balancer.role.capitalize()} {entry} of cluster {cluster_name}",
                f"Traefik node port {node_port} on the agents of cluster {cluster_name}",
            )
            for entry, (port, node_port) in balancer.node_ports.items()
        ],
        opts=on_site,
    )
    openstack.networking.FloatingIpAssociate(
        balancer.name, floating_ip=floating_ip.address, port_id=octavia_balancer.vip_port_id, opts=on_site
    )
    for port, node_port in balancer.node_ports.values():
        for agent, address in cluster.agents.items():
            octavia.member(
                f"{balancer.name}-{port}-{agent}",
                pools[port],
                address,
                node_port,
                site=site,
                tags=tags,
                opts=on_site,
            )


def _dns01_role(
    cluster_name: str, context: AddonContext, parent: pulumi.Resource
) -> tuple[pulumi.Output[str], pulumi.Resource, dict[str, Any]]:
    """cert-manager's IRSA role for DNS-01 on the site's Route53 zone: its ARN, its policy, the issuer's zone."""
    import pulumi_aws as aws

    from ..clusters.eks import irsa_trust_policy
    from ..spec.sites import aws_partition
    from .dns import route53_zone

    site = context.site
    identity = context.parent.service_account_issuer
    assert identity is not None  # PlatformSpec allows dns-01 on eks clusters only, which set it
    provider_arn, issuer = identity
    namespace, account = CERT_MANAGER_SERVICE_ACCOUNT
    on_site = pulumi.ResourceOptions(parent=parent, provider=site.provider)
    role = aws.iam.Role(
        f"{cluster_name}-cert-manager-role",
        assume_role_policy=pulumi.Output.all(provider_arn, issuer).apply(
            lambda found: irsa_trust_policy(found[0], found[1], [(namespace, account)])
        ),
        description=f"cert-manager of cluster {cluster_name}: ACME DNS-01 in {site.spec.dns.domain}",
        tags={**site.tags, "cluster": cluster_name},
        opts=on_site,
    )
    zone = route53_zone(site)
    partition = aws_partition(site.spec.aws.region)
    policy = aws.iam.RolePolicy(
        f"{cluster_name}-cert-manager-dns01",
        role=role.id,
        policy=zone.zone_id.apply(lambda zone_id: json.dumps(dns01_policy(zone_id, partition))),
        opts=on_site,
    )
    solver = {"domain": site.spec.dns.domain, "zone_id": zone.zone_id, "region": site.spec.aws.region}
    return role.arn, policy, solver


class Ingress(pulumi.ComponentResource):
    """Traefik, cert-manager and the ACME ClusterIssuer on one cluster."""

    releases: list[ChartRelease]
    """The release records, Traefik first."""
    addresses: list[pulumi.Output[str]]
    """The load balancer's public addresses: a floating IP (OpenStack), an Elastic IP per zone (AWS)."""
    push_addresses: list[pulumi.Output[str]]
    """The push load balancer's public addresses, on the central observability cluster (else empty)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Install the ingress add-on on `context.cluster`.

        :param name: `<cluster>-ingress`.
        :param context: the cluster, its provider and the allow-list resolver.
        :param opts: options of the component itself.
        """
        super().__init__("meridian:addons:Ingress", name, None, opts)

        from ..reachability import cidrs

        cluster_name, spec = context.cluster_name, context.cluster.addons.ingress
        self.addresses, self.push_addresses = [], []
        if context.spec is not None and not publishes(context.spec, cluster_name):
            # A management cluster of capi clusters that publishes nothing: cert-manager only, for
            # Cluster API's webhooks (cluster_api.py); no Traefik, no load balancer.
            self.releases = [cert_manager_release(cluster_name)]
            self._deliver(context, {})
            self.register_outputs({"ingress_class": None, "issuer": spec.acme.issuer if spec.acme else None})
            return
        entries = list(spec.allowed_sources)
        if context.spec is not None:
            from .observability import probe_sources

            # The central cluster's probes reach Grafana and its hub through this load balancer.
            entries += [entry for entry in probe_sources(context.spec, cluster_name) if entry not in entries]
        # IPv4 only: the load balancer's address is IPv4, and Octavia refuses allowed_cidrs of
        # another IP version than the VIP's (octavia listener.py _validate_cidr_compatible_with_vip),
        # which cloud-provider-openstack fills from loadBalancerSourceRanges.
        allowed_v4 = cidrs(context.sources(entries), version=4)  # pragma: no mutate - 4 is the default too
        load_balancer, self.addresses = _public_addresses(
            Balancer(f"{cluster_name}-ingress", "ingress", "Ingress (Traefik)", NODE_PORTS), context, self, allowed_v4
        )
        push: PushEntry | None = None
        self.push_addresses = []
        if context.spec is not None:
            from .observability import collector_sources

            push_sources = collector_sources(context.spec, cluster_name)
            if push_sources:
                # The central observability's push endpoints: a load balancer of their own that
                # admits the observed sites only (never the hub's allow-list, which may be the internet).
                push_v4 = cidrs(context.sources(push_sources), version=4)  # pragma: no mutate - the default too
                balancer = Balancer(
                    f"{cluster_name}-push", "observability", "Observability push endpoints (Traefik)", PUSH_NODE_PORTS
                )
                push_balancer, self.push_addresses = _public_addresses(balancer, context, self, push_v4)
                push = PushEntry(push_v4, push_balancer)
        role_arn: pulumi.Output[str] | None = None
        waits: dict[str, list[pulumi.Resource]] = {}
        route53: dict[str, Any] | None = None  # pragma: no mutate - read only where dns-01 sets it
        if spec.acme is not None and spec.acme.challenge == "dns-01":
            role_arn, policy, route53 = _dns01_role(cluster_name, context, self)
            waits["cert-manager"] = [policy]  # its permissions before its first ACME order
        self.releases = ingress_releases(cluster_name, allowed_v4, load_balancer, role_arn, push)
        self._deliver(context, waits, route53)
        self.register_outputs({"ingress_class": INGRESS_CLASS, "issuer": spec.acme.issuer if spec.acme else None})

    def _deliver(
        self, context: AddonContext, waits: dict[str, list[pulumi.Resource]], route53: dict[str, Any] | None = None
    ) -> None:
        """Each release in its namespace, then the ACME ClusterIssuer (when the spec has an account)."""
        import pulumi_kubernetes as k8s

        cluster_name, spec = context.cluster_name, context.cluster.addons.ingress
        delivered: dict[str, pulumi.Resource] = {}
        for release in self.releases:
            namespace = addon_namespace(
                f"{cluster_name}-{release.namespace}",
                release.namespace,
                labels=context.labels,
                enforce="restricted",
                provider=context.provider,
                parent=self,
            )
            # The cluster's way: directly, or by the project's GitOps engine (`delivery: gitops`).
            delivered[release.chart.name] = context.deliver(
                release,
                parent=self,
                depends_on=[*waits.get(release.chart.name, []), namespace],
                namespace=namespace.metadata.name,
            )
        if spec.acme is not None:
            k8s.apiextensions.CustomResource(
                f"{cluster_name}-{spec.acme.issuer}",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.acme.issuer, labels=context.labels),
                spec=cluster_issuer_spec(spec.acme, route53),
                # The CRD and the webhook that admits it come with the cert-manager release.
                opts=pulumi.ResourceOptions(
                    parent=self, provider=context.provider, depends_on=[delivered["cert-manager"]]
                ),
            )


def publishes(spec: PlatformSpec, cluster_name: str) -> bool:
    """Whether the cluster publishes a service through Traefik: a hub, the central observability endpoints, MLOps."""
    from .mlflow import applies as runs_mlflow
    from .observability import is_central

    hub = spec.clusters[cluster_name].addons.hub is not None
    return hub or is_central(spec, cluster_name) or runs_mlflow(spec, cluster_name)
