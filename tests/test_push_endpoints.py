"""The central observability's push endpoints: their own load balancer, sites only, the project CA.

Issue #13, cross-site paths: the endpoints accept pushes only over TLS, with authentication, and
only from the project's sites, never 0.0.0.0/0, even where the hub on the same cluster is open to
the internet. Expected values are written from the stack files, the sites' egress addresses (the
site components' outputs, components/reachability.py) and the upstream sources named beside each
check (Traefik chart 41.3.0 templates, cert-manager's CA issuer, the Prometheus Operator's
SafeTLSConfig, the blackbox exporter's http prober), never from the code under test.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from conftest import load_platform

from components.addons.observability import probe_sources
from components.spec import parse_platform
from scripts.harness import STACKS, Plan, evaluate
from scripts.render import ReleaseRecord, render_release
from scripts.validate import port_clash, validate_objects

RELEASE = "kubernetes:helm.sh/v3:Release"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
LISTENER = "openstack:loadbalancer/listener:Listener"
RECORDSET = "openstack:dns/recordSet:RecordSet"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
ISSUER = "kubernetes:cert-manager.io/v1:Issuer"
CA_CERT = "tls:index/selfSignedCert:SelfSignedCert"


def platform_of(stack: str) -> dict[str, Any]:
    return load_platform(STACKS / f"Pulumi.{stack}.yaml")


def egress(plan: Plan, *sites: str) -> list[str]:
    """The /32 of every egress address of the named sites (their components' outputs)."""
    found: list[str] = []
    for urn, outputs in plan.component_outputs.items():
        if urn.split("::")[-1] in sites and ":sites:" in urn:
            found += [f"{address}/32" for address in outputs["egress_addresses"]]
    assert found, sites
    return sorted(found)


def observed_sites(stack: str) -> list[str]:
    spec = parse_platform(platform_of(stack), "test")
    return sorted({cluster.site for cluster in spec.clusters.values() if cluster.addons.observed})


def ca_pem(plan: Plan) -> str:
    suffix = f"$meridian:addons:PushAuthority::{plan.outputs['project']}-push-ca"
    (authority,) = [outputs for urn, outputs in plan.component_outputs.items() if urn.endswith(suffix)]
    pem: str = authority["cert_pem"]
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    return pem


# -- the load balancers ------------------------------------------------------------------------------


def test_rke2_push_listener_admits_the_sites_while_the_hub_is_open(bundled_plan: Callable[[str], Plan]) -> None:
    """eo4eu: the central cluster `core` (rke2, ewc-bologna) publishes its hub to 0.0.0.0/0; the push
    listener on a load balancer of its own admits the observed sites' egress addresses only."""
    plan = bundled_plan("eo4eu")
    assert platform_of("eo4eu")["clusters"]["core"]["addons"]["ingress"]["allowed_sources"] == ["0.0.0.0/0"]
    hub = plan.one(LISTENER, "core-ingress-443")["inputs"]
    push = plan.one(LISTENER, "core-push-443")["inputs"]
    assert hub["allowedCidrs"] == ["0.0.0.0/0"]
    assert observed_sites("eo4eu") == ["aws-frankfurt", "ewc-bologna"]
    assert sorted(push["allowedCidrs"]) == egress(plan, "aws-frankfurt", "ewc-bologna")
    assert push["loadbalancerId"] != hub["loadbalancerId"]
    assert push["protocol"] == "TCP" and push["protocolPort"] == 443
    # Its pool reaches Traefik's push node port on every agent of core, admitted from the site subnet.
    members = plan.by_type("openstack:loadbalancer/member:Member")
    pushed = [m["inputs"] for m in members if m["name"].startswith("core-push-443-")]
    served = [m["inputs"] for m in members if m["name"].startswith("core-ingress-443-")]
    assert {m["protocolPort"] for m in pushed} == {30444}
    # The same agents as the hub's load balancer reaches.
    assert pushed and sorted(m["address"] for m in pushed) == sorted(m["address"] for m in served)
    rule = plan.one("openstack:networking/secGroupRule:SecGroupRule", "core-nodes-tcp-30444")["inputs"]
    assert (rule["portRangeMin"], rule["portRangeMax"], rule["direction"]) == (30444, 30444, "ingress")


def test_traefik_push_entry_point_is_a_service_of_its_own(bundled_plan: Callable[[str], Plan]) -> None:
    """Traefik chart 41.3.0: `ports.<name>.expose.<service>` puts a port on the Services it names
    (templates/_service.tpl), `service.additionalServices` makes the extra Service, `asDefault`
    makes an entry point a default one (unannotated routers stay off the push entry point)."""
    plan = bundled_plan("eo4eu")
    values = plan.one(RELEASE, "core-traefik")["inputs"]["values"]
    ports = values["ports"]
    assert ports["push"] == {
        "port": 8444,
        "exposedPort": 443,
        "expose": {"default": False, "push": True},
        "protocol": "TCP",
        "http": {"tls": {"enabled": True}},
        "nodePort": 30444,
    }
    assert ports["web"]["asDefault"] is True and ports["websecure"]["asDefault"] is True
    assert values["service"]["additionalServices"] == {"push": {"spec": {"type": "NodePort"}}}
    # Elsewhere no push entry point, Service or Middleware provider.
    other = plan.one(RELEASE, "burst-traefik")["inputs"]["values"]
    assert "push" not in other["ports"] and "additionalServices" not in other["service"]


def test_eks_push_load_balancer_is_an_nlb_on_its_own_addresses(bundled_plan: Callable[[str], Plan]) -> None:
    """destine-extremes: postproc (eks, aws-frankfurt) admits two CIDRs and two sites for its hub; the
    push NLB admits every observed site (Frankfurt's NAT gateways included) and nothing else.
    cloud-provider-aws: eip-allocations one per subnet, NLB type."""
    plan = bundled_plan("destine-extremes")
    service = plan.one(RELEASE, "postproc-traefik")["inputs"]["values"]["service"]
    push = service["additionalServices"]["push"]
    sites = observed_sites("destine-extremes")
    assert sorted(push["spec"]["loadBalancerSourceRanges"]) == egress(plan, *sites)
    assert "0.0.0.0/0" not in push["spec"]["loadBalancerSourceRanges"]
    # The hub's load balancer admits what the stack file says and the central cluster's own site (its
    # probes of Grafana), not the other push sites.
    written = platform_of("destine-extremes")["clusters"]["postproc"]["addons"]["ingress"]["allowed_sources"]
    cidrs = sorted(entry for entry in written if not entry.startswith("site:"))
    named = [entry.removeprefix("site:") for entry in written if entry.startswith("site:")]
    assert "aws-frankfurt" not in named
    expected = sorted(cidrs + egress(plan, *named, "aws-frankfurt"))
    assert sorted(service["spec"]["loadBalancerSourceRanges"]) == expected
    annotations = push["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    zones = platform_of("destine-extremes")["sites"]["aws-frankfurt"]["aws"]["availability_zones"]
    allocations = annotations["service.beta.kubernetes.io/aws-load-balancer-eip-allocations"].split(",")
    hub_allocations = service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-eip-allocations"].split(",")
    assert len(allocations) == len(zones) and not set(allocations) & set(hub_allocations)
    assert {e["name"] for e in plan.by_type("aws:ec2/eip:Eip")} >= {f"postproc-push-{zone}" for zone in zones}


def test_magnum_push_service_keeps_its_own_floating_ip(bundled_plan: Callable[[str], Plan]) -> None:
    """buildspace: processing (magnum): cloud-provider-openstack takes the floating IP from
    spec.loadBalancerIP and keeps it (keep-floatingip), the allow-list from loadBalancerSourceRanges."""
    plan = bundled_plan("buildspace")
    push = plan.one(RELEASE, "processing-traefik")["inputs"]["values"]["service"]["additionalServices"]["push"]
    assert push["annotations"] == {
        "loadbalancer.openstack.org/keep-floatingip": "true",
        "loadbalancer.openstack.org/timeout-client-data": "3600000",
        "loadbalancer.openstack.org/timeout-member-data": "3600000",
    }
    assert push["spec"]["type"] == "LoadBalancer"
    assert sorted(push["spec"]["loadBalancerSourceRanges"]) == egress(plan, *observed_sites("buildspace"))
    floating = plan.one("openstack:networking/floatingIp:FloatingIp", "processing-push")["inputs"]
    assert floating["description"] == "Observability push endpoints (Traefik) of cluster processing"
    assert (
        push["spec"]["loadBalancerIP"]
        != plan.one(RELEASE, "processing-traefik")["inputs"]["values"]["service"]["spec"]["loadBalancerIP"]
    )


def test_the_central_site_reaches_its_own_hub_for_the_probes() -> None:
    """The blackbox exporter probes Grafana and the hubs from the central site's egress (probes.py)."""
    destine = parse_platform(platform_of("destine-extremes"), "test")
    assert probe_sources(destine, "postproc") == ["site:aws-frankfurt"]
    assert probe_sources(destine, "extremes-bologna") == []  # not central
    assert probe_sources(parse_platform(platform_of("eo4eu"), "test"), "core") == []  # open to all already


def test_push_hostnames_point_at_the_push_load_balancer(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    records = {r["name"]: r["inputs"]["records"] for r in plan.by_type(RECORDSET)}
    assert records["core-metrics-dns"] == records["core-logs-dns"]
    assert records["core-grafana-dns"] == records["core-jupyterhub-dns"]
    assert records["core-metrics-dns"] != records["core-grafana-dns"]


# -- the certificate authority -----------------------------------------------------------------------


def test_the_push_endpoints_certificates_come_from_the_project_ca(bundled_plan: Callable[[str], Plan]) -> None:
    """cert-manager ingress-shim: `cert-manager.io/issuer` names an Issuer in the Ingress's namespace;
    the CA issuer signs with `spec.ca.secretName`'s tls.crt/tls.key. Traefik: router.entrypoints."""
    plan = bundled_plan("eo4eu")
    for name, host in (("core-remote-write", "metrics.bologna.eo4eu.eu"), ("core-logs", "logs.bologna.eo4eu.eu")):
        ingress = plan.one(INGRESS, name)["inputs"]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["cert-manager.io/issuer"] == "meridian-push-ca"
        assert "cert-manager.io/cluster-issuer" not in annotations
        assert annotations["traefik.ingress.kubernetes.io/router.entrypoints"] == "push"
        assert ingress["spec"]["rules"][0]["host"] == host
    issuer = plan.one(ISSUER, "core-push-issuer")["inputs"]
    assert issuer["metadata"]["namespace"] == "monitoring"
    assert issuer["spec"] == {"ca": {"secretName": "meridian-push-ca-keypair"}}
    keypair = plan.one(SECRET, "core-push-ca-keypair")
    assert keypair["inputs"]["type"] == "kubernetes.io/tls"
    assert keypair["inputs"]["metadata"]["name"] == "meridian-push-ca-keypair"
    assert keypair["inputs"]["stringData"] == "[secret]"
    cert = plan.one(CA_CERT, "eo4eu-push-ca")["inputs"]
    assert cert["isCaCertificate"] is True
    assert cert["validityPeriodHours"] == 24 * 365 * 10
    assert "cert_signing" in cert["allowedUses"] and "server_auth" not in cert["allowedUses"]
    key = plan.one("tls:index/privateKey:PrivateKey", "eo4eu-push-ca")["inputs"]
    assert (key["algorithm"], key["ecdsaCurve"]) == ("ECDSA", "P256")
    # The Issuer is what the CRD of the cluster's cert-manager release accepts; a broken one is refused.
    cert_manager = render_release(_record(plan, "core-cert-manager"), [], "test").objects
    document = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", **issuer}
    assert validate_objects([document], "v1.33.0", "test", crds=cert_manager) == []
    broken = copy.deepcopy(document)
    broken["spec"]["ca"] = {"secret": "meridian-push-ca-keypair"}
    (problem,) = validate_objects([broken], "v1.33.0", "test", crds=cert_manager)
    assert "secretName" in problem.message


def test_the_keypair_holds_the_ca_and_its_key(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of(platform_of("eo4eu"), reveal_secrets=True)
    keypair = plan.revealed[plan.one(SECRET, "core-push-ca-keypair")["urn"]]["stringData"]
    assert keypair["tls.crt"] == ca_pem(plan)
    assert keypair["tls.key"].startswith("-----BEGIN EC PRIVATE KEY-----")


def test_every_collector_trusts_the_project_ca(bundled_plan: Callable[[str], Plan]) -> None:
    """Prometheus Operator RemoteWriteSpec.tlsConfig (SafeTLSConfig): `ca` from a ConfigMap key;
    Alloy loki.write endpoint > tls_config: `ca_pem`."""
    plan = bundled_plan("eo4eu")
    pem = ca_pem(plan)
    (write,) = plan.one(RELEASE, "burst-kube-prometheus-stack")["inputs"]["values"]["prometheus"]["prometheusSpec"][
        "remoteWrite"
    ]
    assert write["tlsConfig"] == {"ca": {"configMap": {"name": "meridian-push-ca", "key": "ca.crt"}}}
    for name, namespace in (("burst-push-ca", "monitoring"), ("burst-push-ca-logs", "node-agents")):
        configmap = plan.one(CONFIGMAP, name)["inputs"]
        assert configmap["metadata"]["name"] == "meridian-push-ca"
        assert configmap["metadata"]["namespace"] == namespace
        assert configmap["data"] == {"ca.crt": pem}
    # Alloy reads the CA from the mounted ConfigMap (test_rendered_alloy_reads_the_ca_it_is_told_to).
    alloy = plan.one(RELEASE, "burst-alloy")["inputs"]["values"]["alloy"]
    assert 'ca_file = "/etc/meridian/push-ca/ca.crt"' in alloy["configMap"]["content"]
    assert "PUSH_CA" not in {entry["name"] for entry in alloy["extraEnv"]}
    # In-cluster on the central cluster: neither credentials nor the CA.
    (central,) = plan.one(RELEASE, "core-kube-prometheus-stack")["inputs"]["values"]["prometheus"]["prometheusSpec"][
        "remoteWrite"
    ]
    assert "tlsConfig" not in central and "basicAuth" not in central


def test_a_stack_without_observability_has_no_push_ca(plan_of: Callable[..., Plan]) -> None:
    platform = platform_of("eo4eu")
    del platform["observability"]
    for cluster in platform["clusters"].values():
        cluster.get("addons", {}).pop("observability", None)
    plan = plan_of(platform)
    assert plan.by_type(CA_CERT), "rke2's own CAs are still there"
    assert "eo4eu-push-ca" not in {r["name"] for r in plan.by_type(CA_CERT)}
    assert plan.by_type(ISSUER) == [] and plan.by_type("meridian:addons:PushAuthority") == []


# -- what the real charts make of it -------------------------------------------------------------------


def _record(plan: Plan, name: str) -> ReleaseRecord:
    from scripts.render import releases

    (found,) = [record for record in releases(plan) if record.resource == name]
    return found


def test_rendered_traefik_binds_the_push_port_once_on_its_own_service() -> None:
    """helm template of the locked Traefik chart with core's values: the push Service carries the push
    port only, the default Service never does, and no two entry points share a container port."""
    plan = evaluate("eo4eu", reveal_secrets=True)
    record = _record(plan, "core-traefik")
    objects = render_release(record, [], "test").objects
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    assert [
        (p["name"], p["port"], p["nodePort"], p["targetPort"]) for p in services["traefik-push"]["spec"]["ports"]
    ] == [("push", 443, 30444, "push")]
    assert "push" not in {p["name"] for p in services["traefik"]["spec"]["ports"]}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--entryPoints.push.address=:8444/tcp" in container["args"]
    assert "--entryPoints.push.http.tls=true" in container["args"]
    assert port_clash(deployment) is None
    # The check bites: the push entry point on websecure's container port (the chart's 8443).
    clashing = dict(record.values)
    clashing["ports"] = {**clashing["ports"], "push": {**clashing["ports"]["push"], "port": 8443}}
    objects = render_release(dataclasses.replace(record, values=clashing), [], "test").objects
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert "port 8443/TCP declared twice" in str(port_clash(deployment))
    problems = validate_objects([deployment], record.kube_version, "test")
    assert [p.message for p in problems] == [port_clash(deployment)]


def test_rendered_blackbox_exporter_reads_the_ca_it_is_told_to() -> None:
    """prometheus-blackbox-exporter 11.17.2: extraConfigmapMounts become a volume and a mount; the
    module's http.tls_config.ca_file must be a file under that mount."""
    plan = evaluate("eo4eu", reveal_secrets=True)
    record = _record(plan, "core-blackbox-exporter")
    objects = render_release(record, [], "test").objects
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["push-ca"]["configMap"]["name"] == "meridian-push-ca"
    mounts = {m["name"]: m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    modules = yaml.safe_load(config["data"]["blackbox.yaml"])["modules"]
    ca_file = modules["https_auth_required"]["http"]["tls_config"]["ca_file"]
    assert ca_file == f"{mounts['push-ca']}/ca.crt"
    assert "tls_config" not in modules["https_2xx"]["http"]


def test_rendered_alloy_reads_the_ca_it_is_told_to() -> None:
    """alloy chart 1.11.1: `alloy.mounts.extra` become the container's volumeMounts and
    `controller.volumes.extra` the pod's volumes; the config's ca_file must lie under the mount."""
    plan = evaluate("eo4eu", reveal_secrets=True)
    record = _record(plan, "burst-alloy")
    objects = render_release(record, [], "test").objects
    (daemonset,) = [o for o in objects if o["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["push-ca"]["configMap"]["name"] == "meridian-push-ca"
    (alloy,) = [c for c in pod["containers"] if c["name"] == "alloy"]
    (mount,) = [m for m in alloy["volumeMounts"] if m["name"] == "push-ca"]
    assert "subPath" not in mount and mount.get("readOnly") is True
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert f'ca_file = "{mount["mountPath"]}/ca.crt"' in config["data"]["config.alloy"]


@pytest.mark.parametrize("stack", ["eo4eu", "climres", "meditwin", "buildspace", "destine-extremes"])
def test_no_push_load_balancer_admits_the_internet(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan(stack)
    central = platform_of(stack)["observability"]["central"]["cluster"]
    push = plan.one(RELEASE, f"{central}-traefik")["inputs"]["values"]["service"]["additionalServices"]["push"]
    ranges = push["spec"].get("loadBalancerSourceRanges")
    if ranges is None:  # rke2: the listener carries the allow-list
        ranges = plan.one(LISTENER, f"{central}-push-443")["inputs"]["allowedCidrs"]
    assert ranges and "0.0.0.0/0" not in ranges
    assert sorted(ranges) == egress(plan, *observed_sites(stack))
