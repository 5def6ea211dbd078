"""capi clusters: Cluster API objects on the management cluster (components/clusters/capi.py, addons/cluster_api.py).

The bundled stack destine-extremes builds extremes-kajaani with Cluster API from extremes-bologna.
Every object is validated against the CRDs of the releases the providers serve (Cluster API v1.14.0,
CAPO v0.14.7, the operator v0.28.0: the chart lock's CRD files, from the mirror).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PlanCache, edited_stack

from components.addons.cluster_api import CAPI_VERSION, CAPO_VERSION, ORC_MANIFEST
from components.clusters.capi import CALICO_MANIFEST, PROVIDER_ID
from components.spec.catalog import BACKEND_VERSIONS
from scripts.diff import diff_plans
from scripts.harness import STACKS, Plan, evaluate, offline_vault_field
from scripts.mocks import stable_uuid
from scripts.validate import validate_objects

STACK = "destine-extremes"
CLUSTER = "extremes-kajaani"
NAMESPACE = "capi-extremes-kajaani"
MD = "kubernetes:cluster.x-k8s.io/v1beta2:MachineDeployment"
MHC = "kubernetes:cluster.x-k8s.io/v1beta2:MachineHealthCheck"
CAPI_CLUSTER = "kubernetes:cluster.x-k8s.io/v1beta2:Cluster"
KCP = "kubernetes:controlplane.cluster.x-k8s.io/v1beta2:KubeadmControlPlane"
BOOTSTRAP = "kubernetes:bootstrap.cluster.x-k8s.io/v1beta2:KubeadmConfigTemplate"
OS_CLUSTER = "kubernetes:infrastructure.cluster.x-k8s.io/v1beta1:OpenStackCluster"
MACHINES = "kubernetes:infrastructure.cluster.x-k8s.io/v1beta1:OpenStackMachineTemplate"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
PROVIDER = "pulumi:providers:kubernetes"
CAPI_TYPES = (CAPI_CLUSTER, KCP, MD, MHC, BOOTSTRAP, OS_CLUSTER, MACHINES)
CAPACITY = "capacity.cluster-autoscaler.kubernetes.io/"


_PLANS: dict[str, Plan] = PlanCache()


@pytest.fixture
def plan() -> Plan:
    """destine-extremes with secrets revealed, evaluated once per process (afresh per test in mutmut's stats run)."""
    if STACK not in _PLANS:
        _PLANS[STACK] = evaluate(STACK, reveal_secrets=True)
    return _PLANS[STACK]


def kubelet_args(registration: dict[str, Any]) -> dict[str, str]:
    return {arg["name"]: arg["value"] for arg in registration["kubeletExtraArgs"]}


def capi_objects(plan: Plan) -> list[dict[str, Any]]:
    return [r["inputs"] for token in CAPI_TYPES for r in plan.by_type(token)]


def test_every_cluster_api_object_validates_against_the_providers_crds(plan: Plan) -> None:
    objects = capi_objects(plan)
    assert len(objects) == 1 + 1 + 2 + 2 + 2 + 1 + 3  # Cluster, KCP, MDs, MHCs, bootstraps, OSCluster, templates
    assert validate_objects(objects, "1.34.0", "capi") == []
    operator_objects = [r["inputs"] for r in plan.resources if r["type"].startswith("kubernetes:operator.cluster")]
    assert len(operator_objects) == 4
    assert validate_objects(operator_objects, "1.34.0", "providers") == []
    # The check bites: a misspelt field and a v1beta1-style argument map are refused.
    deployment = copy.deepcopy(plan.one(MD, f"{CLUSTER}-a100")["inputs"])
    deployment["spec"]["template"]["spec"]["infraRef"] = deployment["spec"]["template"]["spec"].pop("infrastructureRef")
    bootstrap = copy.deepcopy(plan.one(BOOTSTRAP, f"{CLUSTER}-a100-bootstrap")["inputs"])
    registration = bootstrap["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
    registration["kubeletExtraArgs"] = kubelet_args(registration)
    problems = validate_objects([deployment, bootstrap], "1.34.0", "broken")
    assert len(problems) == 2, [str(p) for p in problems]


def test_each_pool_gets_its_machines_labels_taints_and_autoscaler_annotations(plan: Plan) -> None:
    spec = yaml.safe_load((STACKS / f"Pulumi.{STACK}.yaml").read_text())["config"]["meridian:platform"]
    kajaani = spec["clusters"][CLUSTER]
    for pool_name, pool in kajaani["node_pools"].items():
        deployment = plan.one(MD, f"{CLUSTER}-{pool_name}")["inputs"]
        template_ref = deployment["spec"]["template"]["spec"]["infrastructureRef"]["name"]
        [machines] = [r["inputs"] for r in plan.by_type(MACHINES) if r["inputs"]["metadata"]["name"] == template_ref]
        machine = machines["spec"]["template"]["spec"]
        assert machine["flavor"] == pool["flavor"]
        assert machine["image"] == {"filter": {"name": kajaani["image"]}}
        assert machine["rootVolume"] == {"sizeGiB": pool.get("disk_gb", 100)}
        assert machines["metadata"]["namespace"] == NAMESPACE
        bootstrap_ref = deployment["spec"]["template"]["spec"]["bootstrap"]["configRef"]
        [bootstrap] = [
            r["inputs"] for r in plan.by_type(BOOTSTRAP) if r["inputs"]["metadata"]["name"] == bootstrap_ref["name"]
        ]
        registration = bootstrap["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
        args = kubelet_args(registration)
        assert args["provider-id"] == PROVIDER_ID
        labels = dict(item.split("=", 1) for item in args["node-labels"].split(","))
        assert labels["meridian.io/pool"] == pool_name
        assert deployment["spec"]["template"]["spec"]["version"] == BACKEND_VERSIONS["capi"][kajaani["version"]]
        # Both pools autoscale: the bounds as annotations, no replicas for the engine to fight over.
        annotations = deployment["metadata"]["annotations"]
        assert annotations["cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"] == str(pool["min_size"])
        assert annotations["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == str(pool["max_size"])
        assert "replicas" not in deployment["spec"]
        health = plan.one(MHC, f"{CLUSTER}-{pool_name}-health")["inputs"]["spec"]
        assert health["selector"] == deployment["spec"]["selector"]
        assert {c["status"] for c in health["checks"]["unhealthyNodeConditions"]} == {"False", "Unknown"}
    # The GPU pool: MIG layout label, the GPU taint, and what a node at zero looks like.
    a100 = plan.one(MD, f"{CLUSTER}-a100")["inputs"]["metadata"]["annotations"]
    bootstrap = plan.one(BOOTSTRAP, f"{CLUSTER}-a100-bootstrap")["inputs"]
    registration = bootstrap["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
    assert registration["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    labels = dict(item.split("=", 1) for item in kubelet_args(registration)["node-labels"].split(","))
    assert labels["nvidia.com/mig.config"].startswith("custom-")
    flavor = spec["sites"]["lumi-kajaani"]["flavors"]["gpu.a100.1"]
    assert a100[CAPACITY + "cpu"] == str(flavor["vcpus"])
    assert a100[CAPACITY + "memory"] == f"{flavor['memory_gib'] * 1024}Mi"
    # Mixed-strategy MIG: its slices are resources no capacity annotation can name (the pool stays above zero).
    assert CAPACITY + "gpu-type" not in a100 and CAPACITY + "gpu-count" not in a100
    assert a100[CAPACITY + "taints"] == "nvidia.com/gpu=present:NoSchedule"
    assert "meridian.io/pool=a100" in a100[CAPACITY + "labels"].split(",")
    # Workers carry no taint but what the spec says (an empty list, not kubeadm's default).
    workflow = plan.one(BOOTSTRAP, f"{CLUSTER}-workflow-bootstrap")["inputs"]
    assert workflow["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]["taints"] == []


def test_the_cluster_sits_on_the_site_network_behind_its_allow_list(plan: Plan) -> None:
    spec = plan.one(OS_CLUSTER, f"{CLUSTER}-openstack-cluster")["inputs"]["spec"]
    # The site's network and subnet, by the IDs the cloud gave them.
    assert spec["network"] == {"id": stable_uuid("openstack:networking/network:Network", "lumi-kajaani-network")}
    assert spec["subnets"] == [{"id": stable_uuid("openstack:networking/subnet:Subnet", "lumi-kajaani-subnet")}]
    assert "managedSubnets" not in spec
    # The site's router, named so CAPO admits its gateway (the nodes' source towards the API's floating IP).
    assert spec["router"] == {"id": stable_uuid("openstack:networking/router:Router", "lumi-kajaani-router")}
    rules = {r["name"]: r for r in spec["managedSecurityGroups"]["allNodesSecurityGroupRules"]}
    assert (rules["node exporter"]["portRangeMin"], rules["node exporter"]["portRangeMax"]) == (9100, 9100)
    assert rules["IP-in-IP (Calico)"]["protocol"] == "4"
    balancer = spec["apiServerLoadBalancer"]
    assert balancer["enabled"] is True and balancer["provider"] == "amphora"
    egress = plan.outputs["egress_addresses"]
    # The admins, the site's own network, and the management cluster's site (Cluster API's controllers).
    assert "192.0.2.0/25" in balancer["allowedCIDRs"] and "10.81.0.0/16" in balancer["allowedCIDRs"]
    assert all(f"{ip}/32" in balancer["allowedCIDRs"] for ip in egress["ewc-bologna"])
    assert spec["identityRef"] == {"cloudName": "openstack", "name": f"{CLUSTER}-cloud-config", "type": "Secret"}
    cloud = plan.one(SECRET, f"{CLUSTER}-cloud-config")
    assert cloud["secret_paths"] and "stringData" in cloud["secret_paths"][0]
    clouds = yaml.safe_load(plan.revealed[cloud["urn"]]["stringData"]["clouds.yaml"])["clouds"]["openstack"]
    assert clouds["auth_type"] == "v3applicationcredential"
    assert clouds["auth"]["application_credential_id"] == "9f8e7d6c5b4a4f3e2d1c0b9a8f7e6d5c"
    assert clouds["auth"]["auth_url"] == "https://keystone.lumi-kajaani.example:5000/v3"
    # The secret is the one the site's reference names (read offline as a marked placeholder).
    reference = ("kv", "destine-extremes/openstack/lumi-kajaani", "cluster_credential_secret")
    assert clouds["auth"]["application_credential_secret"] == offline_vault_field(*reference)
    assert (clouds["region_name"], clouds["interface"], clouds["identity_api_version"]) == ("RegionOne", "public", 3)
    # The secret itself never appears in the plan document.
    assert clouds["auth"]["application_credential_secret"] not in json.dumps(plan.to_json())


def test_the_providers_are_pinned_and_awaited_after_cert_manager(plan: Plan) -> None:
    providers = {r["inputs"]["kind"]: r for r in plan.resources if r["type"].startswith("kubernetes:operator.cluster")}
    assert {kind: r["inputs"]["spec"]["version"] for kind, r in providers.items()} == {
        "CoreProvider": CAPI_VERSION,
        "BootstrapProvider": CAPI_VERSION,
        "ControlPlaneProvider": CAPI_VERSION,
        "InfrastructureProvider": CAPO_VERSION,
    }
    assert providers["CoreProvider"]["inputs"]["metadata"]["name"] == "cluster-api"
    assert providers["InfrastructureProvider"]["inputs"]["metadata"]["name"] == "openstack"
    operator = plan.one(RELEASE, "extremes-bologna-cluster-api-operator")
    cert_manager = plan.one(RELEASE, "extremes-bologna-cert-manager")
    orc = plan.one("kubernetes:yaml/v2:ConfigFile", "extremes-bologna-orc")
    assert orc["inputs"]["file"] == ORC_MANIFEST
    assert cert_manager["urn"] in operator["depends_on"]
    for provider in providers.values():
        annotations = provider["inputs"]["metadata"]["annotations"]
        assert annotations["pulumi.com/waitFor"] == "condition=Ready"
        assert operator["urn"] in provider["depends_on"]
    assert orc["urn"] in providers["InfrastructureProvider"]["depends_on"]
    # Every Cluster API object of the workload cluster waits for all four.
    for token in CAPI_TYPES:
        for resource in plan.by_type(token):
            assert {p["urn"] for p in providers.values()} <= set(resource["depends_on"]), resource["name"]


def test_the_kubeconfig_is_read_once_the_control_plane_is_available(plan: Plan) -> None:
    control_plane = plan.one(KCP, f"{CLUSTER}-control-plane")
    version = BACKEND_VERSIONS["capi"]["1.34"]
    wait = json.loads(control_plane["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"])
    assert wait == ["condition=Available", f"jsonpath={{.status.version}}={version}"]
    [read] = [r for r in plan.reads if r["name"] == f"{CLUSTER}-kubeconfig"]
    assert read["id"] == f"{NAMESPACE}/{CLUSTER}-kubeconfig"
    assert read["depends_on"] == [control_plane["urn"]]
    bologna = plan.one(PROVIDER, "extremes-bologna-k8s")
    assert read["provider"].startswith(bologna["urn"])
    # The readiness wait follows the control plane; the CNI goes through a provider on the new API.
    ready = plan.one("command:local:Command", f"{CLUSTER}-api-ready")
    assert control_plane["urn"] in ready["depends_on"]
    calico = plan.one("kubernetes:yaml/v2:ConfigFile", f"{CLUSTER}-calico")
    assert calico["inputs"]["file"] == CALICO_MANIFEST
    assert calico["provider"].startswith(plan.one(PROVIDER, f"{CLUSTER}-bootstrap-k8s")["urn"])
    # The cluster's provider holds the kubeconfig Cluster API wrote: secret in the plan, the same text revealed.
    provider = plan.one(PROVIDER, f"{CLUSTER}-k8s")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    kubeconfig = yaml.safe_load(plan.revealed[provider["urn"]]["kubeconfig"])
    assert kubeconfig["users"][0]["name"] == f"{CLUSTER}-admin"
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    env = plan.revealed[ready["urn"]]["environment"]
    assert env["MERIDIAN_API_SERVER"] == server
    assert (
        env["MERIDIAN_API_CERT"] == base64.b64decode(kubeconfig["users"][0]["user"]["client-certificate-data"]).decode()
    )
    assert ready["inputs"]["environment"]["MERIDIAN_API_KEY"] == "[secret]"


def test_the_autoscaler_runs_on_the_management_cluster_against_the_workload_cluster(plan: Plan) -> None:
    deployment = plan.one("kubernetes:apps/v1:Deployment", f"{CLUSTER}-autoscaler")["inputs"]
    assert deployment["metadata"]["namespace"] == NAMESPACE
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.5"
    assert "--cloud-provider=clusterapi" in container["args"]
    assert "--clusterapi-cloud-config-authoritative" in container["args"]
    assert f"--node-group-auto-discovery=clusterapi:namespace={NAMESPACE},clusterName={CLUSTER}" in container["args"]
    [volume] = pod["volumes"]
    assert volume["secret"]["secretName"] == f"{CLUSTER}-kubeconfig"
    role = plan.one("kubernetes:rbac.authorization.k8s.io/v1:Role", f"{CLUSTER}-autoscaler-role")["inputs"]
    assert role["metadata"]["namespace"] == NAMESPACE
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"machinedeployments", "machinedeployments/scale", "openstackmachinetemplates"} <= resources


def _edit(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Plan:
    return edited_stack(tmp_path, STACK, edit)


def test_a_pool_size_change_updates_its_machine_deployment_only(tmp_path: Path, plan: Plan) -> None:
    def grow(platform: dict[str, Any]) -> None:
        platform["clusters"][CLUSTER]["node_pools"]["a100"]["max_size"] = 6

    head = _edit(tmp_path, grow)
    base = evaluate(STACK)
    diff = diff_plans(base, head)
    changed = [(c.operation, c.name) for c in diff.changes]
    assert changed == [("update", f"{CLUSTER}-a100")], changed
    [change] = diff.changes
    [property_change] = change.changes
    assert property_change.path == 'metadata.annotations["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"]'
    assert (property_change.old, property_change.new) == ("4", "6")


def test_a_version_upgrade_rolls_the_control_plane_then_the_pools_in_place(tmp_path: Path) -> None:
    def upgrade(platform: dict[str, Any]) -> None:
        kajaani = platform["clusters"][CLUSTER]
        kajaani["version"] = "1.35"
        kajaani["image"] = "ubuntu-2404-kube-v1.35.5"

    head = _edit(tmp_path, upgrade)
    base = evaluate(STACK)
    diff = diff_plans(base, head)
    by_name = {c.name: c for c in diff.changes}
    version = BACKEND_VERSIONS["capi"]["1.35"]
    control_plane = by_name[f"{CLUSTER}-control-plane"]
    assert control_plane.operation == "update"
    assert any(c.path == "spec.version" and c.new == version for c in control_plane.changes)
    for pool in ("workflow", "a100"):
        deployment = by_name[f"{CLUSTER}-{pool}"]
        assert deployment.operation == "update", pool
        assert any(c.path == "spec.template.spec.version" and c.new == version for c in deployment.changes)
        # The new image makes new (immutable) machine templates the deployment now names.
        assert by_name[f"{CLUSTER}-{pool}-machines"].operation == "replace"
    # The pools roll after the control plane: each deployment waits for it (and it for its version).
    for pool in ("workflow", "a100"):
        assert head.one(KCP, f"{CLUSTER}-control-plane")["urn"] in head.one(MD, f"{CLUSTER}-{pool}")["depends_on"]
    # Nothing of the cluster itself is replaced.
    replaced = {c.name for c in diff.changes if c.operation in ("replace", "delete")}
    assert replaced == {f"{CLUSTER}-workflow-machines", f"{CLUSTER}-a100-machines", f"{CLUSTER}-control-plane-machines"}


def test_sveltos_finds_the_capi_cluster_by_itself(tmp_path: Path) -> None:
    """With Sveltos on the management cluster: no SveltosCluster for the capi cluster, its labels on its Cluster."""
    from components.spec import parse_platform
    from components.spec.gitops import cluster_labels

    def sveltos(platform: dict[str, Any]) -> None:
        platform["gitops"] = {"engine": "sveltos", "management_cluster": "extremes-bologna", "exclude": ["hpc-bridge"]}

    head = _edit(tmp_path, sveltos)
    platform = yaml.safe_load((tmp_path / f"Pulumi.{STACK}.yaml").read_text())["config"]["meridian:platform"]
    spec = parse_platform(platform, STACK)
    registrations = [r["name"] for r in head.by_type("kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster")]
    assert registrations == ["postproc-sveltos-cluster"]
    assert not [
        r for r in head.resources if r["name"].startswith(f"{CLUSTER}-sveltos") and "-identity" not in r["name"]
    ]
    # The engine's identity on it serves only the waits for what the engine delivers there
    # (components/delivered.py): no registration Secret holds its token.
    identities = sorted({r["name"] for r in head.resources if "-identity" in r["name"]})
    assert identities == [
        f"{CLUSTER}-sveltos-identity",
        f"{CLUSTER}-sveltos-identity-token",
        "postproc-sveltos-identity",
        "postproc-sveltos-identity-token",
    ], identities
    assert not [r for r in head.by_type("kubernetes:core/v1:Secret") if r["name"] == f"{CLUSTER}-sveltos-kubeconfig"]
    wait = head.one("command:local:Command", f"{CLUSTER}-gpu-operator-delivered")
    # After the token and its binding: a token RBAC does not bind yet would be refused, ending the wait.
    token = head.one("kubernetes:core/v1:Secret", f"{CLUSTER}-sveltos-identity-token")
    binding = head.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", f"{CLUSTER}-sveltos-identity")
    assert token["urn"] in wait["depends_on"] and binding["urn"] in wait["depends_on"]
    labels = head.one(CAPI_CLUSTER, f"{CLUSTER}-cluster")["inputs"]["metadata"]["labels"]
    assert cluster_labels(spec, CLUSTER).items() <= labels.items()
    # Its GPU Operator still comes from the engine, selected by those labels.
    profile = head.one(
        "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile", f"{CLUSTER}-gpu-operator-clusterprofile"
    )
    selector = profile["inputs"]["spec"]["clusterSelector"]
    assert selector["matchExpressions"] == [{"key": "meridian.io/cluster", "operator": "In", "values": [CLUSTER]}]
    assert selector["matchLabels"].items() <= labels.items()
    # With Fleet (the bundled stack), the capi cluster is registered like any other.
    fleet = evaluate(STACK)
    assert fleet.one("kubernetes:fleet.cattle.io/v1alpha1:Cluster", f"{CLUSTER}-fleet-cluster")
    assert "meridian.io/cluster" not in fleet.one(CAPI_CLUSTER, f"{CLUSTER}-cluster")["inputs"]["metadata"]["labels"]


def test_machines_take_the_break_glass_key_from_their_boot_configuration(plan: Plan) -> None:
    """No Nova key pair (it is the deployer's; CAPO creates servers as the cluster credential's user)."""
    key = yaml.safe_load((STACKS / f"Pulumi.{STACK}.yaml").read_text())["config"]["meridian:platform"]["sites"][
        "lumi-kajaani"
    ]["openstack"]["ssh_public_key"]
    admin_group = stable_uuid("openstack:networking/secGroup:SecGroup", "lumi-kajaani-admin")
    for template in plan.by_type(MACHINES):
        machine = template["inputs"]["spec"]["template"]["spec"]
        assert "sshKeyName" not in machine
        assert machine["securityGroups"] == [{"id": admin_group}]
    plane = plan.one(KCP, f"{CLUSTER}-control-plane")["inputs"]["spec"]["kubeadmConfigSpec"]
    pools = [r["inputs"]["spec"]["template"]["spec"] for r in plan.by_type(BOOTSTRAP)]
    for config in (plane, *pools):
        [user] = config["users"]
        assert user["sshAuthorizedKeys"] == [key] and user["name"] == "meridian"


def test_a_whole_gpu_pool_can_sit_at_zero(tmp_path: Path) -> None:
    def whole(platform: dict[str, Any]) -> None:
        pool = platform["clusters"][CLUSTER]["node_pools"]["a100"]
        pool["min_size"] = 0
        pool["gpu"] = {"model": "A100-40GB", "count": 1}

    head = _edit(tmp_path, whole)
    deployment = head.one(MD, f"{CLUSTER}-a100")["inputs"]
    annotations = deployment["metadata"]["annotations"]
    assert annotations["cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"] == "0"
    assert (annotations[CAPACITY + "gpu-type"], annotations[CAPACITY + "gpu-count"]) == ("nvidia.com/gpu", "1")
    assert annotations[CAPACITY + "cpu"] == "16" and annotations[CAPACITY + "ephemeral-disk"] == "500Gi"
    assert "replicas" not in deployment["spec"]

    def time_sliced(platform: dict[str, Any]) -> None:
        whole(platform)
        gpu = platform["clusters"][CLUSTER]["node_pools"]["a100"]["gpu"]
        gpu.update({"sharing": "time-sliced", "time_slicing": {"replicas": 4}})

    (tmp_path / "shared").mkdir()
    shared = edited_stack(tmp_path / "shared", STACK, time_sliced).one(MD, f"{CLUSTER}-a100")
    # What a node advertises: four shares of its one GPU.
    assert shared["inputs"]["metadata"]["annotations"][CAPACITY + "gpu-count"] == "4"


def test_versions_and_images_follow_the_catalog() -> None:
    from components.addons.cinder_csi import RELEASES
    from components.clusters.autoscaler import AUTOSCALER_IMAGES

    # An autoscaler for every minor of the two backends that run one (capi, eks), and no other.
    assert sorted(AUTOSCALER_IMAGES) == sorted({*BACKEND_VERSIONS["capi"], *BACKEND_VERSIONS["eks"]})
    for minor, image in AUTOSCALER_IMAGES.items():
        # The autoscaler's release of the cluster's minor (its README's version policy).
        assert image.rsplit(":", 1)[1].startswith(f"v{minor}."), image
    for minor, version in BACKEND_VERSIONS["capi"].items():
        assert version.startswith(f"v{minor}."), minor
        assert minor in RELEASES


OCCM = "openstack-cloud-controller-manager"


def test_the_cloud_controller_initialises_nodes_and_makes_load_balancers(plan: Plan) -> None:
    """cloud-provider external everywhere, and cloud-provider-openstack's controller on the new cluster first."""
    control_plane = plan.one(KCP, f"{CLUSTER}-control-plane")["inputs"]["spec"]["kubeadmConfigSpec"]
    assert control_plane["clusterConfiguration"]["controllerManager"]["extraArgs"] == [
        {"name": "cloud-provider", "value": "external"}
    ]
    registrations = [
        control_plane["initConfiguration"]["nodeRegistration"],
        control_plane["joinConfiguration"]["nodeRegistration"],
        *(
            r["inputs"]["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
            for r in plan.by_type(BOOTSTRAP)
        ),
    ]
    for registration in registrations:
        assert kubelet_args(registration)["cloud-provider"] == "external"
    daemonset = plan.one("kubernetes:apps/v1:DaemonSet", f"{CLUSTER}-occm-daemonset")
    bootstrap = plan.one(PROVIDER, f"{CLUSTER}-bootstrap-k8s")
    assert daemonset["provider"].startswith(bootstrap["urn"])
    pod = daemonset["inputs"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"].endswith(":v1.34.1")
    assert f"--cluster-name={CLUSTER}" in container["args"]
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    config = plan.one(SECRET, f"{CLUSTER}-occm-config")
    assert config["inputs"]["metadata"]["name"] == "openstack-ccm-cloud-config"  # not Cinder CSI's cloud-config
    conf = plan.revealed[config["urn"]]["stringData"]["cloud.conf"]
    assert "[Global]" in conf and "application-credential-id" in conf
    load_balancer = conf[conf.index("[LoadBalancer]") :].splitlines()[1:]
    settings = dict(line.split(" = ", 1) for line in load_balancer if line)
    # The site's external network (the one CAPO's OpenStackCluster names) and subnet, amphora.
    external = plan.one(OS_CLUSTER, f"{CLUSTER}-openstack-cluster")["inputs"]["spec"]["externalNetwork"]["id"]
    subnet = stable_uuid("openstack:networking/subnet:Subnet", "lumi-kajaani-subnet")
    assert settings == {
        "floating-network-id": f'"{external}"',
        "subnet-id": f'"{subnet}"',
        "lb-provider": '"amphora"',
        "create-monitor": "true",
    }
    # The add-ons' provider waits for it: its kubeconfig resolves once the DaemonSet is ready.
    assert daemonset["urn"] in {d for d in plan.one(PROVIDER, f"{CLUSTER}-k8s")["depends_on"]}


def test_a_hub_can_run_on_a_capi_cluster(tmp_path: Path) -> None:
    """The ingress add-on publishes through the cloud controller's load balancer, as on magnum."""
    from components.addons.ingress import OPENSTACK_KEEP_FLOATING_IP

    def hub(platform: dict[str, Any]) -> None:
        platform["clusters"][CLUSTER]["addons"]["jupyterhub"] = copy.deepcopy(
            platform["clusters"]["postproc"]["addons"]["jupyterhub"]
        ) | {"hostname": "hub.kajaani.destine-x.eu", "gpu_quota": {}}
        platform["clusters"][CLUSTER]["addons"]["jupyterhub"]["profiles"].pop("h100-slice")
        platform["clusters"][CLUSTER]["addons"]["ingress"] = {
            "allowed_sources": ["0.0.0.0/0"],
            "acme": {"email": "platform@destine-x.eu", "environment": "production"},
        }

    head = _edit(tmp_path, hub)
    # The cluster's add-ons come from the engine (the bundled stack's `delivery: gitops`).
    helmop = head.one("kubernetes:fleet.cattle.io/v1alpha1:HelmOp", f"{CLUSTER}-traefik-helmop")
    traefik = helmop["inputs"]["spec"]["helm"]["values"]
    service = traefik["service"]
    assert service["annotations"][OPENSTACK_KEEP_FLOATING_IP] == "true"
    assert head.one("openstack:networking/floatingIp:FloatingIp", f"{CLUSTER}-ingress")
    assert head.one(RELEASE, f"{CLUSTER}-jupyterhub")


def test_the_plan_shows_the_kubeconfig_read(plan: Plan) -> None:
    """`meridian plan` draws reads as `pulumi preview` does: marked `>`, under their parent, counted apart."""
    from scripts.cli import render_tree

    text = render_tree(plan.resources, plan.reads)
    [line] = [line for line in text.splitlines() if line.endswith(f"{CLUSTER}-kubeconfig (read)")]
    assert line.startswith(" >  ") and "kubernetes:core/v1:Secret" in line
    assert text.endswith(f"+ {len(plan.resources)} to create\n    > 1 to read")
    assert "to read" not in render_tree(plan.resources)


def test_taints_without_a_value_and_flavors_without_sizes() -> None:
    """A taint may have no value (kubeadm's taint has then no `value`); capacity needs both CPU and memory."""
    from components.clusters.capi import MAX_SIZE, MIN_SIZE, _taints, autoscaling_annotations
    from components.spec.clusters import NodePoolSpec, TaintSpec
    from components.spec.sites import FlavorSpec

    taints = [TaintSpec(key="dedicated", effect="NoSchedule"), TaintSpec(key="a", value="b", effect="NoExecute")]
    assert _taints(taints) == [
        {"key": "dedicated", "effect": "NoSchedule"},
        {"key": "a", "value": "b", "effect": "NoExecute"},
    ]
    pool = NodePoolSpec(flavor="m1.large", min_size=1, max_size=3)
    bounds = {MIN_SIZE: "1", MAX_SIZE: "3"}
    # No facts, or half of them: the bounds alone (the autoscaler then needs a node to look at).
    for flavor in (None, FlavorSpec(vcpus=4), FlavorSpec(memory_gib=16)):
        assert autoscaling_annotations(pool, flavor, {}) == bounds, flavor
    sized = autoscaling_annotations(pool, FlavorSpec(vcpus=4, memory_gib=16), {"tier": "batch"})
    assert sized == bounds | {
        CAPACITY + "cpu": "4",
        CAPACITY + "memory": "16384Mi",
        CAPACITY + "ephemeral-disk": "100Gi",
        CAPACITY + "labels": "tier=batch",
    }
    # A fixed-size pool: nothing for the autoscaler.
    assert autoscaling_annotations(NodePoolSpec(flavor="m1.large", min_size=2, max_size=2), None, {}) == {}


def test_the_cloud_controllers_pod_and_rights_are_upstreams(plan: Plan) -> None:
    """cloud-provider-openstack v1.34.1 manifests/controller-manager: its arguments, mounts and rights, hardened."""
    daemonset = plan.one("kubernetes:apps/v1:DaemonSet", f"{CLUSTER}-occm-daemonset")["inputs"]
    assert daemonset["metadata"] | {"labels": None} == {
        "name": OCCM,
        "namespace": "kube-system",
        "labels": None,
    }
    pod = daemonset["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"] == [
        "/bin/openstack-cloud-controller-manager",
        "--v=1",
        f"--cluster-name={CLUSTER}",
        "--cloud-config=/etc/config/cloud.conf",
        "--cloud-provider=openstack",
        "--use-service-account-credentials=false",
        "--bind-address=127.0.0.1",
    ]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    assert pod["securityContext"] == {
        "runAsUser": 1001,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert (
        container["resources"]["limits"] == {"memory": "512Mi"} and container["resources"]["requests"]["cpu"] == "200m"
    )
    mounts = {m["name"]: (m["mountPath"], m["readOnly"]) for m in container["volumeMounts"]}
    assert mounts == {"ca-certs": ("/etc/ssl/certs", True), "cloud-config": ("/etc/config", True)}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["cloud-config"]["secret"] == {"secretName": "openstack-ccm-cloud-config"}
    assert volumes["ca-certs"]["hostPath"] == {"path": "/etc/ssl/certs", "type": "Directory"}
    assert (pod["hostNetwork"], pod["serviceAccountName"]) == (True, "cloud-controller-manager")
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in pod["tolerations"]
    # It restarts when its configuration changes (the checksum of the Secret's data).
    template_annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
    assert set(template_annotations) == {"meridian.io/cloud-config-checksum"}
    role = plan.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", f"{CLUSTER}-occm-clusterrole")["inputs"]
    rights = {
        (rule["apiGroups"][0], resource): tuple(rule["verbs"])
        for rule in role["rules"]
        for resource in rule["resources"]
    }
    assert rights == {
        ("coordination.k8s.io", "leases"): ("get", "create", "update"),
        ("", "events"): ("create", "patch", "update"),
        ("", "nodes"): ("*",),
        ("", "nodes/status"): ("patch",),
        ("", "services"): ("list", "patch", "update", "watch"),
        ("", "services/status"): ("patch",),
        ("", "serviceaccounts"): ("create", "get"),
        ("", "serviceaccounts/token"): ("create",),
        ("", "persistentvolumes"): ("*",),
        ("", "endpoints"): ("create", "get", "list", "watch", "update"),
        ("", "configmaps"): ("get", "list", "watch"),
        ("", "secrets"): ("list", "get", "watch"),
    }
    binding = plan.one(
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", f"{CLUSTER}-occm-clusterrolebinding"
    )
    assert binding["inputs"]["roleRef"]["name"] == role["metadata"]["name"] == "system:cloud-controller-manager"
    assert binding["inputs"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "cloud-controller-manager", "namespace": "kube-system"}
    ]


def test_the_autoscalers_pod_is_hardened_and_sized(plan: Plan) -> None:
    deployment = plan.one("kubernetes:apps/v1:Deployment", f"{CLUSTER}-autoscaler")["inputs"]
    assert deployment["metadata"]["name"] == f"{CLUSTER}-autoscaler" and deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{CLUSTER}-autoscaler"
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = pod["containers"]
    assert container["command"] == ["/cluster-autoscaler"]
    assert container["args"][1] == "--kubeconfig=/etc/kubernetes/workload/value"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}}
    assert container["volumeMounts"] == [
        {"name": "workload-kubeconfig", "mountPath": "/etc/kubernetes/workload", "readOnly": True}
    ]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    role = plan.one("kubernetes:rbac.authorization.k8s.io/v1:Role", f"{CLUSTER}-autoscaler-role")["inputs"]
    assert role["rules"][0]["verbs"] == ["get", "list", "update", "watch", "patch"]
    assert role["rules"][1] == {
        "apiGroups": ["infrastructure.cluster.x-k8s.io"],
        "resources": ["openstackmachinetemplates"],
        "verbs": ["get", "list", "watch"],
    }
    binding = plan.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", f"{CLUSTER}-autoscaler-binding")["inputs"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": f"{CLUSTER}-autoscaler",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{CLUSTER}-autoscaler", "namespace": NAMESPACE}]


def test_the_cluster_objects_carry_their_shape_ranges_and_health_rules(plan: Plan) -> None:
    from components.clusters.capi import NODE_STARTUP_SECONDS, POD_CIDR, SERVICE_CIDR, UNHEALTHY_SECONDS

    namespace = plan.one("kubernetes:core/v1:Namespace", f"{CLUSTER}-capi-namespace")["inputs"]["metadata"]
    assert namespace["name"] == NAMESPACE and namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    cloud = plan.one(SECRET, f"{CLUSTER}-cloud-config")["inputs"]["metadata"]
    assert (cloud["name"], cloud["namespace"]) == (f"{CLUSTER}-cloud-config", NAMESPACE)
    assert cloud["labels"]["clusterctl.cluster.x-k8s.io/move"] == "true"
    cluster = plan.one(CAPI_CLUSTER, f"{CLUSTER}-cluster")["inputs"]
    assert cluster["metadata"]["namespace"] == NAMESPACE and cluster["metadata"]["labels"]["cluster"] == CLUSTER
    assert cluster["spec"]["clusterNetwork"] == {
        "pods": {"cidrBlocks": [POD_CIDR]},
        "services": {"cidrBlocks": [SERVICE_CIDR]},
        "serviceDomain": "cluster.local",
    }
    assert (POD_CIDR, SERVICE_CIDR) == ("192.168.0.0/16", "10.96.0.0/12")
    assert cluster["spec"]["controlPlaneRef"] == {
        "apiGroup": "controlplane.cluster.x-k8s.io",
        "kind": "KubeadmControlPlane",
        "name": f"{CLUSTER}-control-plane",
    }
    assert cluster["spec"]["infrastructureRef"] == {
        "apiGroup": "infrastructure.cluster.x-k8s.io",
        "kind": "OpenStackCluster",
        "name": CLUSTER,
    }
    openstack = plan.one(OS_CLUSTER, f"{CLUSTER}-openstack-cluster")["inputs"]["spec"]
    assert openstack["controlPlaneAvailabilityZones"] == ["nova"]
    assert "cluster=extremes-kajaani" in openstack["tags"] and openstack["tags"] == sorted(openstack["tags"])
    assert openstack["managedSecurityGroups"]["allowAllInClusterTraffic"] is False
    control_plane = plan.one(KCP, f"{CLUSTER}-control-plane")["inputs"]
    assert control_plane["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "3600"
    assert (control_plane["spec"]["replicas"], control_plane["spec"]["version"]) == (3, "v1.34.7")
    [machines] = [
        r["inputs"]
        for r in plan.by_type(MACHINES)
        if r["inputs"]["metadata"]["name"]
        == control_plane["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"]
    ]
    assert machines["spec"]["template"]["spec"]["flavor"] == "standard.large"
    assert machines["spec"]["template"]["spec"]["rootVolume"] == {"sizeGiB": 80}
    registration = control_plane["spec"]["kubeadmConfigSpec"]["initConfiguration"]["nodeRegistration"]
    assert registration["name"] == "{{ local_hostname }}"
    assert "node-labels" not in kubelet_args(registration)
    for pool in ("workflow", "a100"):
        deployment = plan.one(MD, f"{CLUSTER}-{pool}")["inputs"]["spec"]
        selector = {"cluster.x-k8s.io/cluster-name": CLUSTER, "cluster.x-k8s.io/deployment-name": f"{CLUSTER}-{pool}"}
        assert deployment["selector"] == {"matchLabels": selector}
        assert deployment["template"]["metadata"]["labels"] == selector
        assert deployment["clusterName"] == deployment["template"]["spec"]["clusterName"] == CLUSTER
        health = plan.one(MHC, f"{CLUSTER}-{pool}-health")["inputs"]["spec"]
        assert health["clusterName"] == CLUSTER
        assert health["checks"]["nodeStartupTimeoutSeconds"] == NODE_STARTUP_SECONDS == 1200
        assert {c["timeoutSeconds"] for c in health["checks"]["unhealthyNodeConditions"]} == {UNHEALTHY_SECONDS}
        assert UNHEALTHY_SECONDS == 300
        assert {c["type"] for c in health["checks"]["unhealthyNodeConditions"]} == {"Ready"}


def test_the_operator_release_and_provider_namespaces(plan: Plan) -> None:
    operator = plan.one(RELEASE, "extremes-bologna-cluster-api-operator")["inputs"]
    assert (operator["chart"], operator["version"], operator["namespace"]) == (
        "cluster-api-operator",
        "0.28.0",
        "capi-operator-system",
    )
    values = operator["values"]
    assert values["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert values["containerSecurityContext"]["manager"]["allowPrivilegeEscalation"] is False
    assert values["resources"]["manager"]["limits"] == {"memory": "300Mi"}
    assert "core" not in values and "infrastructure" not in values  # the providers are the program's objects
    expected = {
        "CoreProvider": "capi-system",
        "BootstrapProvider": "capi-kubeadm-bootstrap-system",
        "ControlPlaneProvider": "capi-kubeadm-control-plane-system",
        "InfrastructureProvider": "capo-system",
    }
    for resource in plan.resources:
        if resource["type"].startswith("kubernetes:operator.cluster.x-k8s.io/v1alpha2:"):
            inputs = resource["inputs"]
            namespace = expected[inputs["kind"]]
            assert inputs["metadata"]["namespace"] == namespace
            assert inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "900"
            home = plan.one("kubernetes:core/v1:Namespace", f"extremes-bologna-{namespace}")
            assert home["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
            assert home["urn"] in resource["depends_on"]
    assert ORC_MANIFEST == (
        "https://github.com/k-orc/openstack-resource-controller/releases/download/v2.4.0/install.yaml"
    )


def test_an_unusable_kubeconfig_fails_without_showing_it() -> None:
    """What `pulumi up` prints when Cluster API's kubeconfig cannot be used: what is wrong, never the text."""
    from components.clusters.capi import KubeconfigError, _credentials

    key = "c2VjcmV0LWFkbWluLWtleQ=="  # base64 of an admin key's stand-in
    good = {
        "clusters": [{"cluster": {"server": "https://203.0.113.5:6443", "certificate-authority-data": key}}],
        "users": [{"user": {"client-certificate-data": key, "client-key-data": key}}],
    }
    assert _credentials(json.dumps(good), CLUSTER)[0] == "https://203.0.113.5:6443"
    assert _credentials(json.dumps(good), CLUSTER)[3] == "secret-admin-key"
    broken_yaml = f"users: [{{user: {{client-key-data: {key}}}]\n  bad: : :"
    no_key = copy.deepcopy(good)
    del no_key["users"][0]["user"]["client-key-data"]
    not_base64 = copy.deepcopy(good)
    not_base64["users"][0]["user"]["client-key-data"] = "secret-admin-key!"
    cases = {
        broken_yaml: "is not YAML",
        json.dumps(no_key): "has no client-key-data",
        json.dumps(not_base64): "client-key-data is not base64-encoded PEM",
        "[]": "has no server, certificate-authority-data, client-certificate-data, client-key-data",
    }
    for text, said in cases.items():
        with pytest.raises(KubeconfigError) as caught:
            _credentials(text, CLUSTER)
        message = str(caught.value)
        assert said in message and CLUSTER in message, message
        assert key not in message and "secret-admin-key" not in message
