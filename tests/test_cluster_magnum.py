"""The magnum backend: template, cluster and node groups as Magnum needs them, and the node-setup jobs.

Every plan comes from the one offline harness (`plan_of`, or `evaluate` with a recorder that
also keeps component outputs). Inputs that reference another resource hold the ID the mocks
gave that resource, so wiring is checked against the referenced resource's mock ID,
recomputed with `scripts.mocks`. Kubernetes objects are checked against the Kubernetes
OpenAPI schemas (`kubernetes_validate`) of the cluster's version, resource inputs against
the provider SDKs (`contract_violations`).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi_kubernetes  # noqa: F401 - importing a provider SDK registers its type tokens
import pulumi_openstack  # noqa: F401
import pytest
import yaml
from conftest import PlanCache
from pulumi.runtime import MockResourceArgs, rpc
from test_provider_contract import contract_violations

from components.clusters import magnum
from components.spec import SpecError
from components.spec.catalog import BACKEND_VERSIONS
from components.spec.clusters import GPU_TAINT, POOL_LABEL
from scripts.harness import SECRET, Plan, evaluate
from scripts.mock_outputs import magnum as magnum_mocks
from scripts.mocks import MeridianMocks, stable_uuid

CLUSTER = "hpc"
MAGNUM_NAME = f"testproj-os-a-{CLUSTER}"

KUBERNETES_CLUSTER = "meridian:clusters:KubernetesCluster"
NODE_POOL = "meridian:clusters:NodePool"
OS_PROVIDER = "pulumi:providers:openstack"
K8S_PROVIDER = "pulumi:providers:kubernetes"
TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
MAGNUM_CLUSTER = "openstack:containerinfra/cluster:Cluster"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
CRON_JOB = "kubernetes:batch/v1:CronJob"
K8S_OBJECTS = (SERVICE_ACCOUNT, CLUSTER_ROLE, CLUSTER_ROLE_BINDING, CRON_JOB)
NODE_GROUP_LABEL = "capi.stackhpc.com/node-group"


def magnum_cluster_spec() -> dict[str, Any]:
    """The cluster under test: three HA control-plane servers, a CPU, a GPU and a labelled IO pool."""
    return {
        "site": "os-a",
        "backend": "magnum",
        "version": "1.34",
        "image": "ubuntu-2404-kube-v1.34.7",
        "control_plane": {"count": 3, "flavor": "m1.large"},
        "node_pools": {
            "cpu": {"flavor": "m1.xlarge", "min_size": 2, "max_size": 5},
            "gpu": {
                "flavor": "vm.a100.1gpu",
                "min_size": 1,
                "max_size": 2,
                "gpu": {"model": "A100-80GB", "count": 1},
            },
            "io": {
                "flavor": "m1.large",
                "min_size": 1,
                "max_size": 3,
                "desired_size": 2,
                "labels": {"meridian.io/storage": "fast-io"},
            },
        },
    }


def _main(platform: dict[str, Any]) -> dict[str, Any]:
    platform = copy.deepcopy(platform)
    platform["clusters"] = {CLUSTER: magnum_cluster_spec()}
    return platform


def _variant(platform: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes 1.35, one server, no site nameservers, a GPU pool first, four pools in a non-alphabetical order."""
    platform = _main(platform)
    platform["sites"]["os-a"]["dns"]["nameservers"] = []
    platform["clusters"][CLUSTER] = {
        "site": "os-a",
        "backend": "magnum",
        "version": "1.35",
        "image": "ubuntu-2404-kube-v1.35.5",
        "control_plane": {"count": 1, "flavor": "m1.medium"},
        "node_pools": {
            "a100": {
                "flavor": "vm.a100.2gpu",
                "min_size": 1,
                "max_size": 2,
                "desired_size": 2,
                "disk_gb": 200,
                "gpu": {"model": "A100-80GB", "count": 2},
                # NoSchedule: Magnum's shared NFD worker tolerates no NoExecute taint (the spec refuses it).
                "taints": [{"key": "dedicated", "effect": "NoSchedule"}],
            },
            "web": {"flavor": "m1.large", "min_size": 1, "max_size": 4},
            "batch": {
                "flavor": "m1.xlarge",
                "min_size": 2,
                "max_size": 10,
                "labels": {"workload": "batch"},
                # Same key and effect as a100's taint: one toleration (operator Exists) covers both.
                "taints": [
                    {"key": "team", "value": "eo", "effect": "PreferNoSchedule"},
                    {"key": "dedicated", "value": "batch", "effect": "NoSchedule"},
                ],
            },
            "etl": {"flavor": "m1.large", "min_size": 1, "max_size": 2},
        },
    }
    return platform


