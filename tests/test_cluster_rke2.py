"""The rke2 backend: the values that matter in an RKE2 cluster's plan, with secrets revealed and cloud-init parsed.

One platform (the minimal one, its OpenStack site given two availability zones, plus an HA
RKE2 cluster with a CPU, a GPU and an empty pool) is evaluated once, with
`reveal_secrets=True`, so cloud-init and the kubeconfig can be parsed. Inputs that
reference another resource hold what the mocks gave that resource, so wiring is checked by
recomputing the referenced resource's mock outputs with `scripts.mocks` - never against a
hard-coded ID or address. The pure functions that render the node configs are tested
directly at the end.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_openstack  # noqa: F401 - importing a provider SDK registers its type tokens
import pytest
import yaml
from conftest import PlanCache
from pulumi.runtime import MockResourceArgs
from test_provider_contract import contract_violations

from components import ports
from components.clusters import rke2
from components.spec import TaintSpec
from components.spec.catalog import BACKEND_VERSIONS
from components.spec.clusters import POOL_LABEL
from scripts.harness import SECRET, Plan, evaluate
from scripts.mocks import MeridianMocks, stable_uuid

CLUSTER = "lab"
VERSION = "1.33"
ZONES = ["az-1", "az-2"]
API_CIDRS = ["203.0.113.0/28"]
SERVERS = 3
#: The pools under test: a CPU pool with a label, a taint and a desired size; a GPU pool at its
#: min_size; a pool that may be empty (min_size 0 must stay 0, never become a default).
POOLS: dict[str, dict[str, Any]] = {
    "cpu": {
        "flavor": "m1.xlarge",
        "min_size": 2,
        "max_size": 4,
        "desired_size": 3,
        "labels": {"tier": "batch"},
        "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
    },
    "gpu": {"flavor": "vm.a100.1gpu", "min_size": 1, "max_size": 2, "gpu": {"model": "A100-80GB", "count": 1}},
    "idle": {"flavor": "m1.large", "min_size": 0, "max_size": 2},
}
POOL_SIZES = {"cpu": 3, "gpu": 1, "idle": 0}

KUBERNETES_CLUSTER = "meridian:clusters:KubernetesCluster"
NODE_POOL = "meridian:clusters:NodePool"
OS_PROVIDER = "pulumi:providers:openstack"
K8S_PROVIDER = "pulumi:providers:kubernetes"
SUBNET = "openstack:networking/subnet:Subnet"
NETWORK = "openstack:networking/network:Network"
SECGROUP = "openstack:networking/secGroup:SecGroup"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
LOAD_BALANCER = "openstack:loadbalancer/loadBalancer:LoadBalancer"
LISTENER = "openstack:loadbalancer/listener:Listener"
LB_POOL = "openstack:loadbalancer/pool:Pool"
MONITOR = "openstack:loadbalancer/monitor:Monitor"
MEMBER = "openstack:loadbalancer/member:Member"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
FIP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"
INSTANCE = "openstack:compute/instance:Instance"
PASSWORD = "random:index/randomPassword:RandomPassword"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
#: Types the cluster creates without a cloud provider: local secrets and its Kubernetes provider.
#: ... and the readiness wait, which runs where Pulumi runs (components/clusters/readiness.py).
LOCAL_TYPES = {PASSWORD, PRIVATE_KEY, SELF_SIGNED, CERT_REQUEST, LOCALLY_SIGNED, K8S_PROVIDER, "command:local:Command"}

GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"
#: The custom-CA files RKE2's documentation requires, all of them (docs.rke2.io/security/certificates,
#: "Using Custom CA Certificates": "The following files are required"), written out independently.
CA_NAMES = ("server-ca", "client-ca", "request-header-ca", "etcd/peer-ca", "etcd/server-ca")
CA_FILES = {
    **{f"{rke2.TLS_DIR}/{ca}.crt": "0644" for ca in CA_NAMES},
    **{f"{rke2.TLS_DIR}/{ca}.key": "0600" for ca in CA_NAMES},
    f"{rke2.TLS_DIR}/service.key": "0600",
}


def rke2_cluster_spec() -> dict[str, Any]:
    return {
        "site": "os-a",
        "backend": "rke2",
        "version": VERSION,
        "control_plane": {"count": SERVERS, "flavor": "m1.large"},
        "api_cidrs": list(API_CIDRS),
        "node_pools": copy.deepcopy(POOLS),
    }


_MOCKS = MeridianMocks()


class Rke2Plan:
    """The evaluated platform with lookups into the cluster's resources and their mock outputs."""

    def __init__(self, platform: dict[str, Any], plan: Plan) -> None:
        self.platform = platform
        self.plan = plan
        self.outputs = plan.component_outputs
        self.site = platform["sites"]["os-a"]
        self.cluster = plan.one(KUBERNETES_CLUSTER, CLUSTER)
        scope = plan.within(self.cluster["urn"])
        self.resources, self.all, self.one = scope.resources, scope.by_type, scope.one
        self.subnet = plan.one(SUBNET, "os-a-subnet")
        # The mocks place addresses in the CIDR of the subnet a resource is attached to; make sure
        # that table knows the site subnet whatever ran before.
        self.state(self.subnet)

    def revealed(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self.plan.revealed[resource["urn"]]

    def state(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The output state the mocks give `resource` (recomputed from its revealed inputs)."""
        args = MockResourceArgs(resource["type"], resource["name"], dict(self.revealed(resource)), None, None, True)
        return _MOCKS.new_resource(args)[1]

    def mock_id(self, resource: dict[str, Any]) -> str:
        args = MockResourceArgs(resource["type"], resource["name"], dict(self.revealed(resource)), None, None, True)
        resource_id = _MOCKS.new_resource(args)[0]
        assert resource_id
        return resource_id

    def servers(self) -> list[dict[str, Any]]:
        return sorted(
            (r for r in self.all(INSTANCE) if r["parent"] == self.cluster["urn"]), key=lambda r: str(r["name"])
        )

    def pool_instances(self, pool: str) -> list[dict[str, Any]]:
        component = self.one(NODE_POOL, f"{CLUSTER}-{pool}")
        return sorted((r for r in self.all(INSTANCE) if r["parent"] == component["urn"]), key=lambda r: str(r["name"]))

    def cloud_config(self, instance: dict[str, Any]) -> dict[str, Any]:
        """The instance's #cloud-config document, parsed."""
        text = self.revealed(instance)["userData"]
        first, _, rest = text.partition("\n")
        assert first == "#cloud-config"
        document: dict[str, Any] = yaml.safe_load(rest)
        return document

    def rke2_config(self, instance: dict[str, Any]) -> dict[str, Any]:
        """The /etc/rancher/rke2/config.yaml the instance's cloud-init writes, parsed."""
        files = [f for f in self.cloud_config(instance)["write_files"] if f["path"] == rke2.CONFIG_PATH]
        assert len(files) == 1
        assert files[0]["permissions"] == "0600"  # it holds the cluster token
        config: dict[str, Any] = yaml.safe_load(files[0]["content"])
        return config

    def vip(self) -> str:
        address: str = self.state(self.one(LOAD_BALANCER))["vipAddress"]
        return address

    def floating_ip(self) -> str:
        address: str = self.state(self.one(FLOATING_IP))["address"]
        return address


_PLANS: dict[str, Rke2Plan] = PlanCache()


@pytest.fixture
def rk(write_stack: Callable[..., Path], base_platform: dict[str, Any]) -> Rke2Plan:
    """The RKE2 platform's plan with secrets revealed, evaluated once per test process."""
    if "main" not in _PLANS:
        platform = copy.deepcopy(base_platform)
        platform["sites"]["os-a"]["openstack"]["availability_zones"] = list(ZONES)
        platform["clusters"] = {CLUSTER: rke2_cluster_spec()}
        plan = evaluate(write_stack(platform), reveal_secrets=True)
        _PLANS["main"] = Rke2Plan(platform, plan)
    return _PLANS["main"]


def is_v4(cidr: str) -> bool:
    return ipaddress.ip_network(cidr).version == 4


def script_lines(config: dict[str, Any]) -> list[str]:
    """The install script a cloud-config writes and runs (its only runcmd entry)."""
    assert config["runcmd"] == [[rke2.INSTALL_SCRIPT]]
    [script] = [f for f in config["write_files"] if f["path"] == rke2.INSTALL_SCRIPT]
    assert script["permissions"] == "0700"
    lines: list[str] = script["content"].splitlines()
    assert lines[:3] == ["#!/bin/bash", lines[1], "set -euo pipefail"]  # a failed step stops the boot
    return lines


def install_env(config: dict[str, Any]) -> dict[str, str]:
    """The INSTALL_RKE2_* variables of the install command in a cloud-config's install script."""
    commands = [line for line in script_lines(config) if "INSTALL_RKE2_VERSION" in line]
    assert len(commands) == 1, commands
    return dict(re.findall(r"\bINSTALL_RKE2_([A-Z_]+)=(\S+)", commands[0]))


def labels_of(config: dict[str, Any]) -> dict[str, str]:
    pairs = [label.split("=", 1) for label in config.get("node-label", [])]
    assert all(len(pair) == 2 for pair in pairs)
    labels = dict(pairs)
    assert len(labels) == len(pairs), "a label key is set twice"
    return labels


# --------------------------------------------------------------------------------------------
# Octavia: the API and supervisor load balancer


def test_load_balancer_sits_on_the_site_subnet(rk: Rke2Plan) -> None:
    balancer = rk.one(LOAD_BALANCER)
    assert balancer["inputs"]["vipSubnetId"] == rk.mock_id(rk.subnet)
    assert ipaddress.ip_address(rk.vip()) in ipaddress.ip_network(rk.site["cidr"])


def test_listeners_pools_and_monitors(rk: Rke2Plan) -> None:
    balancer_id = rk.mock_id(rk.one(LOAD_BALANCER))
    listeners = {r["inputs"]["protocolPort"]: r for r in rk.all(LISTENER)}
    assert sorted(listeners) == [ports.KUBE_API, ports.RKE2_SUPERVISOR]
    assert len(rk.all(LISTENER)) == 2
    for port, listener in listeners.items():
        assert listener["inputs"]["protocol"] == "TCP", port
        assert listener["inputs"]["loadbalancerId"] == balancer_id
        pools = [p for p in rk.all(LB_POOL) if p["inputs"]["listenerId"] == rk.mock_id(listener)]
        assert len(pools) == 1, port
        assert pools[0]["inputs"]["protocol"] == "TCP"
        monitors = [m for m in rk.all(MONITOR) if m["inputs"]["poolId"] == rk.mock_id(pools[0])]
        assert len(monitors) == 1, port
        assert monitors[0]["inputs"]["type"] == "TCP"
    assert len(rk.all(LB_POOL)) == len(rk.all(MONITOR)) == 2


def test_api_listener_admits_the_site_its_admins_and_the_api_cidrs(rk: Rke2Plan) -> None:
    allowed = {r["inputs"]["protocolPort"]: r["inputs"]["allowedCidrs"] for r in rk.all(LISTENER)}
    expected = {rk.site["cidr"], *rk.site["admin_cidrs"], *API_CIDRS}
    api = allowed[ports.KUBE_API]
    assert len(api) == len(set(api))
    # Every IPv4 network of the spec is admitted, and nothing the spec does not name.
    assert {c for c in api if is_v4(c)} == {c for c in expected if is_v4(c)}
    assert set(api) <= expected
    # Only the nodes (the site subnet, where the amphorae also sit) reach the supervisor.
    assert allowed[ports.RKE2_SUPERVISOR] == [rk.site["cidr"]]


def test_api_listener_cidrs_match_the_vip_ip_version(rk: Rke2Plan) -> None:
    assert rk.site["admin_cidrs"] and not all(is_v4(c) for c in rk.site["admin_cidrs"])  # the case at hand
    for listener in rk.all(LISTENER):
        assert all(is_v4(c) for c in listener["inputs"]["allowedCidrs"]), listener["name"]


def test_one_member_per_server_and_port_at_the_server_address(rk: Rke2Plan) -> None:
    lb_pools = {
        r["inputs"]["protocolPort"]: rk.mock_id(
            next(p for p in rk.all(LB_POOL) if p["inputs"]["listenerId"] == rk.mock_id(r))
        )
        for r in rk.all(LISTENER)
    }
    servers = rk.servers()
    assert len(servers) == SERVERS
    addresses = [rk.state(server)["accessIpV4"] for server in servers]
    assert len(set(addresses)) == SERVERS
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(rk.site["cidr"]) for a in addresses)
    members = [m["inputs"] for m in rk.all(MEMBER)]
    assert len(members) == SERVERS * 2
    for port, pool_id in lb_pools.items():
        in_pool = [m for m in members if m["poolId"] == pool_id]
        assert sorted(m["address"] for m in in_pool) == sorted(addresses), port
        assert {m["protocolPort"] for m in in_pool} == {port}
        assert {m["subnetId"] for m in in_pool} == {rk.mock_id(rk.subnet)}


def test_floating_ip_from_the_external_network_on_the_vip_port(rk: Rke2Plan) -> None:
    floating_ip = rk.one(FLOATING_IP)
    assert floating_ip["inputs"]["pool"] == rk.site["openstack"]["external_network"]
    association = rk.one(FIP_ASSOCIATE)["inputs"]
    assert association["portId"] == rk.state(rk.one(LOAD_BALANCER))["vipPortId"]
    assert association["floatingIp"] == rk.floating_ip()
    assert ipaddress.ip_address(rk.floating_ip()) not in ipaddress.ip_network(rk.site["cidr"])


# --------------------------------------------------------------------------------------------
# Security groups


def test_node_security_group_rules(rk: Rke2Plan) -> None:
    group = rk.one(SECGROUP, f"{CLUSTER}-nodes")
    assert group["inputs"]["deleteDefaultRules"] is True
    group_id = rk.mock_id(group)
    rules = [r["inputs"] for r in rk.all(RULE)]
    assert {r["securityGroupId"] for r in rules} == {group_id}
    ingress = {
        (
            r["protocol"],
            r["portRangeMin"],
            r["portRangeMax"],
            r["ethertype"],
            r.get("remoteGroupId"),
            r.get("remoteIpPrefix"),
        )
        for r in rules
        if r["direction"] == "ingress"
    }
    assert len(ingress) == len([r for r in rules if r["direction"] == "ingress"])
    between_nodes = {
        ("tcp", 10250, 10250),
        ("tcp", 2379, 2381),
        ("udp", 8472, 8472),
        ("tcp", 9099, 9099),
        ("tcp", 30000, 32767),
        # The collector's node exporter (host network), scraped from the other nodes.
        ("tcp", ports.NODE_EXPORTER, ports.NODE_EXPORTER),
    }
    from_site = {ports.KUBE_API, ports.RKE2_SUPERVISOR}
    assert ingress == {(p, lo, hi, "IPv4", group_id, None) for p, lo, hi in between_nodes} | {
        ("tcp", port, port, "IPv4", None, rk.site["cidr"]) for port in from_site
    }
    egress = {(r["ethertype"], r["remoteIpPrefix"]) for r in rules if r["direction"] == "egress"}
    assert egress == {("IPv4", "0.0.0.0/0"), ("IPv6", "::/0")}


def test_servers_and_agents_join_the_right_groups(rk: Rke2Plan) -> None:
    nodes = rk.one(SECGROUP, f"{CLUSTER}-nodes")["inputs"]["name"]
    admin = rk.plan.one(SECGROUP, "os-a-admin")["inputs"]["name"]
    for server in rk.servers():
        assert server["inputs"]["securityGroups"] == [admin, nodes]
    for pool in POOLS:
        for agent in rk.pool_instances(pool):
            assert agent["inputs"]["securityGroups"] == [nodes]


def test_nothing_opens_an_admin_port_to_the_internet(rk: Rke2Plan) -> None:
    for resource in rk.plan.by_type(RULE):
        rule = resource["inputs"]
        prefix = rule.get("remoteIpPrefix")
        if rule["direction"] != "ingress" or prefix is None or ipaddress.ip_network(prefix).prefixlen:
            continue
        low, high = rule.get("portRangeMin", 1), rule.get("portRangeMax", 65535)
        assert not any(low <= port <= high for port in ports.ADMIN_PORTS), resource["name"]
    for listener in rk.plan.by_type(LISTENER):
        cidrs = listener["inputs"].get("allowedCidrs")
        assert cidrs, "a listener without allowed_cidrs admits everyone"
        assert all(ipaddress.ip_network(c).prefixlen for c in cidrs), listener["name"]


# --------------------------------------------------------------------------------------------
# Instances: counts, placement, image


def test_pool_sizes_and_server_count(rk: Rke2Plan) -> None:
    assert len(rk.servers()) == SERVERS
    for pool, size in POOL_SIZES.items():
        instances = rk.pool_instances(pool)
        assert [r["name"] for r in instances] == [f"{CLUSTER}-{pool}-{i}" for i in range(size)], pool
        assert {r["inputs"]["flavorName"] for r in instances} <= {POOLS[pool]["flavor"]}
    # Nothing else: every instance is a server or sits in a pool.
    assert len(rk.all(INSTANCE)) == SERVERS + sum(POOL_SIZES.values())
    assert {r["inputs"]["flavorName"] for r in rk.servers()} == {"m1.large"}


def test_pools_register_their_size_and_node_labels(rk: Rke2Plan) -> None:
    # The NodePool's outputs are what `pulumi stack` shows per pool: the instances created
    # (desired_size, else min_size: an empty pool stays empty) and the labels nodes register with.
    for pool, size in POOL_SIZES.items():
        component = rk.one(NODE_POOL, f"{CLUSTER}-{pool}")
        assert rk.outputs[component["urn"]] == {
            "node_labels": {POOL_LABEL: pool, **POOLS[pool].get("labels", {})},
            "size": size,
        }, pool


def test_instances_spread_over_zones_round_robin(rk: Rke2Plan) -> None:
    def zones(instances: list[dict[str, Any]]) -> list[str]:
        return [r["inputs"]["availabilityZone"] for r in instances]

    assert zones(rk.servers()) == ["az-1", "az-2", "az-1"]
    assert zones(rk.pool_instances("cpu")) == ["az-1", "az-2", "az-1"]
    assert zones(rk.pool_instances("gpu")) == ["az-1"]


def test_instances_boot_the_site_image_on_the_site_network(rk: Rke2Plan) -> None:
    image_name = rk.site["openstack"].get("image", "Ubuntu-24.04")
    image_id = stable_uuid("image", image_name)
    # The newest image of that name (Glance keeps old ones under the same name), asked of the
    # site's cloud: the lookup goes through the site's provider, never an ambient one.
    (lookup,) = [call for call in rk.plan.invokes if call["token"] == "openstack:images/getImage:getImage"]
    assert lookup["args"] == {"name": image_name, "mostRecent": True}
    site_provider = rk.plan.one("pulumi:providers:openstack", "os-a-provider")
    assert lookup["provider"] == f"{site_provider['urn']}::{rk.mock_id(site_provider)}"
    network_id = rk.mock_id(rk.plan.one(NETWORK, "os-a-network"))
    for instance in rk.all(INSTANCE):
        inputs = instance["inputs"]
        assert [d["uuid"] for d in inputs["blockDevices"]] == [image_id]
        assert inputs["networks"] == [{"uuid": network_id}]
        assert inputs["keyPair"] == rk.plan.one("openstack:compute/keypair:Keypair", "os-a-keypair")["inputs"]["name"]
        disk = 80 if instance in rk.servers() else 100
        assert inputs["blockDevices"][0]["volumeSize"] == disk


# --------------------------------------------------------------------------------------------
# cloud-init: servers


def test_first_server_bootstraps_with_the_generated_cas(rk: Rke2Plan) -> None:
    first = rk.servers()[0]
    config = rk.rke2_config(first)
    assert "server" not in config
    files = {f["path"]: f for f in rk.cloud_config(first)["write_files"]}
    assert set(files) == {rke2.CONFIG_PATH, rke2.INSTALL_SCRIPT, *CA_FILES}
    for path, mode in CA_FILES.items():
        assert files[path]["permissions"] == mode, path
        assert files[path]["owner"] == "root:root"
    contents = {}
    for ca in CA_NAMES:
        resource = f"{CLUSTER}-{ca.replace('/', '-')}"
        contents[f"{ca}.crt"] = rk.state(rk.one(SELF_SIGNED, resource))["certPem"]
        contents[f"{ca}.key"] = rk.state(rk.one(PRIVATE_KEY, resource))["privateKeyPem"]
        assert rk.one(SELF_SIGNED, resource)["inputs"]["isCaCertificate"] is True
    service_key = rk.one(PRIVATE_KEY, f"{CLUSTER}-service-account-key")
    assert service_key["inputs"]["algorithm"] == "RSA"
    contents["service.key"] = rk.state(service_key)["privateKeyPem"]
    assert len(set(contents.values())) == len(CA_FILES)
    for name, content in contents.items():
        assert files[f"{rke2.TLS_DIR}/{name}"]["content"] == content, name


def test_other_servers_join_through_the_vip(rk: Rke2Plan) -> None:
    for server in rk.servers()[1:]:
        assert rk.rke2_config(server)["server"] == f"https://{rk.vip()}:{ports.RKE2_SUPERVISOR}"
        paths = [f["path"] for f in rk.cloud_config(server)["write_files"]]
        assert paths == [rke2.CONFIG_PATH, rke2.INSTALL_SCRIPT], "only the first server carries the CA keys"


def test_server_config(rk: Rke2Plan) -> None:
    token = rk.state(rk.one(PASSWORD, f"{CLUSTER}-join-token"))["result"]
    agent_token = rk.state(rk.one(PASSWORD, f"{CLUSTER}-agent-token"))["result"]
    assert len(token) == 64 and len(agent_token) == 64 and token != agent_token
    for server in rk.servers():
        config = rk.rke2_config(server)
        assert config["token"] == token
        # "agent-token ... must be set to the same value on all servers" (docs.rke2.io server_config).
        assert config["agent-token"] == agent_token
        # The certificate names every way the API is reached: floating IP, VIP, and its DNS name.
        assert config["tls-san"] == [rk.floating_ip(), rk.vip(), f"api.{CLUSTER}.{rk.site['dns']['domain']}"]
        assert config["node-taint"] == ["CriticalAddonsOnly=true:NoExecute"]
        assert labels_of(config)["meridian.io/cluster"] == CLUSTER
        cloud = rk.cloud_config(server)
        assert install_env(cloud) == {"VERSION": BACKEND_VERSIONS["rke2"][VERSION], "TYPE": "server", "METHOD": "tar"}
        assert "systemctl enable --now rke2-server.service" in script_lines(cloud)
        assert server["inputs"]["metadata"] == {"cluster": CLUSTER, "role": "server"}


# --------------------------------------------------------------------------------------------
# cloud-init: agents


def test_agents_join_as_agents_through_the_vip(rk: Rke2Plan) -> None:
    # Agents hold the agent token only: the server token lets a node join as a server and
    # decrypt the bootstrap data (docs.rke2.io/security/token: the agent token is "used to join
    # agents to the cluster, but not servers").
    token = rk.state(rk.one(PASSWORD, f"{CLUSTER}-agent-token"))["result"]
    server_token = rk.state(rk.one(PASSWORD, f"{CLUSTER}-join-token"))["result"]
    agents = [a for pool in POOLS for a in rk.pool_instances(pool)]
    assert len(agents) == sum(POOL_SIZES.values())
    for agent in agents:
        cloud = rk.cloud_config(agent)
        assert [f["path"] for f in cloud["write_files"]] == [rke2.CONFIG_PATH, rke2.INSTALL_SCRIPT]
        assert install_env(cloud) == {"VERSION": BACKEND_VERSIONS["rke2"][VERSION], "TYPE": "agent", "METHOD": "tar"}
        assert "systemctl enable --now rke2-agent.service" in script_lines(cloud)
        config = rk.rke2_config(agent)
        assert config["token"] == token
        assert server_token not in rk.revealed(agent)["userData"]
        assert config["server"] == f"https://{rk.vip()}:{ports.RKE2_SUPERVISOR}"
        assert "tls-san" not in config and "agent-token" not in config


def test_cpu_pool_labels_and_taints(rk: Rke2Plan) -> None:
    for agent in rk.pool_instances("cpu"):
        config = rk.rke2_config(agent)
        labels = labels_of(config)
        assert labels["tier"] == "batch"
        assert labels["meridian.io/cluster"] == CLUSTER
        assert not any(key.startswith("nvidia.com/") for key in labels)
        assert config["node-taint"] == ["dedicated=batch:NoSchedule"]
        assert agent["inputs"]["metadata"] == {"cluster": CLUSTER, "role": "agent", "pool": "cpu"}


def test_gpu_pool_labels_and_taints(rk: Rke2Plan) -> None:
    (agent,) = rk.pool_instances("gpu")
    config = rk.rke2_config(agent)
    labels = labels_of(config)
    # The GPU Operator owns nvidia.com/gpu.present (it sets it from NFD's PCI labels and resets
    # it to "false" otherwise: gpu-operator controllers/nodelabeling_controller.go); never set here.
    assert "nvidia.com/gpu.present" not in labels
    assert labels["meridian.io/cluster"] == CLUSTER
    assert "tier" not in labels
    assert config["node-taint"] == [GPU_TAINT]


def test_boot_records_are_the_machines_user_data_without_its_secrets(rk: Rke2Plan) -> None:
    """`clusters.<c>.boot`: what a review compares because the secret, ignored user data cannot be."""
    import hashlib

    boot = rk.plan.outputs["clusters"][CLUSTER]["boot"]
    assert set(boot) == {"control-plane", *POOLS}
    hidden = rke2.DEPLOYMENT_VALUE
    # What a plan cannot hold or know: the tokens, the load balancer's and the floating IP's addresses.
    unknown = [
        rk.state(rk.one(PASSWORD, f"{CLUSTER}-join-token"))["result"],
        rk.state(rk.one(PASSWORD, f"{CLUSTER}-agent-token"))["result"],
        rk.vip(),
        rk.floating_ip(),
    ]
    # A joining server and one machine of each pool with machines (a pool of none has its record all the same).
    groups = {"control-plane": rk.servers()[1]} | {
        pool: machines[0] for pool in POOLS if (machines := rk.pool_instances(pool))
    }
    assert len(groups) >= 3
    for group, machine in groups.items():
        text = rk.revealed(machine)["userData"]
        for value in unknown:
            text = text.replace(value, hidden)
        record = boot[group]
        # The machine's own document, those values swapped out, is what the fingerprint is of.
        assert record["user_data"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16], group
        config = rk.rke2_config(machine)
        assert record["node_labels"] == config["node-label"], group
        assert record["node_taints"] == config.get("node-taint", []), group
        assert not any(value in str(record) for value in unknown)
    # Each group's record differs from the others' (they boot differently).
    assert len({record["user_data"] for record in boot.values()}) == len(boot)
    # A cluster not yet initialized founds itself on server-0, with the CA files: a record of its own.
    assert "user_data_bootstrap" in boot["control-plane"]


def test_the_first_servers_ca_files_are_in_its_record(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server-0's bootstrap user data (the CA set) changes its record; joined clusters have none."""
    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {CLUSTER: rke2_cluster_spec()}
    before = evaluate(write_stack(platform)).outputs["clusters"][CLUSTER]["boot"]["control-plane"]
    monkeypatch.setattr(rke2, "TLS_DIR", "/var/lib/rancher/rke2/server/tls-moved")
    after = evaluate(write_stack(platform)).outputs["clusters"][CLUSTER]["boot"]["control-plane"]
    assert after["user_data_bootstrap"] != before["user_data_bootstrap"]
    assert after["user_data"] == before["user_data"], "joining servers carry no CA file"
    platform["clusters"][CLUSTER]["control_plane"]["initialized"] = True
    joined = evaluate(write_stack(platform)).outputs["clusters"][CLUSTER]["boot"]["control-plane"]
    assert "user_data_bootstrap" not in joined and joined["user_data"] == before["user_data"]


# --------------------------------------------------------------------------------------------
# Secrets and the kubeconfig


def test_user_data_and_token_are_secret(rk: Rke2Plan) -> None:
    instances = rk.all(INSTANCE)
    assert instances
    for instance in instances:
        assert "userData" in instance["secret_paths"], instance["name"]
        assert instance["inputs"]["userData"] == SECRET
        # A new image under the same name, a new zone list or a new cloud-init never
        # replaces running nodes (etcd lives on the servers' boot volumes).
        assert {"userData", "blockDevices", "availabilityZone"} <= set(instance["ignore_changes"])
    document = json.dumps(rk.plan.to_json())
    for token in ("join-token", "agent-token"):
        password = rk.one(PASSWORD, f"{CLUSTER}-{token}")
        assert "result" in password["additional_secret_outputs"]
        assert rk.state(password)["result"] not in document
    keys = [f"{CLUSTER}-{ca.replace('/', '-')}" for ca in CA_NAMES] + [
        f"{CLUSTER}-admin",
        f"{CLUSTER}-service-account-key",
    ]
    for name in keys:
        key = rk.state(rk.one(PRIVATE_KEY, name))["privateKeyPem"].splitlines()[1]
        assert key not in document, name


def test_kubeconfig_is_secret_and_reaches_the_api_through_the_floating_ip(rk: Rke2Plan) -> None:
    assert rk.plan.outputs["kubeconfigs"] == {CLUSTER: SECRET}
    provider = rk.one(K8S_PROVIDER, f"{CLUSTER}-k8s")
    assert provider["parent"] == rk.cluster["urn"]
    assert provider["inputs"]["kubeconfig"] == SECRET
    assert "kubeconfig" in provider["secret_paths"]
    kubeconfig = yaml.safe_load(rk.revealed(provider)["kubeconfig"])
    (cluster,) = kubeconfig["clusters"]
    (user,) = kubeconfig["users"]
    (context,) = kubeconfig["contexts"]
    assert kubeconfig["current-context"] == context["name"]
    assert context["context"] == {"cluster": cluster["name"], "user": user["name"]}
    # Named after the cluster, so that the kubeconfigs of several clusters merge (KUBECONFIG=a:b)
    # without shadowing each other: "the first file to set a particular value or map key wins"
    # (kubernetes.io, "Organizing Cluster Access Using kubeconfig Files", merging rules).
    assert (cluster["name"], context["name"], user["name"]) == (CLUSTER, CLUSTER, f"{CLUSTER}-admin")
    assert cluster["cluster"]["server"] == f"https://{rk.floating_ip()}:{ports.KUBE_API}"

    def decoded(field: str, section: dict[str, Any]) -> str:
        return base64.b64decode(section[field]).decode()

    assert (
        decoded("certificate-authority-data", cluster["cluster"])
        == rk.state(rk.one(SELF_SIGNED, f"{CLUSTER}-server-ca"))["certPem"]
    )
    assert decoded("client-certificate-data", user["user"]) == rk.state(rk.one(LOCALLY_SIGNED))["certPem"]
    assert (
        decoded("client-key-data", user["user"]) == rk.state(rk.one(PRIVATE_KEY, f"{CLUSTER}-admin"))["privateKeyPem"]
    )


def test_admin_certificate_is_signed_by_the_client_ca(rk: Rke2Plan) -> None:
    signed = rk.revealed(rk.one(LOCALLY_SIGNED))
    assert signed["caCertPem"] == rk.state(rk.one(SELF_SIGNED, f"{CLUSTER}-client-ca"))["certPem"]
    assert signed["caPrivateKeyPem"] == rk.state(rk.one(PRIVATE_KEY, f"{CLUSTER}-client-ca"))["privateKeyPem"]
    assert signed["certRequestPem"] == rk.state(rk.one(CERT_REQUEST))["certRequestPem"]
    assert "client_auth" in signed["allowedUses"]
    request = rk.revealed(rk.one(CERT_REQUEST))
    assert request["privateKeyPem"] == rk.state(rk.one(PRIVATE_KEY, f"{CLUSTER}-admin"))["privateKeyPem"]
    assert request["subject"]["organization"] == "system:masters"


# --------------------------------------------------------------------------------------------
# Structure: parents, providers, provider contract


def test_every_cluster_resource_descends_from_the_cluster(rk: Rke2Plan) -> None:
    named = [r for r in rk.plan.resources if r["name"].startswith(f"{CLUSTER}-")]
    assert named
    assert {r["urn"] for r in named} == {r["urn"] for r in rk.resources}
    assert rk.cluster["parent"] == rk.plan.one("meridian:index:Platform", "testproj")["urn"]
    components = {r["name"]: r for r in rk.all(NODE_POOL)}
    assert set(components) == {f"{CLUSTER}-{pool}" for pool in POOLS}
    assert all(c["parent"] == rk.cluster["urn"] for c in components.values())
    for pool in POOLS:
        for instance in rk.pool_instances(pool):
            assert instance["parent"] == components[f"{CLUSTER}-{pool}"]["urn"]
    # Only pool nodes sit under a pool; everything else hangs off the cluster itself.
    under_pools = {r["urn"] for r in rk.resources if r["parent"] in {c["urn"] for c in components.values()}}
    assert under_pools == {i["urn"] for pool in POOLS for i in rk.pool_instances(pool)}


def test_every_openstack_resource_uses_the_site_provider(rk: Rke2Plan) -> None:
    provider = rk.plan.one(OS_PROVIDER, "os-a-provider")
    custom = [r for r in rk.resources if r["custom"]]
    openstack = [r for r in custom if r["type"].startswith("openstack:")]
    assert len(openstack) > 20
    for resource in openstack:
        assert resource["provider"] and resource["provider"].startswith(provider["urn"] + "::"), resource["name"]
    # Local secrets need no provider; add-ons on the cluster go through the cluster's own Kubernetes provider.
    k8s = rk.one(K8S_PROVIDER, f"{CLUSTER}-k8s")
    others = [r for r in custom if not r["type"].startswith("openstack:")]
    assert {r["type"] for r in others if not r["type"].startswith("kubernetes:")} == LOCAL_TYPES
    for resource in others:
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"] and resource["provider"].startswith(k8s["urn"] + "::"), resource["name"]
        else:
            assert resource["provider"] is None, resource["name"]


def test_every_input_is_an_sdk_input(rk: Rke2Plan) -> None:
    assert contract_violations(rk.resources) == []


# --------------------------------------------------------------------------------------------
# The pure renderers, with plain values


#: What every server's config.yaml holds besides its tokens, SANs and join URL, each option a real
#: `rke2 server` flag (docs.rke2.io/reference/server_config):
SERVER_SETTINGS: dict[str, Any] = {
    # RKE2's default CNI, named so that the Canal ports opened in NODE_RULES are the ones in use.
    "cni": "canal",
    # "disable: Do not deploy packaged components and delete any deployed components": RKE2 before
    # 1.36 deploys ingress-nginx (hostPorts 80 and 443 on every node, docs.rke2.io networking
    # services); Meridian's ingress is Traefik, so the packaged one is never started.
    "disable": ["rke2-ingress-nginx"],
    # "profile: Validate system configuration against the selected benchmark (valid items: cis,
    # cis-1.23 (deprecated))"; rancher/rke2 pkg/rke2/rke2.go refuses cis-1.23 with a fatal error
    # ("cis-1.23 profile is deprecated. Please use 'cis' instead."), so "cis" exactly.
    "profile": "cis",
    # "write-kubeconfig-mode: Write kubeconfig with this mode": the cluster-admin kubeconfig RKE2
    # writes on each server (/etc/rancher/rke2/rke2.yaml) stays readable by root only.
    "write-kubeconfig-mode": "0600",
    # Every node carries its cluster and role (servers here; agents in agent_config).
    "node-label": ["meridian.io/cluster=c1", "meridian.io/role=server"],
    # etcd snapshots every 6 hours, 20 kept (five days); RKE2's defaults are "0 */12 * * *" and 5
    # (server_config "etcd-snapshot-schedule-cron", "etcd-snapshot-retention").
    "etcd-snapshot-schedule-cron": "0 */6 * * *",
    "etcd-snapshot-retention": 20,
    # Secrets encrypted at rest in etcd (docs.rke2.io/security/secrets_encryption), stated where an
    # auditor reads the node's settings. Current RKE2 turns it on whatever the file says (rancher/rke2
    # pkg/rke2/rke2.go, Server: clx.Set("secrets-encryption", "true")), so a `false` here would mislead
    # the reader rather than the cluster.
    "secrets-encryption": True,
}


def test_server_config_of_the_first_and_a_joining_server() -> None:
    first = rke2.server_config(
        token="t0k", agent_token="a9t", join_url=None, tls_san=["198.51.100.7"], taints=[], cluster="c1"
    )
    # The first server founds the cluster: no `server`; untainted when asked for no taints.
    assert first == {"token": "t0k", "agent-token": "a9t", "tls-san": ["198.51.100.7"], **SERVER_SETTINGS}
    joining = rke2.server_config(
        token="t0k",
        agent_token="a9t",
        join_url="https://10.0.0.5:9345",
        tls_san=["198.51.100.7"],
        taints=[rke2.SERVER_TAINT],
        cluster="c1",
    )
    assert joining == {
        "token": "t0k",
        "agent-token": "a9t",
        "tls-san": ["198.51.100.7"],
        **SERVER_SETTINGS,
        "node-taint": ["CriticalAddonsOnly=true:NoExecute"],
        "server": "https://10.0.0.5:9345",
    }


def test_agent_config_renders_labels_and_taints() -> None:
    taints = [
        TaintSpec(key="dedicated", value="batch", effect="NoSchedule"),
        TaintSpec(key="example.org/flaky", effect="PreferNoSchedule"),
    ]
    config = rke2.agent_config(
        token="t0k", join_url="https://10.0.0.5:9345", labels={"tier": "batch"}, taints=taints, cluster="c1"
    )
    # `profile` on agents too (docs.rke2.io/reference/linux_agent_config, "Security"): the kernel
    # parameter checks of the CIS profile are per node (docs.rke2.io/security/hardening_guide).
    assert config == {
        "token": "t0k",
        "server": "https://10.0.0.5:9345",
        "profile": "cis",
        "node-label": ["meridian.io/cluster=c1", "meridian.io/role=agent", "tier=batch"],
        "node-taint": ["dedicated=batch:NoSchedule", "example.org/flaky:PreferNoSchedule"],
    }
    bare = rke2.agent_config(token="t", join_url="https://10.0.0.5:9345", labels={}, taints=[], cluster="c1")
    assert bare == {
        "token": "t",
        "server": "https://10.0.0.5:9345",
        "profile": "cis",
        "node-label": ["meridian.io/cluster=c1", "meridian.io/role=agent"],
    }


@pytest.mark.parametrize("role", ["server", "agent"])
def test_cloud_init_installs_the_pinned_release_as_the_role(role: str) -> None:
    config = {"token": "t0k", "node-label": ["a=b"]}
    pems = [f"{ca}-{part}" for ca in rke2.CUSTOM_CAS for part in ("CRT", "KEY")] + ["SERVICE-KEY"]
    files = rke2.ca_files(pems) if role == "server" else []
    text = rke2.cloud_init(role, "v1.33.13+rke2r2", config, files)
    first, _, rest = text.partition("\n")
    assert first == "#cloud-config"
    document = yaml.safe_load(rest)
    assert install_env(document) == {"VERSION": "v1.33.13+rke2r2", "TYPE": role, "METHOD": "tar"}
    written = {f["path"]: f for f in document["write_files"]}
    assert yaml.safe_load(written[rke2.CONFIG_PATH]["content"]) == config
    assert written[rke2.CONFIG_PATH]["permissions"] == "0600"
    lines = script_lines(document)
    # The etcd user the CIS profile needs exists only where etcd runs, before RKE2 starts;
    # the CIS sysctl settings are applied before it starts everywhere.
    useradd = [i for i, line in enumerate(lines) if "useradd" in line]
    start = lines.index(f"systemctl enable --now rke2-{role}.service")
    sysctl = lines.index("systemctl restart systemd-sysctl")
    assert sysctl < start and start == len(lines) - 1
    if role == "server":
        assert len(useradd) == 1 and useradd[0] < start
        assert "-M etcd -U" in lines[useradd[0]]
        config_files = {rke2.CONFIG_PATH, rke2.INSTALL_SCRIPT}
        assert {path: f["permissions"] for path, f in written.items() if path not in config_files} == CA_FILES
        assert all(f["owner"] == "root:root" for f in written.values())
        assert written[f"{rke2.TLS_DIR}/client-ca.key"]["content"] == "client-ca-KEY"
        assert written[f"{rke2.TLS_DIR}/etcd/peer-ca.crt"]["content"] == "etcd/peer-ca-CRT"
        assert written[f"{rke2.TLS_DIR}/service.key"]["content"] == "SERVICE-KEY"
    else:
        assert useradd == []
        assert list(written) == [rke2.CONFIG_PATH, rke2.INSTALL_SCRIPT]


@pytest.mark.parametrize("role", ["server", "agent"])
def test_install_script_runs_the_cis_host_setup_before_rke2_starts(role: str) -> None:
    text = rke2.install_script(role, "v1.33.13+rke2r2")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[1].startswith("# ")  # Meridian's note: a comment, never a command
    # docs.rke2.io/security/hardening_guide, "Setting up hosts": with the `cis` profile RKE2 exits
    # unless the kernel parameters are set and, where etcd runs, an etcd user and group exist; it
    # ships the sysctl file but does not apply it. For a tarball install: "sudo cp -f
    # /usr/local/share/rke2/rke2-cis-sysctl.conf /etc/sysctl.d/60-rke2-cis.conf" and "sudo systemctl
    # restart systemd-sysctl"; "Create the etcd user": "sudo useradd -r -c "etcd user" -s /sbin/nologin
    # -M etcd -U" (-U: a group of the same name, which some distributions' useradd does not create).
    etcd_user = ['id -u etcd >/dev/null 2>&1 || useradd -r -c "etcd user" -s /sbin/nologin -M etcd -U']
    assert [lines[0], *lines[2:]] == [
        "#!/bin/bash",
        "set -euo pipefail",
        "curl -sfL --retry 10 --retry-delay 6 --retry-all-errors -o /root/rke2-install.sh https://get.rke2.io",
        f"INSTALL_RKE2_VERSION=v1.33.13+rke2r2 INSTALL_RKE2_TYPE={role} INSTALL_RKE2_METHOD=tar"
        " sh /root/rke2-install.sh",
        "cp -f /usr/local/share/rke2/rke2-cis-sysctl.conf /etc/sysctl.d/60-rke2-cis.conf",
        "systemctl restart systemd-sysctl",
        *(etcd_user if role == "server" else []),
        f"systemctl enable --now rke2-{role}.service",
    ]


def test_cloud_init_keeps_every_script_line_whole() -> None:
    # Whoever debugs a boot reads the user data as written (Nova's metadata, cloud-init's
    # /var/lib/cloud/instance/user-data.txt): each script line must appear there whole, not folded
    # at PyYAML's default width of 80 columns (a fold parses back the same but splits the command).
    version = "v1.33.13+rke2r2"
    script = rke2.install_script("server", version)
    long_lines = [line for line in script.splitlines() if len(line) > 80]
    assert long_lines  # the case at hand: the download and install commands
    text = rke2.cloud_init("server", version, {"token": "t0k"}, [])
    rows = text.splitlines()
    for line in long_lines:
        assert any(line in row for row in rows), line
    first, _, rest = text.partition("\n")
    assert first == "#cloud-config"
    [written] = [f for f in yaml.safe_load(rest)["write_files"] if f["path"] == rke2.INSTALL_SCRIPT]
    assert written["content"] == script


def test_kubeconfig_renderer() -> None:
    text = rke2.kubeconfig("c1", "https://198.51.100.7:6443", "CA-PEM", "CERT-PEM", "KEY-PEM")
    document = yaml.safe_load(text)
    assert document["apiVersion"] == "v1" and document["kind"] == "Config"
    (cluster,) = document["clusters"]
    (user,) = document["users"]
    assert cluster["name"] == "c1"
    assert cluster["cluster"]["server"] == "https://198.51.100.7:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode() == "CA-PEM"
    assert base64.b64decode(user["user"]["client-certificate-data"]).decode() == "CERT-PEM"
    assert base64.b64decode(user["user"]["client-key-data"]).decode() == "KEY-PEM"
    (context,) = document["contexts"]
    assert document["current-context"] == context["name"]
    assert context["context"] == {"cluster": "c1", "user": user["name"]}


def test_an_initialized_cluster_has_every_server_join(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any]
) -> None:
    platform = copy.deepcopy(base_platform)
    spec = rke2_cluster_spec()
    spec["control_plane"] = {**spec["control_plane"], "initialized": True}
    platform["clusters"] = {CLUSTER: spec}
    rk = Rke2Plan(platform, plan_of(platform, reveal_secrets=True))
    # A replaced server-0 must rejoin the cluster, not found a second one behind the LB.
    for server in rk.servers():
        assert rk.rke2_config(server)["server"] == f"https://{rk.vip()}:{ports.RKE2_SUPERVISOR}"
        assert [f["path"] for f in rk.cloud_config(server)["write_files"]] == [rke2.CONFIG_PATH, rke2.INSTALL_SCRIPT]


# --------------------------------------------------------------------------------------------
# Checked by the real tools: cloud-init's own schema, shellcheck on the embedded install script


def _cloud_init_schema(text: str, tmp_path: Any) -> subprocess.CompletedProcess[str]:
    assert shutil.which("cloud-init"), "cloud-init is missing: run `make tools`"
    path = tmp_path / "user-data"
    path.write_text(text)
    return subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)