_PLANS: dict[str, tuple[dict[str, Any], Plan, dict[str, Any]]] = PlanCache()
Plans = Callable[[str], tuple[dict[str, Any], Plan, dict[str, Any]]]


@pytest.fixture
def plans(write_stack: Callable[..., Path], base_platform: dict[str, Any]) -> Plans:
    """`(platform mapping, plan, component outputs by URN)` for "main" or "variant"; each evaluated once."""

    def get(which: str) -> tuple[dict[str, Any], Plan, dict[str, Any]]:
        if which not in _PLANS:
            platform = _main(base_platform) if which == "main" else _variant(base_platform)
            plan = evaluate(write_stack(platform, name=which))
            _PLANS[which] = (platform, plan, plan.component_outputs)
        return _PLANS[which]

    return get


def _cluster_spec(platform: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = platform["clusters"][CLUSTER]
    return spec


def _descendants(plan: Plan, urn: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for child in plan.children(urn):
        found.append(child)
        found.extend(_descendants(plan, child["urn"]))
    return found


def _cluster(plan: Plan) -> dict[str, Any]:
    return plan.one(KUBERNETES_CLUSTER, CLUSTER)


def _pool(plan: Plan, key: str) -> dict[str, Any]:
    return plan.one(NODE_POOL, f"{CLUSTER}-{key}")


def _provider_urn(resource: dict[str, Any]) -> str:
    reference: str = resource["provider"]
    return reference.rsplit("::", 1)[0]


def _pod(cron_job: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cron_job["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def _steps(cron_job: dict[str, Any]) -> list[list[str]]:
    """Each container's kubectl arguments, in the order the pod runs them (init containers first)."""
    pod = _pod(cron_job)
    return [container["args"] for container in [*pod.get("initContainers", []), *pod["containers"]]]


def _node_labels(pool: dict[str, Any], key: str) -> dict[str, str]:
    """What a pool's nodes must carry, spelled out independently of the components."""
    # Never nvidia.com/gpu.present: the GPU Operator owns it and would fight a job re-applying it.
    return {POOL_LABEL: key, **pool.get("labels", {})}


# -- provider contract and placement ------------------------------------------------------------


@pytest.mark.parametrize("which", ["main", "variant"])
def test_every_input_is_an_sdk_input(plans: Plans, which: str) -> None:
    _, plan, _ = plans(which)
    ours = [r for r in _descendants(plan, _cluster(plan)["urn"]) if r["type"] in (TEMPLATE, MAGNUM_CLUSTER, NODE_GROUP)]
    ours += [r for r in plan.resources if r["type"] in K8S_OBJECTS or r["name"] == f"{CLUSTER}-bootstrap-k8s"]
    assert {r["type"] for r in ours} >= {TEMPLATE, MAGNUM_CLUSTER, NODE_GROUP, K8S_PROVIDER, *K8S_OBJECTS}
    assert contract_violations(ours) == []


@pytest.mark.parametrize("which", ["main", "variant"])
def test_resources_hang_under_the_cluster_and_use_the_right_provider(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    cluster = _cluster(plan)
    pools = {_pool(plan, key)["urn"] for key in _cluster_spec(platform)["node_pools"]}
    site_provider = plan.one(OS_PROVIDER, "os-a-provider")["urn"]
    bootstrap = plan.one(K8S_PROVIDER, f"{CLUSTER}-bootstrap-k8s")
    assert bootstrap["parent"] == cluster["urn"]
    assert bootstrap["inputs"]["deleteUnreachable"] == "true"  # provider config travels as strings
    openstack = [r for r in plan.resources if r["type"].startswith("openstack:containerinfra/")]
    kubernetes = [r for r in plan.resources if r["type"] in K8S_OBJECTS]
    assert len(openstack) == 2 + len(pools) - 1
    assert len(kubernetes) == 3 + len(pools)  # every pool's nodes carry at least the pool label
    for resource in openstack:
        assert resource["parent"] in {cluster["urn"], *pools}, resource["name"]
        assert _provider_urn(resource) == site_provider, resource["name"]
    for resource in kubernetes:
        assert resource["parent"] in {cluster["urn"], *pools}, resource["name"]
        assert _provider_urn(resource) == bootstrap["urn"], resource["name"]
    pool_children = {}
    for key in _cluster_spec(platform)["node_pools"]:
        for suffix in ("nodegroup", "node-setup"):
            pool_children[f"{CLUSTER}-{key}-{suffix}"] = _pool(plan, key)["urn"]
    for resource in [*openstack, *kubernetes]:
        assert resource["parent"] == pool_children.get(resource["name"], cluster["urn"]), resource["name"]


# -- template and cluster -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["main", "variant"])
def test_template_inputs(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    spec = _cluster_spec(platform)
    first = next(iter(spec["node_pools"].values()))
    site = platform["sites"]["os-a"]
    nameservers = site["dns"]["nameservers"]
    template = plan.one(TEMPLATE, f"{CLUSTER}-template")["inputs"]
    expected = {
        "name": MAGNUM_NAME,
        "coe": "kubernetes",
        "image": spec["image"],
        "masterFlavor": spec["control_plane"]["flavor"],
        "flavor": first["flavor"],
        "networkDriver": "calico",
        "masterLbEnabled": True,
        "floatingIpEnabled": False,
        "tlsDisabled": False,
        "public": False,
        "keypairId": "testproj-os-a",
        "externalNetworkId": stable_uuid("network", "public"),
        "fixedNetwork": stable_uuid("openstack:networking/network:Network", "os-a-network"),
        "fixedSubnet": stable_uuid("openstack:networking/subnet:Subnet", "os-a-subnet"),
        "labels": {
            "kube_tag": BACKEND_VERSIONS["magnum"][spec["version"]],
            "monitoring_enabled": "false",
            "kube_dashboard_enabled": "false",
            "auto_healing_enabled": "true",
            "auto_scaling_enabled": "true",
            "min_node_count": str(first["min_size"]),
            "max_node_count": str(first["max_size"]),
            "boot_volume_size": str(first.get("disk_gb", 100)),
            # The site subnet plus the IPv4 admin and API networks (the VIP is IPv4), and Magnum's
            # management cluster, which must reach the API to build the cluster (CAPO configuration.md:
            # "at least the outgoing IP of your management Cluster"; the driver adds nothing itself).
            "api_master_lb_allowed_cidrs": ",".join(
                sorted(
                    {
                        site["cidr"],
                        *site["openstack"]["magnum_management_cidrs"],
                        *(
                            c
                            for c in (*site["admin_cidrs"], *spec.get("api_cidrs", []))
                            if ipaddress.ip_network(c).version == 4
                        ),
                    }
                )
            ),
            # The site's Octavia provider, explicit (magnum-capi-helm driver.py _get_octavia_provider).
            "octavia_provider": "amphora",
        },
    }
    if nameservers:
        expected["dnsNameserver"] = nameservers[0]
    assert template == expected
    assert template["labels"]["kube_tag"] == f"v{spec['version']}." + template["labels"]["kube_tag"].split(".")[-1]


@pytest.mark.parametrize("which", ["main", "variant"])
def test_cluster_inputs(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    spec = _cluster_spec(platform)
    first = next(iter(spec["node_pools"].values()))
    record = plan.one(MAGNUM_CLUSTER, f"{CLUSTER}-cluster")
    assert record["inputs"] == {
        "name": MAGNUM_NAME,
        "clusterTemplateId": stable_uuid(TEMPLATE, f"{CLUSTER}-template"),
        "masterCount": spec["control_plane"]["count"],
        "nodeCount": first.get("desired_size", first["min_size"]),
        "keypair": "testproj-os-a",
        "fixedNetwork": stable_uuid("openstack:networking/network:Network", "os-a-network"),
        "fixedSubnet": stable_uuid("openstack:networking/subnet:Subnet", "os-a-subnet"),
        "createTimeout": 60,
    }
    assert record["ignore_changes"] == ["nodeCount"]  # the cluster autoscaler owns it
    assert "kubeconfig" in record["additional_secret_outputs"]


@pytest.mark.parametrize("which", ["main", "variant"])
def test_kubeconfig_is_secret_everywhere(plans: Plans, which: str) -> None:
    _, plan, _ = plans(which)
    for name in (f"{CLUSTER}-bootstrap-k8s", f"{CLUSTER}-k8s"):
        provider = plan.one(K8S_PROVIDER, name)
        assert provider["inputs"]["kubeconfig"] == SECRET
        assert "kubeconfig" in provider["secret_paths"]
    text = json.dumps(plan.to_json())
    for leak in ("client-key-data", "PRIVATE KEY", "certificate-authority-data"):
        assert leak not in text


def test_kubeconfig_stays_secret_even_if_the_provider_forgot(
    write_stack: Callable[..., Path], base_platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend marks the kubeconfig secret itself, not only through the provider's additionalSecretOutputs."""
    builder = magnum_mocks.RESOURCES[MAGNUM_CLUSTER]

    def plain(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
        state = builder(args, provider)
        state["kubeconfig"] = state["kubeconfig"]["value"]  # as if the engine had not made it secret
        return state

    monkeypatch.setitem(magnum_mocks.RESOURCES, MAGNUM_CLUSTER, plain)
    plan = evaluate(write_stack(_main(base_platform), name="plain-kubeconfig"))
    provider = plan.one(K8S_PROVIDER, f"{CLUSTER}-bootstrap-k8s")
    assert provider["inputs"]["kubeconfig"] == SECRET
    assert "client-key-data" not in json.dumps(plan.to_json())


def test_first_pool_is_the_default_worker_group(plans: Plans) -> None:
    platform, plan, outputs = plans("main")
    first, *rest = _cluster_spec(platform)["node_pools"]
    assert [r["name"] for r in plan.children(_pool(plan, first)["urn"]) if r["type"] == NODE_GROUP] == []
    assert outputs[_pool(plan, first)["urn"]]["node_group"] == magnum.DEFAULT_WORKER_GROUP
    assert outputs[_pool(plan, first)["urn"]]["cluster_id"] == stable_uuid(MAGNUM_CLUSTER, f"{CLUSTER}-cluster")
    for key in rest:
        pool_outputs = outputs[_pool(plan, key)["urn"]]
        assert pool_outputs["node_group"] == key
        assert pool_outputs["node_group_id"] == stable_uuid(NODE_GROUP, f"{CLUSTER}-{key}-nodegroup")


# -- node groups --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["main", "variant"])
def test_node_groups_follow_the_pools_one_after_another(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    pools = _cluster_spec(platform)["node_pools"]
    cluster_urn = plan.one(MAGNUM_CLUSTER, f"{CLUSTER}-cluster")["urn"]
    groups = [plan.one(NODE_GROUP, f"{CLUSTER}-{key}-nodegroup") for key in list(pools)[1:]]
    assert len(plan.by_type(NODE_GROUP)) == len(groups)
    previous = cluster_urn
    for index, (key, group) in enumerate(zip(list(pools)[1:], groups, strict=True)):
        pool = pools[key]
        assert group["inputs"] == {
            "clusterId": stable_uuid(MAGNUM_CLUSTER, f"{CLUSTER}-cluster"),
            "name": key,
            "role": key,
            "flavorId": pool["flavor"],
            "nodeCount": pool.get("desired_size", pool["min_size"]),
            "minNodeCount": pool["min_size"],
            "maxNodeCount": pool["max_size"],
        }
        assert group["ignore_changes"] == ["nodeCount"]
        # Strictly sequential (LP#2097946): each waits for the one before, none for a later one.
        assert previous in group["depends_on"]
        later = {g["urn"] for g in groups[index + 1 :]}
        assert later.isdisjoint(group["depends_on"])
        previous = group["urn"]


# -- node setup: labels and taints Magnum drops -------------------------------------------------


@pytest.mark.parametrize("which", ["main", "variant"])
def test_node_setup_jobs_label_and_taint_each_group(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    spec = _cluster_spec(platform)
    for index, (key, pool) in enumerate(spec["node_pools"].items()):
        group = magnum.DEFAULT_WORKER_GROUP if index == 0 else key
        selector = ["-l", f"{NODE_GROUP_LABEL}={group}"]
        cron_job = plan.one(CRON_JOB, f"{CLUSTER}-{key}-node-setup")
        labels = [f"{k}={v}" for k, v in _node_labels(pool, key).items()]
        taints = [
            f"{t['key']}={t['value']}:{t['effect']}" if t.get("value") else f"{t['key']}:{t['effect']}"
            for t in pool.get("taints", [])
        ]
        if "gpu" in pool and all(t["key"] != GPU_TAINT[0] for t in pool.get("taints", [])):
            taints.insert(0, f"{GPU_TAINT[0]}={GPU_TAINT[1]}:{GPU_TAINT[2]}")
        expected = [["label", "nodes", *selector, *labels, "--overwrite"]]
        if taints:
            expected.append(["taint", "nodes", *selector, *taints, "--overwrite"])
        assert _steps(cron_job) == expected, key
        pod = _pod(cron_job)
        assert [c["name"] for c in pod["containers"]] == ["taint" if taints else "label"]
        assert [c["name"] for c in pod.get("initContainers", [])] == (["label"] if taints else [])


def test_gpu_pool_job_arguments_exactly(plans: Plans) -> None:
    _, plan, _ = plans("main")
    cron_job = plan.one(CRON_JOB, f"{CLUSTER}-gpu-node-setup")
    pod = _pod(cron_job)
    assert pod["initContainers"][0]["args"] == [
        "label",
        "nodes",
        "-l",
        "capi.stackhpc.com/node-group=gpu",
        "meridian.io/pool=gpu",
        "--overwrite",
    ]
    assert pod["containers"][0]["args"] == [
        "taint",
        "nodes",
        "-l",
        "capi.stackhpc.com/node-group=gpu",
        "nvidia.com/gpu=present:NoSchedule",
        "--overwrite",
    ]


def test_variant_taint_without_value_and_gpu_first(plans: Plans) -> None:
    _, plan, _ = plans("variant")
    steps = _steps(plan.one(CRON_JOB, f"{CLUSTER}-a100-node-setup"))
    assert steps[1] == [
        "taint",
        "nodes",
        "-l",
        "capi.stackhpc.com/node-group=default-worker",
        "nvidia.com/gpu=present:NoSchedule",
        "dedicated:NoSchedule",
        "--overwrite",
    ]


@pytest.mark.parametrize("which", ["main", "variant"])
def test_node_setup_job_schedule_image_and_pod_security(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    spec = _cluster_spec(platform)
    version = BACKEND_VERSIONS["magnum"][spec["version"]]
    assert version.startswith(f"v{spec['version']}.")
    own_taints = {(t["key"], t["effect"]) for p in spec["node_pools"].values() for t in p.get("taints", [])}
    if any("gpu" in p for p in spec["node_pools"].values()):
        own_taints.add((GPU_TAINT[0], GPU_TAINT[2]))
    for cron_job in plan.by_type(CRON_JOB):
        inputs = cron_job["inputs"]
        key = cron_job["name"].removeprefix(f"{CLUSTER}-").removesuffix("-node-setup")
        assert inputs["metadata"]["name"] == f"node-setup-{key}"
        assert len(inputs["metadata"]["name"]) <= 52
        assert inputs["metadata"]["namespace"] == "kube-system"
        assert inputs["metadata"]["labels"]["cluster"] == CLUSTER
        job = inputs["spec"]
        assert job["schedule"] == "*/5 * * * *"
        assert job["concurrencyPolicy"] == "Forbid"
        assert job["successfulJobsHistoryLimit"] == 1
        assert job["failedJobsHistoryLimit"] == 3
        pod = _pod(cron_job)
        assert pod["serviceAccountName"] == magnum.NODE_SETUP_NAME
        assert pod["restartPolicy"] == "Never"
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        tolerations = pod["tolerations"]
        assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in tolerations
        assert {(t["key"], t["effect"]) for t in tolerations if t["key"] != "CriticalAddonsOnly"} == own_taints
        assert len(tolerations) == 1 + len(own_taints), "one toleration per taint key and effect"
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert container["image"] == f"registry.k8s.io/kubectl:{version}"
            assert container["securityContext"] == {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert set(container["resources"]) == {"requests", "limits"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            # kubectl's discovery cache needs a writable $HOME: an emptyDir, not the image's root.
            assert {"name": "HOME", "value": "/tmp"} in container["env"]
            assert container["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}]
        assert pod["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "16Mi"}}]


def test_node_setup_rbac_is_least_privilege(plans: Plans) -> None:
    _, plan, _ = plans("main")
    account = plan.one(SERVICE_ACCOUNT, f"{CLUSTER}-node-setup")["inputs"]
    role = plan.one(CLUSTER_ROLE, f"{CLUSTER}-node-setup")["inputs"]
    binding = plan.one(CLUSTER_ROLE_BINDING, f"{CLUSTER}-node-setup")["inputs"]
    assert (account["metadata"]["name"], account["metadata"]["namespace"]) == (magnum.NODE_SETUP_NAME, "kube-system")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "kube-system"}
    ]
    # Nothing else grants the jobs anything.
    rbac = [r for r in plan.resources if r["type"].startswith("kubernetes:rbac.authorization.k8s.io/")]
    assert sorted(r["type"] for r in rbac) == [CLUSTER_ROLE, CLUSTER_ROLE_BINDING]


# -- Kubernetes objects against the Kubernetes OpenAPI schemas ----------------------------------


@pytest.mark.parametrize("which", ["main", "variant"])
def test_kubernetes_objects_are_valid_for_the_clusters_version(plans: Plans, which: str) -> None:
    platform, plan, _ = plans(which)
    version = _cluster_spec(platform)["version"]
    objects = [r for r in plan.resources if r["type"] in K8S_OBJECTS]
    assert {r["type"] for r in objects} == set(K8S_OBJECTS)
    for resource in objects:
        kubernetes_validate.validate(resource["inputs"], version, strict=True)


def _broken(plan: Plan, token: str, name: str, breaker: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copied: dict[str, Any] = copy.deepcopy(plan.one(token, name)["inputs"])
    breaker(copied)
    return copied


def _misspell_policy(cron_job: dict[str, Any]) -> None:
    cron_job["spec"]["concurrencyPolicyy"] = cron_job["spec"].pop("concurrencyPolicy")


def _wrong_type(cron_job: dict[str, Any]) -> None:
    cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = "yes"


def _misspell_verbs(role: dict[str, Any]) -> None:
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")


@pytest.mark.parametrize(
    ("token", "suffix", "breaker"),
    [
        (CRON_JOB, "gpu-node-setup", _misspell_policy),
        (CRON_JOB, "gpu-node-setup", _wrong_type),
        (CLUSTER_ROLE, "node-setup", _misspell_verbs),
    ],
)
def test_schema_validation_rejects_a_broken_copy(
    plans: Plans, token: str, suffix: str, breaker: Callable[[dict[str, Any]], None]
) -> None:
    _, plan, _ = plans("main")
    kubernetes_validate.validate(plan.one(token, f"{CLUSTER}-{suffix}")["inputs"], "1.34", strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(_broken(plan, token, f"{CLUSTER}-{suffix}", breaker), "1.34", strict=True)


# -- the spec's magnum rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda c: c["node_pools"]["gpu"].update(min_size=0),
            (
                f"meridian:platform.clusters.{CLUSTER}.node_pools.gpu.min_size",
                "magnum node groups cannot scale to zero",
            ),
        ),
        (
            lambda c: c.pop("image"),
            (
                f"meridian:platform.clusters.{CLUSTER}.image",
                "magnum clusters need an image whose kube_version property is the version",
            ),
        ),
        (
            lambda c: c["control_plane"].pop("flavor"),
            (
                f"meridian:platform.clusters.{CLUSTER}.control_plane.flavor",
                "magnum clusters need a control-plane flavor",
            ),
        ),
    ],
    ids=["min-size-zero", "no-image", "no-control-plane-flavor"],
)
def test_spec_refuses_what_magnum_cannot_do(
    plan_of: Callable[..., Plan],
    base_platform: dict[str, Any],
    change: Callable[[dict[str, Any]], object],
    problem: tuple[str, str],
) -> None:
    platform = _main(base_platform)
    change(platform["clusters"][CLUSTER])
    with pytest.raises(SpecError) as caught:
        plan_of(platform)
    assert caught.value.problems == [problem]


# -- mock outputs ---------------------------------------------------------------------------------


def _mock(mocks: MeridianMocks, token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    resource_id, state = mocks.new_resource(MockResourceArgs(token, name, inputs, None, None, True))
    assert resource_id
    return resource_id, state


def test_cluster_mock_returns_what_magnum_returns(plans: Plans) -> None:
    _, plan, _ = plans("main")
    mocks = MeridianMocks()
    template_id, _ = _mock(mocks, TEMPLATE, f"{CLUSTER}-template", plan.one(TEMPLATE, f"{CLUSTER}-template")["inputs"])
    record = plan.one(MAGNUM_CLUSTER, f"{CLUSTER}-cluster")
    cluster_id, state = _mock(mocks, MAGNUM_CLUSTER, record["name"], record["inputs"])
    assert str(uuid.UUID(template_id)) == template_id == record["inputs"]["clusterTemplateId"]
    assert str(uuid.UUID(cluster_id)) == cluster_id
    host = state["apiAddress"]
    assert re.fullmatch(r"https://203\.0\.113\.\d{1,3}:6443", host)
    assert state["coeVersion"] == BACKEND_VERSIONS["magnum"]["1.34"]
    assert len(state["masterAddresses"]) == record["inputs"]["masterCount"]
    assert len(state["nodeAddresses"]) == record["inputs"]["nodeCount"]
    assert re.fullmatch(r"testproj-os-a-hpc-[0-9a-f]{12}", state["stackId"])
    # Secret as the engine makes additionalSecretOutputs: the SDK deserializes it as a secret.
    kubeconfig = state["kubeconfig"]
    assert kubeconfig[rpc._special_sig_key] == rpc._special_secret_sig
    value = kubeconfig["value"]
    assert set(value) == {"raw_config", "host", "cluster_ca_certificate", "client_certificate", "client_key"}
    assert value["host"] == host
    config = yaml.safe_load(value["raw_config"])
    assert config["kind"] == "Config"
    assert config["clusters"][0]["cluster"]["server"] == host
    assert config["current-context"] == config["contexts"][0]["name"]
    user = config["users"][0]["user"]
    assert base64.b64decode(user["client-key-data"]).decode() == value["client_key"]
    assert base64.b64decode(user["client-certificate-data"]).decode() == value["client_certificate"]
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert ca == value["cluster_ca_certificate"]
    assert "placeholder" in base64.b64decode(value["client_key"].splitlines()[1]).decode()


def test_node_group_and_template_mocks(plans: Plans) -> None:
    _, plan, _ = plans("main")
    mocks = MeridianMocks()
    record = plan.one(NODE_GROUP, f"{CLUSTER}-gpu-nodegroup")
    group_id, state = _mock(mocks, NODE_GROUP, record["name"], record["inputs"])
    assert group_id == stable_uuid(NODE_GROUP, record["name"])
    assert state["role"] == "gpu"
    assert re.fullmatch(r"[0-9a-f]{32}", state["projectId"])
    _, template = _mock(mocks, TEMPLATE, "t", plan.one(TEMPLATE, f"{CLUSTER}-template")["inputs"])
    assert template["labels"] == plan.one(TEMPLATE, f"{CLUSTER}-template")["inputs"]["labels"]
    assert template["serverType"] == "vm"
    assert magnum_mocks.RESOURCES.keys() == {TEMPLATE, MAGNUM_CLUSTER, NODE_GROUP}