def test_user_data_passes_cloud_inits_schema(rk: Rke2Plan, tmp_path: Any) -> None:
    first, joining = rk.servers()[0], rk.servers()[1]
    agent = rk.pool_instances("cpu")[0]
    for instance in (first, joining, agent):
        result = _cloud_init_schema(rk.revealed(instance)["userData"], tmp_path)
        assert result.returncode == 0, (instance["name"], result.stdout, result.stderr)


def test_cloud_inits_schema_catches_a_broken_document(rk: Rke2Plan, tmp_path: Any) -> None:
    document = rk.cloud_config(rk.servers()[0])
    document["write_files"][0]["permisions"] = document["write_files"][0].pop("permissions")
    document["runcmd"] = rke2.INSTALL_SCRIPT  # a string, not a list of commands
    result = _cloud_init_schema("#cloud-config\n" + yaml.safe_dump(document), tmp_path)
    assert result.returncode != 0
    assert "permisions" in result.stdout + result.stderr


@pytest.mark.parametrize("role", ["server", "agent"])
def test_install_script_passes_shellcheck(role: str) -> None:
    assert shutil.which("shellcheck"), "shellcheck is missing: run `make tools`"
    script = rke2.install_script(role, "v1.33.13+rke2r2")
    result = subprocess.run(["shellcheck", "--severity=style", "-"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    broken = script.replace("set -euo pipefail", "cd $HOME")
    result = subprocess.run(["shellcheck", "--severity=style", "-"], input=broken, capture_output=True, text=True)
    assert result.returncode != 0 and "SC2086" in result.stdout
