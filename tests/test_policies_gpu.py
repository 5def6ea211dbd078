"""GPU policies, run by the real pack over synthetic plans and the bundled stacks' plans.

Every policy gets a compliant and a violating plan through the analyzer, asserting the policy,
the URN it reports and its enforcement level; config changes behaviour (caps, gpu_flavors,
max_idle_seconds). JupyterHub values used here are checked against the released chart's
values.yaml, so the policies read keys the chart really has.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from helm_values import unknown_keys
from policy_support import plan_of_resources, provider_resource, resource, violations
from pulumi.runtime.proto import analyzer_pb2

from components.spec.catalog import AWS_GPU_INSTANCES, OPENSTACK_GPU_FLAVORS
from scripts.gate import Analyzer, GateReport
from scripts.harness import UNKNOWN, Plan
from scripts.upstream import chart_dir

#: The released z2jh chart, through the resolver (verified against the chart lock).
JUPYTERHUB_CHART_DIR = chart_dir("jupyterhub")

CLUSTER = "meridian:clusters:KubernetesCluster"
POOL = "meridian:clusters:NodePool"
OPERATOR = "meridian:addons:GpuOperator"
K8S_PROVIDER = "pulumi:providers:kubernetes"
OS_PROVIDER = "pulumi:providers:openstack"
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
OS_INSTANCE = "openstack:compute/instance:Instance"
MAGNUM_NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
MAGNUM_CLUSTER = "openstack:containerinfra/cluster:Cluster"
MAGNUM_TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"

GPU_POLICIES = {
    "gpu-nodes-tainted",
    "gpu-operator-on-gpu-clusters",
    "jupyterhub-real-authenticator",
    "jupyterhub-idle-culling",
    "jupyterhub-gpu-profiles-tolerate",
    "gpu-cap-per-pool",
    "gpu-cap-per-stack",
}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TAGS = {"project": "p", "site": "s", "managed-by": "meridian", "cost-centre": "cc", "owner": "o@example.org"}
OS_TAGS = sorted(f"{k}={v}" for k, v in TAGS.items())
OS_PROVIDER_URN = f"urn:pulumi:test::meridian::{OS_PROVIDER}::os-provider"


# -- building synthetic plans ---------------------------------------------------------------------------


def component(type_: str, name: str, parent: str | None = None) -> dict[str, Any]:
    """A component resource (no provider, no inputs), as the harness records one."""
    return resource(type_, name, {}, parent=parent, provider=None, custom=False)


def cluster(name: str = "gpu") -> dict[str, Any]:
    return component(CLUSTER, name)


def pool(cluster_: dict[str, Any], pool_name: str) -> dict[str, Any]:
    return component(POOL, f"{cluster_['name']}-{pool_name}", parent=cluster_["urn"])


def node_group(
    name: str, instance: str = "g5.xlarge", *, parent: str | None = None, max_size: int = 2, **extra: Any
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "instanceTypes": [instance],
        "amiType": "AL2023_x86_64_NVIDIA" if instance in AWS_GPU_INSTANCES else "AL2023_x86_64_STANDARD",
        "scalingConfig": {"desiredSize": 0, "minSize": 0, "maxSize": max_size},
        "taints": [GPU_TAINT] if instance in AWS_GPU_INSTANCES else [],
        "tags": TAGS,
        **extra,
    }
    return resource(EKS_NODE_GROUP, name, inputs, parent=parent)


def instance(name: str, flavor: str, *, parent: str | None = None) -> dict[str, Any]:
    return resource(OS_INSTANCE, name, {"flavorName": flavor, "tags": OS_TAGS}, parent=parent, provider=OS_PROVIDER_URN)


def os_provider() -> dict[str, Any]:
    return provider_resource(OS_PROVIDER, "os-provider", region="RegionOne", cloud="c")


def k8s_provider(cluster_: dict[str, Any]) -> dict[str, Any]:
    provider = resource(K8S_PROVIDER, f"{cluster_['name']}-k8s", {"kubeconfig": "k"}, provider=None)
    provider["parent"] = cluster_["urn"]
    return provider


def gpu_operator(cluster_: dict[str, Any], chart: str = "gpu-operator") -> list[dict[str, Any]]:
    """The GpuOperator component and its release on `cluster_`, through the cluster's provider."""
    addon = component(OPERATOR, f"{cluster_['name']}-gpu-operator", parent=cluster_["urn"])
    provider = k8s_provider(cluster_)
    release = resource(
        RELEASE,
        f"{cluster_['name']}-gpu-operator",
        {"chart": chart, "version": "v26.7.0", "repositoryOpts": {"repo": "https://helm.ngc.nvidia.com/nvidia"}},
        parent=addon["urn"],
        provider=provider["urn"],
    )
    return [provider, addon, release]


def jupyterhub(values: dict[str, Any] | None, *, chart: str = "jupyterhub", name: str = "hub") -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "chart": chart,
        "version": "4.4.0",
        "repositoryOpts": {"repo": "https://hub.jupyter.org/helm-chart/"},
    }
    if values is not None:
        inputs["values"] = values
    return resource(RELEASE, name, inputs)


def real_auth(**values: Any) -> dict[str, Any]:
    """JupyterHub values with a real authenticator, merged with `values`."""
    return {"hub": {"config": {"JupyterHub": {"authenticator_class": "generic-oauth"}}}, **values}


def message(analyzer: Analyzer, policy: str, text: str) -> str:
    """What the analyzer reports for a violation of `policy` the pack reported with `text`."""
    return f"{analyzer.policies()[policy]['description']}\n{text}"


def hits(report: GateReport, policy: str) -> list[tuple[str, str]]:
    """(URN, level) of each violation of `policy`."""
    return [(v.urn, v.level) for v in report.violations if v.policy == policy]


def run(analyzer: Analyzer, *resources: dict[str, Any], config: dict[str, Any] | None = None) -> GateReport:
    return violations(analyzer, plan_of_resources(os_provider(), *resources), config)


# -- the catalogue and the pack's metadata ----------------------------------------------------------------------


def test_catalog_import_stays_free_of_provider_sdks() -> None:
    """The pack imports the GPU catalogue at start-up: it must not drag a provider SDK in."""
    code = (
        "import sys, components.spec.catalog\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi_aws', 'pulumi_openstack', 'pulumi_kubernetes', 'pulumi_random', 'pulumi_tls')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_gpu_policies_are_mandatory_with_config_defaults(analyzer: Analyzer) -> None:
    policies = analyzer.policies()
    assert set(policies) >= GPU_POLICIES
    assert {name: policies[name]["level"] for name in GPU_POLICIES} == dict.fromkeys(GPU_POLICIES, "mandatory")
    assert policies["gpu-cap-per-pool"]["schema"]["max_gpus_per_pool"]["default"] == 64
    assert policies["gpu-cap-per-stack"]["schema"]["max_gpus_per_stack"]["default"] == 256
    assert policies["jupyterhub-idle-culling"]["schema"]["max_idle_seconds"]["default"] == 28800
    for name in ("gpu-operator-on-gpu-clusters", "gpu-cap-per-pool", "gpu-cap-per-stack"):
        assert policies[name]["schema"]["gpu_flavors"]["default"] == []


# -- gpu-nodes-tainted --------------------------------------------------------------------------------------------


def test_gpu_node_group_with_the_taint_passes(analyzer: Analyzer) -> None:
    report = run(analyzer, node_group("tainted"), node_group("cpu", "m6i.large"))
    assert hits(report, "gpu-nodes-tainted") == []


@pytest.mark.parametrize(
    ("instance_type", "extra"),
    [
        pytest.param("g5.xlarge", {"taints": []}, id="catalogued-type-untainted"),
        pytest.param("p5.48xlarge", {"taints": [{**GPU_TAINT, "effect": "NO_EXECUTE"}]}, id="wrong-effect"),
        pytest.param("g6e.12xlarge", {"taints": [{**GPU_TAINT, "key": "gpu"}]}, id="wrong-key"),
        pytest.param("x9.unknown", {"amiType": "AL2023_x86_64_NVIDIA", "taints": []}, id="nvidia-ami-uncatalogued"),
        pytest.param("x9.unknown", {"amiType": "AL2_x86_64_GPU", "taints": []}, id="older-gpu-ami-uncatalogued"),
    ],
)
def test_gpu_node_group_without_the_taint_is_refused(analyzer: Analyzer, instance_type: str, extra: Any) -> None:
    bad = node_group("untainted", instance_type, **extra)
    report = run(analyzer, bad)
    assert hits(report, "gpu-nodes-tainted") == [(bad["urn"], "mandatory")]
    assert [v.message for v in report.violations if v.policy == "gpu-nodes-tainted"] == [
        message(
            analyzer,
            "gpu-nodes-tainted",
            f"GPU node group ({instance_type}) has no nvidia.com/gpu taint with effect NO_SCHEDULE: "
            "any pod could be scheduled onto (and keep busy) its expensive nodes",
        )
    ]


@pytest.mark.parametrize(
    ("instance_types", "gpu"),
    [
        pytest.param("p5.48xlarge", True, id="a-string-is-one-type"),
        pytest.param({"p5.48xlarge": 1}, False, id="a-map-holds-no-types"),
        pytest.param(8, False, id="a-number-holds-no-types"),
    ],
)
def test_instance_types_are_read_as_a_list(analyzer: Analyzer, instance_types: Any, gpu: bool) -> None:
    group = node_group("odd", "m6i.large", instanceTypes=instance_types)
    assert hits(run(analyzer, group), "gpu-nodes-tainted") == ([(group["urn"], "mandatory")] if gpu else [])


def test_cpu_node_group_needs_no_taint(analyzer: Analyzer) -> None:
    report = run(analyzer, node_group("cpu", "m6i.large", taints=[]))
    assert hits(report, "gpu-nodes-tainted") == []


# -- gpu-operator-on-gpu-clusters ---------------------------------------------------------------------------------


def eks_gpu_cluster(name: str = "gpu") -> list[dict[str, Any]]:
    c = cluster(name)
    p = pool(c, "a10g")
    return [c, p, node_group(f"{name}-a10g-nodes", parent=p["urn"])]


def test_taint_messages_name_every_instance_type_else_the_gpu_ami(analyzer: Analyzer) -> None:
    several = node_group("several", "g5.xlarge", taints=[])
    several["inputs"]["instanceTypes"] = ["g5.xlarge", "g6.xlarge"]
    # instanceTypes is optional: the GPU AMI alone makes the group a GPU group.
    ami_only = node_group("ami-only", "x9.unknown", amiType="AL2023_x86_64_NVIDIA", taints=[])
    ami_only["inputs"].pop("instanceTypes")
    report = run(analyzer, several, ami_only)
    untainted = (
        "has no nvidia.com/gpu taint with effect NO_SCHEDULE: any pod could be scheduled onto (and keep busy) its "
        "expensive nodes"
    )
    assert gpu_messages(analyzer, report, "gpu-nodes-tainted") == [
        (several["urn"], "mandatory", f"GPU node group (g5.xlarge, g6.xlarge) {untainted}"),
        (ami_only["urn"], "mandatory", f"GPU node group (GPU AMI) {untainted}"),
    ]


def test_gpu_cluster_with_the_operator_passes(analyzer: Analyzer) -> None:
    items = eks_gpu_cluster()
    report = run(analyzer, *items, *gpu_operator(items[0], chart="nvidia/gpu-operator"))
    assert hits(report, "gpu-operator-on-gpu-clusters") == []


def test_gpu_cluster_without_the_operator_is_refused(analyzer: Analyzer) -> None:
    items = eks_gpu_cluster()
    report = run(analyzer, *items)
    assert hits(report, "gpu-operator-on-gpu-clusters") == [(items[0]["urn"], "mandatory")]


def test_operator_must_sit_under_and_deploy_to_its_own_cluster(analyzer: Analyzer) -> None:
    gpu, other = eks_gpu_cluster("gpu"), cluster("cpu")
    # The operator of `gpu` sits under `other`: `gpu` still has none.
    elsewhere = run(analyzer, *gpu, other, *gpu_operator(other))
    assert hits(elsewhere, "gpu-operator-on-gpu-clusters") == [(gpu[0]["urn"], "mandatory")]
    # Under `gpu`, but installed through the other cluster's provider: it lands on the wrong cluster.
    _, addon, release = gpu_operator(gpu[0])
    wrong = k8s_provider(other)
    release["provider"] = f"{wrong['urn']}::0a1b2c3d"
    report = run(analyzer, *gpu, other, wrong, addon, release)
    assert hits(report, "gpu-operator-on-gpu-clusters") == [(gpu[0]["urn"], "mandatory")]


def test_operator_through_the_default_or_an_unlisted_provider_covers_its_cluster(analyzer: Analyzer) -> None:
    """A release under the cluster deploys to it unless its provider belongs to another cluster."""
    items = eks_gpu_cluster()
    _, addon, release = gpu_operator(items[0])
    default = {**release, "provider": None}
    assert hits(run(analyzer, *items, addon, default), "gpu-operator-on-gpu-clusters") == []
    unlisted = {**release, "provider": f"urn:pulumi:test::meridian::{K8S_PROVIDER}::elsewhere::0a1b2c3d"}
    assert hits(run(analyzer, *items, addon, unlisted), "gpu-operator-on-gpu-clusters") == []


def test_every_release_and_patch_is_looked_at_whatever_comes_first(analyzer: Analyzer) -> None:
    """A patch, or a release outside any cluster, listed first does not end the search for operators."""
    magnum = cluster("mag")
    adopted = [magnum, *magnum_default_worker(magnum, "vm.a30.1gpu", max_nodes=3), *adopted_operator(magnum)]
    eks = eks_gpu_cluster("eks")
    outside = jupyterhub(checked(real_auth()), name="outside")  # under no cluster
    report = run(analyzer, *adopted, outside, *eks, *gpu_operator(eks[0]))
    assert hits(report, "gpu-operator-on-gpu-clusters") == []


def test_a_release_whose_chart_is_not_known_yet_may_be_the_operator(analyzer: Analyzer) -> None:
    items = eks_gpu_cluster()
    provider, addon, release = gpu_operator(items[0])
    release["inputs"]["chart"] = UNKNOWN
    report = run(analyzer, *items, provider, addon, release)
    found = [v for v in report.violations if v.policy == "gpu-operator-on-gpu-clusters"]
    assert [(v.level, "during preview" in v.message) for v in found] == [("advisory", True)]


def test_cluster_without_gpu_nodes_and_attached_clusters_need_no_operator(analyzer: Analyzer) -> None:
    cpu = cluster("cpu")
    cpu_pool = pool(cpu, "general")
    attached = cluster("attached")
    report = run(
        analyzer,
        cpu,
        cpu_pool,
        node_group("cpu-general-nodes", "m6i.large", parent=cpu_pool["urn"]),
        instance("cpu-general-0", "eo1.xlarge", parent=cpu_pool["urn"]),
        attached,
        k8s_provider(attached),
    )
    assert hits(report, "gpu-operator-on-gpu-clusters") == []


@pytest.mark.parametrize("kind", ["rke2", "magnum-nodegroup", "magnum-default-worker"])
def test_openstack_gpu_nodes_need_the_operator(analyzer: Analyzer, kind: str) -> None:
    c = cluster("os")
    p = pool(c, "a100")
    items: list[dict[str, Any]] = [c, p]
    if kind == "rke2":
        items.append(instance("os-a100-0", "vm.a100.1gpu", parent=p["urn"]))
    elif kind == "magnum-nodegroup":
        items.append(
            resource(
                MAGNUM_NODE_GROUP,
                "os-a100-nodegroup",
                {"flavorId": "vm.a100.2gpu", "maxNodeCount": 2},
                parent=p["urn"],
                provider=OS_PROVIDER_URN,
            )
        )
    else:
        items += magnum_default_worker(c, "vm.a30.1gpu", max_nodes=3)
    assert hits(run(analyzer, *items), "gpu-operator-on-gpu-clusters") == [(c["urn"], "mandatory")]
    assert hits(run(analyzer, *items, *gpu_operator(c)), "gpu-operator-on-gpu-clusters") == []


def magnum_default_worker(cluster_: dict[str, Any], flavor: str, *, max_nodes: int) -> list[dict[str, Any]]:
    """A Magnum template and cluster whose default-worker group uses `flavor` (the template's)."""
    template = resource(
        MAGNUM_TEMPLATE,
        f"{cluster_['name']}-template",
        {"flavor": flavor, "masterFlavor": "eo1.large", "labels": {"max_node_count": str(max_nodes)}},
        parent=cluster_["urn"],
        provider=OS_PROVIDER_URN,
    )
    magnum = resource(
        MAGNUM_CLUSTER,
        f"{cluster_['name']}-cluster",
        {"clusterTemplateId": "3f2a", "nodeCount": 1, "masterCount": 3},
        parent=cluster_["urn"],
        provider=OS_PROVIDER_URN,
        depends_on=[template["urn"]],
    )
    return [template, magnum]


def test_gpu_flavors_config_makes_a_site_flavor_a_gpu_flavor(analyzer: Analyzer) -> None:
    c = cluster("site")
    p = pool(c, "gpu")
    items = [c, p, instance("site-gpu-0", "site.gpu.large", parent=p["urn"])]
    assert "site.gpu.large" not in OPENSTACK_GPU_FLAVORS
    assert hits(run(analyzer, *items), "gpu-operator-on-gpu-clusters") == []
    config = {"gpu-operator-on-gpu-clusters": {"gpu_flavors": ["site.gpu.large"]}}
    assert hits(run(analyzer, *items, config=config), "gpu-operator-on-gpu-clusters") == [(c["urn"], "mandatory")]


# -- JupyterHub ---------------------------------------------------------------------------------------------------


def test_policies_read_what_the_released_chart_defaults_to() -> None:
    """The z2jh defaults the policies assume: the dummy authenticator, culling on after an hour."""
    upstream = yaml.safe_load((JUPYTERHUB_CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    assert upstream["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dummy"
    assert upstream["cull"]["enabled"] is True and upstream["cull"]["timeout"] == 3600
    assert upstream["singleuser"]["profileList"] == []
    # The released values schema leaves profiles free-form, so Helm accepts any profile shape: the
    # pack's jupyterhub-gpu-profiles-tolerate is what checks them.
    schema = json.loads((JUPYTERHUB_CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    assert schema["properties"]["singleuser"]["properties"]["profileList"] == {"type": "array"}


def checked(values: dict[str, Any]) -> dict[str, Any]:
    """`values`, after making sure the released chart has every key they set."""
    assert unknown_keys(values, JUPYTERHUB_CHART_DIR / "values.yaml") == []
    return values


def test_jupyterhub_with_a_real_authenticator_passes(analyzer: Analyzer) -> None:
    hub = jupyterhub(checked(real_auth()))
    report = run(analyzer, hub)
    assert {v.policy for v in report.violations} & GPU_POLICIES == set()


@pytest.mark.parametrize(
    "authenticator",
    [
        None,
        "dummy",
        "null",
        "jupyterhub.auth.DummyAuthenticator",
        "nullauthenticator.NullAuthenticator",
    ],
)
def test_jupyterhub_dummy_or_missing_authenticator_is_refused(analyzer: Analyzer, authenticator: str | None) -> None:
    values = (
        {} if authenticator is None else {"hub": {"config": {"JupyterHub": {"authenticator_class": authenticator}}}}
    )
    hub = jupyterhub(checked(values) if values else None)
    report = run(analyzer, hub)
    assert hits(report, "jupyterhub-real-authenticator") == [(hub["urn"], "mandatory")]


@pytest.mark.parametrize(
    ("chart", "hub"),
    [
        pytest.param("jupyterhub", True, id="name"),
        pytest.param("jupyterhub/jupyterhub", True, id="repo-and-name"),
        pytest.param("oci://registry.example.org/charts/jupyterhub", True, id="oci-reference"),
        pytest.param("./charts/jupyterhub/", True, id="local-path"),
        pytest.param("jupyterhub/binderhub", False, id="another-chart-of-the-repo"),
        pytest.param("charts/jupyterhubX", False, id="the-name-must-match"),
    ],
)
def test_chart_references_are_reduced_to_the_chart_name(analyzer: Analyzer, chart: str, hub: bool) -> None:
    release = jupyterhub(None, chart=chart)
    assert hits(run(analyzer, release), "jupyterhub-real-authenticator") == (
        [(release["urn"], "mandatory")] if hub else []
    )


def test_other_charts_are_not_jupyterhub(analyzer: Analyzer) -> None:
    other = jupyterhub({"cull": {"enabled": False}}, chart="binderhub", name="binder")
    assert {v.policy for v in run(analyzer, other).violations} & GPU_POLICIES == set()
    # A chart reference with its repository is still the jupyterhub chart.
    hub = jupyterhub(None, chart="jupyterhub/jupyterhub")
    assert hits(run(analyzer, hub), "jupyterhub-real-authenticator") == [(hub["urn"], "mandatory")]


def test_jupyterhub_messages_say_what_is_wrong(analyzer: Analyzer) -> None:
    # A release without values gets the chart's: the dummy authenticator, culling after 3600 s.
    bare = jupyterhub(None)
    report = run(analyzer, bare)
    assert gpu_messages(analyzer, report, "jupyterhub-real-authenticator") == [
        (
            bare["urn"],
            "mandatory",
            "hub.config.JupyterHub.authenticator_class is 'dummy': anyone can log in with any password (or nobody "
            "can); set a real authenticator (e.g. generic-oauth with the site's identity provider)",
        )
    ]
    assert gpu_messages(analyzer, report, "jupyterhub-idle-culling") == []
    # Values secret as a whole reach the gate as a placeholder string: nothing in them can be checked.
    secret = jupyterhub(None, name="secret-hub")
    secret["inputs"]["values"] = "[secret]"
    report = run(analyzer, secret)
    unreadable = "the release's values are secret as a whole and cannot be checked; make only the secret keys secret"
    for policy in ("jupyterhub-real-authenticator", "jupyterhub-idle-culling", "jupyterhub-gpu-profiles-tolerate"):
        assert gpu_messages(analyzer, report, policy) == [(secret["urn"], "mandatory", unreadable)], policy


def test_jupyterhub_idle_culling(analyzer: Analyzer) -> None:
    default = jupyterhub(checked(real_auth()), name="default")  # the chart culls after 3600 s
    disabled = jupyterhub(checked(real_auth(cull={"enabled": False})), name="disabled")
    slow = jupyterhub(checked(real_auth(cull={"enabled": True, "timeout": 86400})), name="slow")
    report = run(analyzer, default, disabled, slow)
    assert sorted(gpu_messages(analyzer, report, "jupyterhub-idle-culling")) == sorted(
        [
            (
                disabled["urn"],
                "mandatory",
                "cull.enabled is false: idle notebook servers keep their nodes (and GPUs) forever",
            ),
            (
                slow["urn"],
                "mandatory",
                "cull.timeout is 86400 seconds; idle servers must be culled within 28800 seconds",
            ),
        ]
    )
    # Config moves the limit both ways.
    lenient = run(analyzer, slow, config={"jupyterhub-idle-culling": {"max_idle_seconds": 86400}})
    assert hits(lenient, "jupyterhub-idle-culling") == []
    strict = run(analyzer, default, config={"jupyterhub-idle-culling": {"max_idle_seconds": 1800}})
    assert hits(strict, "jupyterhub-idle-culling") == [(default["urn"], "mandatory")]


def test_culling_timeouts_as_the_hub_passes_them(analyzer: Analyzer) -> None:
    """z2jh passes --timeout only when cull.timeout is truthy (files/hub/jupyterhub_config.py), else
    jupyterhub-idle-culler keeps its own default, 600 s (jupyterhub_idle_culler define("timeout"))."""
    # (A null value never reaches the analyzer: Pulumi drops null keys from inputs; 0 is what can.)
    zero = jupyterhub(checked(real_auth(cull={"enabled": True, "timeout": 0})), name="zero")
    lenient = run(analyzer, zero, config={"jupyterhub-idle-culling": {"max_idle_seconds": 600}})
    assert hits(lenient, "jupyterhub-idle-culling") == []
    strict = run(analyzer, zero, config={"jupyterhub-idle-culling": {"max_idle_seconds": 599}})
    assert gpu_messages(analyzer, strict, "jupyterhub-idle-culling") == [
        (zero["urn"], "mandatory", "cull.timeout is 600 seconds; idle servers must be culled within 599 seconds")
    ]
    # A value that is no number, and an absurd one, are named as given.
    words = jupyterhub(real_auth(cull={"enabled": True, "timeout": "soon"}), name="words")
    huge = jupyterhub(real_auth(cull={"enabled": True, "timeout": 10**16}), name="huge")
    assert sorted(gpu_messages(analyzer, run(analyzer, words, huge), "jupyterhub-idle-culling")) == sorted(
        [
            (
                words["urn"],
                "mandatory",
                "cull.timeout is 'soon' seconds; idle servers must be culled within 28800 seconds",
            ),
            (
                huge["urn"],
                "mandatory",
                "cull.timeout is 1e+16 seconds; idle servers must be culled within 28800 seconds",
            ),
        ]
    )


def gpu_profile(name: str, override: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"display_name": name, "kubespawner_override": override, **extra}


GPU_LIMIT = {"extra_resource_limits": {"nvidia.com/gpu": "1"}}
MIG_GUARANTEE = {"extra_resource_guarantees": {"nvidia.com/mig-1g.10gb": 1}}


@pytest.mark.parametrize(
    ("profiles", "bad"),
    [
        pytest.param([gpu_profile("cpu", {"cpu_limit": 2})], False, id="cpu-only"),
        pytest.param([gpu_profile("a100", {**GPU_LIMIT, "tolerations": [GPU_TOLERATION]})], False, id="tolerated"),
        pytest.param([gpu_profile("a100", GPU_LIMIT)], True, id="gpu-untolerated"),
        pytest.param([gpu_profile("mig", MIG_GUARANTEE)], True, id="mig-untolerated"),
        pytest.param(
            [gpu_profile("mig", {**MIG_GUARANTEE, "tolerations": [{"key": "nvidia.com/gpu", "effect": "NoExecute"}]})],
            True,
            id="wrong-effect",
        ),
        pytest.param(
            [
                gpu_profile(
                    "choose",
                    {"tolerations": [GPU_TOLERATION]},
                    profile_options={
                        "gpus": {"display_name": "GPUs", "choices": {"one": {"kubespawner_override": GPU_LIMIT}}}
                    },
                )
            ],
            False,
            id="choice-inherits-profile-toleration",
        ),
        pytest.param(
            [
                gpu_profile(
                    "choose",
                    {},
                    profile_options={
                        "gpus": {
                            "display_name": "GPUs",
                            "choices": {
                                "none": {"kubespawner_override": {"cpu_limit": 1}},
                                "one": {"kubespawner_override": GPU_LIMIT},
                            },
                        }
                    },
                )
            ],
            True,
            id="choice-untolerated",
        ),
    ],
)
def test_jupyterhub_gpu_profiles_tolerate(analyzer: Analyzer, profiles: list[dict[str, Any]], bad: bool) -> None:
    hub = jupyterhub(checked(real_auth(singleuser={"profileList": profiles})))
    report = run(analyzer, hub)
    assert hits(report, "jupyterhub-gpu-profiles-tolerate") == ([(hub["urn"], "mandatory")] if bad else [])


PROFILE_PROBLEM = (
    "profiles request GPUs but do not tolerate the nvidia.com/gpu taint, so their pods never schedule on GPU nodes: "
)


def profile_problems(analyzer: Analyzer, profiles: list[dict[str, Any]], **values: Any) -> list[tuple[str, str]]:
    """(level, message) of each jupyterhub-gpu-profiles-tolerate violation of a hub offering `profiles`."""
    singleuser = {**values.pop("singleuser", {}), "profileList": profiles}
    hub = jupyterhub(checked(real_auth(singleuser=singleuser, **values)))
    report = run(analyzer, hub)
    found = [v for v in report.violations if v.policy == "jupyterhub-gpu-profiles-tolerate"]
    assert {v.urn for v in found} <= {hub["urn"]}
    return [(v.level, v.message.removeprefix(message(analyzer, v.policy, ""))) for v in found]


@pytest.mark.parametrize(
    ("tolerations", "tolerated"),
    [
        # Kubernetes' matching (k8s.io/api core/v1 toleration.go ToleratesTaint) against Meridian's GPU
        # taint nvidia.com/gpu=present:NoSchedule (components/spec/clusters.py GPU_TAINT).
        pytest.param([{"key": "nvidia.com/gpu", "operator": "Exists"}], True, id="no-effect-matches-all-effects"),
        pytest.param([{"operator": "Exists"}], True, id="empty-key-exists-tolerates-everything"),
        pytest.param([{"operator": "Exists", "effect": "NoSchedule"}], True, id="every-key-with-noschedule"),
        pytest.param(
            [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
            True,
            id="equal-the-taint-value",
        ),
        pytest.param([{"key": "nvidia.com/gpu", "value": "present"}], True, id="empty-operator-means-equal"),
        pytest.param(
            [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            False,
            id="equal-another-value",
        ),
        pytest.param([{"key": "nvidia.com/gpu", "effect": "NoSchedule"}], False, id="equal-without-value"),
        pytest.param(
            [{"key": "nvidia.com/gpu", "operator": "Exists", "value": "present"}], False, id="exists-with-a-value"
        ),
        pytest.param([{"operator": "Equal", "value": "present"}], False, id="empty-key-without-exists"),
        pytest.param([{"key": "example.org/other", "operator": "Exists"}], False, id="another-key"),
        pytest.param(
            [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "PreferNoSchedule"}], False, id="another-effect"
        ),
        pytest.param([{"key": "nvidia.com/gpu", "operator": "exists"}], False, id="operators-are-case-sensitive"),
        pytest.param([{"key": "nvidia.com/gpu", "operator": "Gt", "value": "0"}], False, id="gt-needs-an-integer"),
        pytest.param(
            [{"key": "example.org/other", "operator": "Exists"}, GPU_TOLERATION], True, id="any-toleration-matches"
        ),
        pytest.param({"gpu": GPU_TOLERATION}, True, id="kubespawner-dict"),
        pytest.param("nvidia.com/gpu", False, id="a-string-is-no-toleration"),
        pytest.param(["nvidia.com/gpu"], False, id="a-string-item-is-no-toleration"),
    ],
)
def test_profile_tolerations_match_the_gpu_taint_as_kubernetes_does(
    analyzer: Analyzer, tolerations: Any, tolerated: bool
) -> None:
    problems = profile_problems(analyzer, [gpu_profile("a100", {**GPU_LIMIT, "tolerations": tolerations})])
    assert problems == ([] if tolerated else [("mandatory", PROFILE_PROBLEM + "a100")])


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"extra_resource_limits": {"example.org/fpga": "1"}}, id="other-extended-resource"),
        pytest.param({"extra_resource_limits": {"nvidia.com/gpu": 0}}, id="zero-gpus"),
        pytest.param({"extra_resource_guarantees": {"nvidia.com/mig-1g.10gb": "0"}}, id="zero-mig-slices"),
        pytest.param({"extra_resource_limits": ["nvidia.com/gpu"]}, id="resources-not-a-map"),
    ],
)
def test_profiles_without_gpus_need_no_toleration(analyzer: Analyzer, override: dict[str, Any]) -> None:
    assert profile_problems(analyzer, [gpu_profile("cpu", override)]) == []


def test_profile_problems_name_each_profile_and_choice(analyzer: Analyzer) -> None:
    """Profiles by display_name (else #index), choices as option=choice, an enabled unlisted choice as <unlisted>."""
    unlisted_gpu = {"enabled": True, "display_name": "GPUs", "kubespawner_override": {**GPU_LIMIT}}
    profiles = [
        gpu_profile("a100", GPU_LIMIT),
        {"kubespawner_override": MIG_GUARANTEE},
        gpu_profile("tolerated", {**GPU_LIMIT, "tolerations": [GPU_TOLERATION]}),
        gpu_profile(
            "choose",
            {"cpu_limit": 2},
            profile_options={
                "gpus": {
                    "display_name": "GPUs",
                    "choices": {"none": {"kubespawner_override": {}}, "one": {"kubespawner_override": GPU_LIMIT}},
                    "unlisted_choice": unlisted_gpu,
                },
                # KubeSpawner refuses unlisted values of an option that does not enable them.
                "image": {"display_name": "Image", "unlisted_choice": {**unlisted_gpu, "enabled": False}},
                "size": {"display_name": "Size", "unlisted_choice": {"kubespawner_override": GPU_LIMIT}},
            },
        ),
    ]
    assert profile_problems(analyzer, profiles) == [
        ("mandatory", PROFILE_PROBLEM + "a100; #1; choose (gpus=one); choose (gpus=<unlisted>)")
    ]


def test_profile_list_of_the_wrong_shape_holds_no_profiles(analyzer: Analyzer) -> None:
    for profiles in ({"a100": gpu_profile("a100", GPU_LIMIT)}, "a100", 3):
        hub = jupyterhub(real_auth(singleuser={"profileList": profiles}))
        assert hits(run(analyzer, hub), "jupyterhub-gpu-profiles-tolerate") == []


@pytest.mark.parametrize(
    ("base", "choice", "problem"),
    [
        # KubeSpawner merges a dict override into a dict setting (spawner.py _apply_overrides,
        # utils.py recursive_update: None deletes a key) and replaces anything else.
        pytest.param(GPU_LIMIT, {"extra_resource_limits": {"example.org/fpga": 1}}, True, id="resources-merge"),
        pytest.param(GPU_LIMIT, {"extra_resource_limits": {"nvidia.com/gpu": None}}, False, id="none-deletes-a-key"),
        pytest.param(
            GPU_LIMIT, {"extra_resource_guarantees": {"nvidia.com/gpu": None}}, True, id="none-for-an-absent-key"
        ),
        pytest.param(
            {**GPU_LIMIT, "tolerations": [GPU_TOLERATION]}, {"tolerations": []}, True, id="own-tolerations-replace"
        ),
        pytest.param(
            {**GPU_LIMIT, "tolerations": {"gpu": GPU_TOLERATION}},
            {"tolerations": {"gpu": {"effect": "NoExecute"}}},
            True,
            id="toleration-dicts-merge",
        ),
        pytest.param(
            {**GPU_LIMIT, "tolerations": {"gpu": GPU_TOLERATION}},
            {"tolerations": {"spot": {"key": "example.org/spot", "operator": "Exists"}}},
            False,
            id="toleration-dicts-keep-the-profiles",
        ),
        pytest.param(
            {
                **GPU_LIMIT,
                "tolerations": {"gpu": {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}},
            },
            {"tolerations": {"gpu": {"effect": "NoSchedule"}}},
            False,
            id="toleration-dicts-merge-field-by-field",
        ),
        pytest.param(
            {**GPU_LIMIT, "tolerations": {"gpu": "nvidia.com/gpu"}},
            {"tolerations": {"gpu": GPU_TOLERATION}},
            False,
            id="a-dict-over-a-non-dict",
        ),
        pytest.param({}, {"tolerations": [GPU_TOLERATION], **MIG_GUARANTEE}, False, id="choice-tolerates-itself"),
    ],
)
def test_choices_apply_over_their_profile_as_kubespawner_does(
    analyzer: Analyzer, base: dict[str, Any], choice: dict[str, Any], problem: bool
) -> None:
    options = {"kind": {"display_name": "Kind", "choices": {"it": {"kubespawner_override": choice}}}}
    problems = profile_problems(analyzer, [gpu_profile("merge", base, profile_options=options)])
    assert problems == ([("mandatory", PROFILE_PROBLEM + "merge (kind=it)")] if problem else [])


def test_profiles_inherit_the_hubs_user_pod_tolerations(analyzer: Analyzer) -> None:
    """z2jh gives user pods scheduling.userPods.tolerations + singleuser.extraTolerations (jupyterhub_config.py)."""
    profiles = [gpu_profile("a100", GPU_LIMIT)]
    assert profile_problems(analyzer, profiles, singleuser={"extraTolerations": [GPU_TOLERATION]}) == []
    assert profile_problems(analyzer, profiles, scheduling={"userPods": {"tolerations": [GPU_TOLERATION]}}) == []
    other = [{"key": "example.org/spot", "operator": "Exists"}]
    assert profile_problems(
        analyzer, profiles, singleuser={"extraTolerations": other}, scheduling={"userPods": {"tolerations": other}}
    ) == [("mandatory", PROFILE_PROBLEM + "a100")]
    # A profile's own tolerations replace the hub's.
    own = [gpu_profile("a100", {**GPU_LIMIT, "tolerations": other})]
    assert profile_problems(analyzer, own, singleuser={"extraTolerations": [GPU_TOLERATION]}) == [
        ("mandatory", PROFILE_PROBLEM + "a100")
    ]


# -- GPU caps -----------------------------------------------------------------------------------------------------


def eks_pool(cluster_: dict[str, Any], name: str, instance_type: str, max_size: int) -> list[dict[str, Any]]:
    p = pool(cluster_, name)
    return [p, node_group(f"{p['name']}-nodes", instance_type, parent=p["urn"], max_size=max_size)]


def test_eks_pool_cap_counts_max_size_times_gpus_per_instance(analyzer: Analyzer) -> None:
    c = cluster("eks")
    at_cap = eks_pool(c, "h100", "p5.48xlarge", 8)  # 8 x 8 = 64
    over = eks_pool(c, "big", "p5.48xlarge", 9)  # 72
    report = run(analyzer, c, *at_cap, *over, *gpu_operator(c))
    assert hits(report, "gpu-cap-per-pool") == [(over[0]["urn"], "mandatory")]
    assert hits(report, "gpu-cap-per-stack") == []  # 136 <= 256
    strict = run(analyzer, c, *at_cap, *gpu_operator(c), config={"gpu-cap-per-pool": {"max_gpus_per_pool": 63}})
    assert hits(strict, "gpu-cap-per-pool") == [(at_cap[0]["urn"], "mandatory")]


def test_rke2_pool_cap_counts_instances_per_nodepool(analyzer: Analyzer) -> None:
    c = cluster("rke")
    a, b = pool(c, "a"), pool(c, "b")
    nodes = [instance(f"rke-a-{i}", "vm.a100.2gpu", parent=a["urn"]) for i in range(3)]  # 6 GPUs
    nodes.append(instance("rke-b-0", "vm.a100.2gpu", parent=b["urn"]))  # 2 GPUs
    plan = [c, a, b, *nodes, *gpu_operator(c)]
    report = run(analyzer, *plan, config={"gpu-cap-per-pool": {"max_gpus_per_pool": 5}})
    assert hits(report, "gpu-cap-per-pool") == [(a["urn"], "mandatory")]
    assert hits(run(analyzer, *plan, config={"gpu-cap-per-pool": {"max_gpus_per_pool": 6}}), "gpu-cap-per-pool") == []
    by_stack = run(analyzer, *plan, config={"gpu-cap-per-stack": {"max_gpus_per_stack": 7}})
    assert hits(by_stack, "gpu-cap-per-stack") == [("", "mandatory")]
    assert "8 GPUs" in next(v.message for v in by_stack.violations if v.policy == "gpu-cap-per-stack")


def test_ec2_instances_count_the_gpus_of_their_instance_type(analyzer: Analyzer) -> None:
    """An aws.ec2.Instance is one node with its instance type's GPUs; a type without GPUs adds none."""
    c = cluster("ec2")
    p = pool(c, "a10g")

    def ec2(name: str, instance_type: str) -> dict[str, Any]:
        inputs = {"ami": "ami-0abc", "instanceType": instance_type, "tags": TAGS}
        return resource("aws:ec2/instance:Instance", name, inputs, parent=p["urn"])

    nodes = [ec2("ec2-a10g-0", "g5.12xlarge"), ec2("ec2-a10g-1", "g5.12xlarge"), ec2("ec2-cpu-0", "m6i.large")]
    config = {"gpu-cap-per-pool": {"max_gpus_per_pool": 7}}
    report = run(analyzer, c, p, *nodes, *gpu_operator(c), config=config)
    assert gpu_messages(analyzer, report, "gpu-cap-per-pool") == [
        (
            p["urn"],
            "mandatory",
            "pool ec2-a10g can grow to 8 GPUs, over the cap of 7 per pool (2 nodes x g5.12xlarge (4 GPUs each))",
        )
    ]
    # GPU instances need the operator on their cluster like any other GPU node.
    without_operator = run(analyzer, c, p, *nodes)
    assert gpu_messages(analyzer, without_operator, "gpu-operator-on-gpu-clusters") == [
        (
            c["urn"],
            "mandatory",
            "cluster ec2 has GPU nodes (ec2-a10g-0 (g5.12xlarge), ec2-a10g-1 (g5.12xlarge)) but no gpu-operator "
            "Helm release: without the driver, device plugin and DCGM exporter no pod can request a GPU",
        )
    ]


def test_magnum_pools_count_max_node_count(analyzer: Analyzer) -> None:
    c = cluster("mag")
    p = pool(c, "a100")
    group = resource(
        MAGNUM_NODE_GROUP,
        "mag-a100-nodegroup",
        {"flavorId": "vm.a100.2gpu", "nodeCount": 1, "minNodeCount": 1, "maxNodeCount": 4},
        parent=p["urn"],
        provider=OS_PROVIDER_URN,
    )
    template, magnum = magnum_default_worker(c, "vm.a30.1gpu", max_nodes=5)
    plan = [c, p, group, template, magnum, *gpu_operator(c)]
    config = {"gpu-cap-per-pool": {"max_gpus_per_pool": 4}, "gpu-cap-per-stack": {"max_gpus_per_stack": 12}}
    report = run(analyzer, *plan, config=config)
    # The node group: 4 x 2 = 8 GPUs; the default-worker group (the cluster itself): 5 x 1.
    assert sorted(hits(report, "gpu-cap-per-pool")) == sorted([(p["urn"], "mandatory"), (magnum["urn"], "mandatory")])
    assert hits(report, "gpu-cap-per-stack") == [("", "mandatory")]  # 13 > 12


def test_openstack_sizes_and_flavors_as_nova_and_magnum_take_them(analyzer: Analyzer) -> None:
    """Nova takes a flavor by name or ID; a Magnum group without max_node_count has node_count nodes."""
    c = cluster("os")
    p = pool(c, "a100")
    by_id = resource(OS_INSTANCE, "os-a100-0", {"flavorId": "vm.a100.2gpu"}, parent=p["urn"], provider=OS_PROVIDER_URN)
    group = resource(
        MAGNUM_NODE_GROUP,
        "os-a100-nodegroup",
        {"flavorId": "vm.a100.1gpu", "nodeCount": 3, "minNodeCount": 1},
        parent=p["urn"],
        provider=OS_PROVIDER_URN,
    )
    report = run(
        analyzer, c, p, by_id, group, *gpu_operator(c), config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0}}
    )
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        (
            "",
            "mandatory",
            "the stack can grow to 5 GPUs, over the cap of 0 (largest: os-a100-nodegroup: 3, os-a100-0: 2)",
        )
    ]


def test_a_magnum_clusters_own_flavor_and_sizes_come_before_its_templates(analyzer: Analyzer) -> None:
    c = cluster("mag")
    template = magnum_template(c, "template", "vm.a30.1gpu")  # max_node_count "3"
    own = {"flavor": "vm.a100.2gpu", "nodeCount": 2, "labels": {"max_node_count": "4"}}
    magnum = resource(
        MAGNUM_CLUSTER, "mag-cluster", own, parent=c["urn"], provider=OS_PROVIDER_URN, depends_on=[template["urn"]]
    )
    config = {"gpu-cap-per-stack": {"max_gpus_per_stack": 0}}
    report = run(analyzer, c, template, magnum, *gpu_operator(c), config=config)
    expected = "the stack can grow to 8 GPUs, over the cap of 0 (largest: mag-cluster: 8)"  # 4 x 2
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [("", "mandatory", expected)]
    # Without an autoscaler maximum, the cluster has its node_count nodes.
    fixed = {**magnum, "inputs": {"flavor": "vm.a100.2gpu", "nodeCount": 5, "labels": {}}}
    bare_template = {**template, "inputs": {"flavor": "vm.a30.1gpu"}}
    report = run(analyzer, c, bare_template, fixed, *gpu_operator(c), config=config)
    expected = "the stack can grow to 10 GPUs, over the cap of 0 (largest: mag-cluster: 10)"
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [("", "mandatory", expected)]


def test_an_unconfigured_pack_uses_the_schema_defaults(analyzer: Analyzer) -> None:
    """Without Configure the policies read no config: the code's fallbacks are the schema's defaults."""
    c = cluster("eks")
    big = eks_pool(c, "big", "p5.48xlarge", 9)  # 72 GPUs: over 64 per pool, within 256 per stack
    slow = jupyterhub(checked(real_auth(cull={"enabled": True, "timeout": 28801})), name="slow")
    quick = jupyterhub(checked(real_auth(cull={"enabled": True, "timeout": 28800})), name="quick")
    analyzer.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest())
    report = analyzer.analyze(plan_of_resources(os_provider(), c, *big, *gpu_operator(c), slow, quick))
    assert sorted((v.policy, v.urn) for v in report.violations if v.policy in GPU_POLICIES) == [
        ("gpu-cap-per-pool", big[0]["urn"]),
        ("jupyterhub-idle-culling", slow["urn"]),
    ]


def test_gpu_flavors_config_counts_gpus_of_site_flavors(analyzer: Analyzer) -> None:
    c = cluster("site")
    p = pool(c, "gpu")
    plan = [c, p, *(instance(f"site-gpu-{i}", "site.gpu4", parent=p["urn"]) for i in range(2)), *gpu_operator(c)]
    cap = {"max_gpus_per_pool": 7}
    assert hits(run(analyzer, *plan, config={"gpu-cap-per-pool": cap}), "gpu-cap-per-pool") == []
    known = {"gpu-cap-per-pool": {**cap, "gpu_flavors": [{"name": "site.gpu4", "gpus": 4}]}}
    assert hits(run(analyzer, *plan, config=known), "gpu-cap-per-pool") == [(p["urn"], "mandatory")]


def test_flavor_names_in_gpu_flavors_count_one_gpu_unless_catalogued(analyzer: Analyzer) -> None:
    c = cluster("site")
    p = pool(c, "gpu")
    plan = [
        c,
        p,
        instance("site-gpu-0", "site.gpu.large", parent=p["urn"]),
        instance("site-gpu-1", "vm.a100.2gpu", parent=p["urn"]),
        *gpu_operator(c),
    ]
    flavors = ["site.gpu.large", "vm.a100.2gpu", ""]
    report = run(analyzer, *plan, config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0, "gpu_flavors": flavors}})
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        ("", "mandatory", "the stack can grow to 3 GPUs, over the cap of 0 (largest: site-gpu-1: 2, site-gpu-0: 1)")
    ]
    # The config's schema asks for an integer >= 1; a value that is not one counts one GPU per node.
    odd = [{"name": "site.gpu.large", "gpus": value} for value in (0, "x", None, 0.5)]
    for entry in odd:
        config = {"gpu-cap-per-stack": {"max_gpus_per_stack": 0, "gpu_flavors": [entry]}}
        assert gpu_messages(analyzer, run(analyzer, *plan, config=config), "gpu-cap-per-stack") == [
            ("", "mandatory", "the stack can grow to 3 GPUs, over the cap of 0 (largest: site-gpu-1: 2, site-gpu-0: 1)")
        ], entry
    counted = [{"name": "site.gpu.large", "gpus": 1}, {"name": "vm.a100.2gpu", "gpus": 3.0}]
    config = {"gpu-cap-per-stack": {"max_gpus_per_stack": 0, "gpu_flavors": counted}}
    assert gpu_messages(analyzer, run(analyzer, *plan, config=config), "gpu-cap-per-stack") == [
        ("", "mandatory", "the stack can grow to 4 GPUs, over the cap of 0 (largest: site-gpu-1: 3, site-gpu-0: 1)")
    ]
    # gpu_flavors is a list: a map of names is not one.
    mapped = {"gpu-cap-per-stack": {"max_gpus_per_stack": 0, "gpu_flavors": {"site.gpu.large": 4}}}
    assert gpu_messages(analyzer, run(analyzer, *plan, config=mapped), "gpu-cap-per-stack") == [
        ("", "mandatory", "the stack can grow to 2 GPUs, over the cap of 0 (largest: site-gpu-1: 2)")
    ]


@pytest.mark.parametrize("setting", [True, "1", None])
def test_caps_that_are_not_numbers_keep_the_default(analyzer: Analyzer, setting: Any) -> None:
    c = cluster("eks")
    small = eks_pool(c, "a10g", "g5.xlarge", 2)  # 2 GPUs
    config = {"gpu-cap-per-pool": {"max_gpus_per_pool": setting}, "gpu-cap-per-stack": {"max_gpus_per_stack": setting}}
    report = run(analyzer, c, *small, *gpu_operator(c), config=config)
    assert hits(report, "gpu-cap-per-pool") == []
    assert hits(report, "gpu-cap-per-stack") == []


def test_stack_cap_sums_every_pool(analyzer: Analyzer) -> None:
    c = cluster("eks")
    pools = [item for i in range(5) for item in eks_pool(c, f"h100-{i}", "p5.48xlarge", 8)]  # 5 x 64 = 320
    report = run(analyzer, c, *pools, *gpu_operator(c))
    assert hits(report, "gpu-cap-per-pool") == []
    assert hits(report, "gpu-cap-per-stack") == [("", "mandatory")]
    assert "320 GPUs" in next(v.message for v in report.violations if v.policy == "gpu-cap-per-stack")
    lenient = run(analyzer, c, *pools, *gpu_operator(c), config={"gpu-cap-per-stack": {"max_gpus_per_stack": 320}})
    assert hits(lenient, "gpu-cap-per-stack") == []


def test_stack_cap_message_names_the_five_largest(analyzer: Analyzer) -> None:
    c = cluster("eks")
    sizes = {"a": 1, "b": 6, "c": 2, "d": 5, "e": 3, "f": 4}  # max_size nodes of one GPU each
    pools = [item for key, size in sizes.items() for item in eks_pool(c, key, "g5.xlarge", size)]
    report = run(analyzer, c, *pools, *gpu_operator(c), config={"gpu-cap-per-stack": {"max_gpus_per_stack": 20}})
    largest = "eks-b-nodes: 6, eks-d-nodes: 5, eks-f-nodes: 4, eks-e-nodes: 3, eks-c-nodes: 2"
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        ("", "mandatory", f"the stack can grow to 21 GPUs, over the cap of 20 (largest: {largest})")
    ]


def gpu_messages(analyzer: Analyzer, report: GateReport, policy: str) -> list[tuple[str, str, str]]:
    """(URN, level, message) of each violation of `policy` (the message after the policy's description)."""
    found = [v for v in report.violations if v.policy == policy]
    assert all(v.message.startswith(message(analyzer, policy, "")) for v in found), found
    return [(v.urn, v.level, v.message.removeprefix(message(analyzer, policy, ""))) for v in found]


def test_cap_messages_count_nodes_per_flavor(analyzer: Analyzer) -> None:
    c = cluster("rke")
    a = pool(c, "a")
    nodes = [
        instance("rke-a-0", "vm.a100.2gpu", parent=a["urn"]),
        instance("rke-a-1", "vm.a100.1gpu", parent=a["urn"]),
        instance("rke-a-2", "vm.a100.2gpu", parent=a["urn"]),
    ]
    config = {"gpu-cap-per-pool": {"max_gpus_per_pool": 4}, "gpu-cap-per-stack": {"max_gpus_per_stack": 4}}
    report = run(analyzer, c, a, *nodes, *gpu_operator(c), config=config)
    per_flavor = "2 nodes x vm.a100.2gpu (2 GPUs each), 1 nodes x vm.a100.1gpu (1 GPUs each)"
    assert gpu_messages(analyzer, report, "gpu-cap-per-pool") == [
        (a["urn"], "mandatory", f"pool rke-a can grow to 5 GPUs, over the cap of 4 per pool ({per_flavor})")
    ]
    largest = "rke-a-0: 2, rke-a-2: 2, rke-a-1: 1"
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        ("", "mandatory", f"the stack can grow to 5 GPUs, over the cap of 4 (largest: {largest})")
    ]


def test_nodes_without_counts_count_once(analyzer: Analyzer) -> None:
    """A group without sizes creates one node; an uncatalogued type on a GPU AMI has one GPU."""
    c = cluster("eks")
    bare = node_group("eks-bare", "p5.48xlarge", parent=c["urn"], scalingConfig={})
    ami = node_group("eks-ami", "x9.unknown", parent=c["urn"], amiType="AL2023_x86_64_NVIDIA", max_size=3)
    report = run(analyzer, c, bare, ami, *gpu_operator(c), config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0}})
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        ("", "mandatory", "the stack can grow to 11 GPUs, over the cap of 0 (largest: eks-bare: 8, eks-ami: 3)")
    ]


def magnum_template(cluster_: dict[str, Any], name: str, flavor: str) -> dict[str, Any]:
    return resource(
        MAGNUM_TEMPLATE,
        f"{cluster_['name']}-{name}",
        {"flavor": flavor, "masterFlavor": "eo1.large", "labels": {"max_node_count": "3"}},
        parent=cluster_["urn"],
        provider=OS_PROVIDER_URN,
    )


@pytest.mark.parametrize(
    ("depends_on", "siblings", "gpus"),
    [
        pytest.param(["net", "gpu"], ["gpu", "cpu"], 3, id="the-template-it-depends-on"),
        pytest.param(["cpu"], ["gpu", "cpu"], 0, id="its-dependency-over-a-sibling"),
        pytest.param([], ["gpu"], 3, id="its-only-sibling-template"),
        pytest.param([], ["gpu", "cpu"], 0, id="no-guess-between-siblings"),
    ],
)
def test_magnum_default_worker_flavor_comes_from_its_template(
    analyzer: Analyzer, depends_on: list[str], siblings: list[str], gpus: int
) -> None:
    c = cluster("mag")
    templates = {
        "gpu": magnum_template(c, "gpu-template", "vm.a30.1gpu"),
        "cpu": magnum_template(c, "cpu-template", "eo1.xlarge"),
        "net": resource("openstack:networking/network:Network", "mag-net", {}, provider=OS_PROVIDER_URN),
    }
    magnum = resource(
        MAGNUM_CLUSTER,
        "mag-cluster",
        {"clusterTemplateId": "3f2a", "nodeCount": 1, "masterCount": 3},
        parent=c["urn"],
        provider=OS_PROVIDER_URN,
        depends_on=[templates[name]["urn"] for name in depends_on],
    )
    plan = [c, templates["net"], *(templates[name] for name in siblings), magnum, *gpu_operator(c)]
    report = run(analyzer, *plan, config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0}})
    expected = f"the stack can grow to {gpus} GPUs, over the cap of 0 (largest: mag-cluster: {gpus})"
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == ([("", "mandatory", expected)] if gpus else [])


# -- unknowns and real plans --------------------------------------------------------------------------------------


def test_unknown_inputs_give_only_the_preview_notice(analyzer: Analyzer) -> None:
    c = cluster("unknown")
    p = pool(c, "gpu")

    def unknown(type_: str, name: str, keys: list[str], **kwargs: Any) -> dict[str, Any]:
        return resource(type_, name, dict.fromkeys(keys, UNKNOWN), **kwargs)

    plan = [
        c,
        p,
        unknown(EKS_NODE_GROUP, "ng", ["instanceTypes", "amiType", "scalingConfig", "taints", "tags"], parent=p["urn"]),
        unknown(OS_INSTANCE, "vm", ["flavorName", "tags"], parent=p["urn"], provider=OS_PROVIDER_URN),
        unknown(MAGNUM_NODE_GROUP, "mng", ["flavorId", "maxNodeCount"], parent=p["urn"], provider=OS_PROVIDER_URN),
        unknown(
            MAGNUM_TEMPLATE, "tpl", ["flavor", "masterFlavor", "labels"], parent=c["urn"], provider=OS_PROVIDER_URN
        ),
        unknown(MAGNUM_CLUSTER, "mc", ["flavor", "nodeCount", "labels"], parent=c["urn"], provider=OS_PROVIDER_URN),
        unknown(RELEASE, "hub", ["chart", "values"], parent=c["urn"]),
    ]
    config = {"gpu-cap-per-pool": {"max_gpus_per_pool": 0}, "gpu-cap-per-stack": {"max_gpus_per_stack": 0}}
    report = run(analyzer, *plan, config=config)
    mine = [v for v in report.violations if v.policy in GPU_POLICIES]
    assert mine, "the preview notice is expected"
    assert all(v.level == "advisory" and "during preview" in v.message for v in mine), mine
    # Every GPU policy meets an unknown here, the whole-stack ones too (they carry it past the
    # resources they can still read, then hand the first one to the SDK).
    assert {v.policy for v in mine} == GPU_POLICIES


def test_bundled_plans_count_gpus_from_real_resources(analyzer: Analyzer, bundled_plan: Callable[[str], Plan]) -> None:
    """eo4eu: RKE2 core-a100 1 x vm.a100.1gpu = 1 GPU; EKS burst-l40s 6 x g6e.12xlarge (4 GPUs) = 24."""
    plan = bundled_plan("eo4eu")
    config = {"gpu-cap-per-pool": {"max_gpus_per_pool": 1}, "gpu-cap-per-stack": {"max_gpus_per_stack": 24}}
    report = violations(analyzer, plan, config)
    l40s = plan.one(POOL, "burst-l40s")["urn"]
    assert hits(report, "gpu-cap-per-pool") == [(l40s, "mandatory")]
    assert hits(report, "gpu-cap-per-stack") == [("", "mandatory")]
    assert "25 GPUs" in next(v.message for v in report.violations if v.policy == "gpu-cap-per-stack")


def test_bundled_magnum_and_site_flavors(analyzer: Analyzer, bundled_plan: Callable[[str], Plan]) -> None:
    """buildspace: Magnum processing-a30 3 x 1 + EKS t4 2 x 1; destine-extremes' site flavor counts once declared."""
    buildspace = violations(analyzer, bundled_plan("buildspace"), {"gpu-cap-per-stack": {"max_gpus_per_stack": 4}})
    assert "5 GPUs" in next(v.message for v in buildspace.violations if v.policy == "gpu-cap-per-stack")
    # extremes-bologna 2 x 2, postproc-h100 2 x 8; lumi-kajaani's own gpu.a100.1 only when configured,
    # then the capi pool's MachineDeployment at its autoscaler max-size: 4 x 1.
    destine = bundled_plan("destine-extremes")
    base = violations(analyzer, destine, {"gpu-cap-per-stack": {"max_gpus_per_stack": 19}})
    assert "20 GPUs" in next(v.message for v in base.violations if v.policy == "gpu-cap-per-stack")
    declared = {"max_gpus_per_stack": 20, "gpu_flavors": [{"name": "gpu.a100.1", "gpus": 1}]}
    with_site = violations(analyzer, destine, {"gpu-cap-per-stack": declared})
    message = next(v.message for v in with_site.violations if v.policy == "gpu-cap-per-stack")
    assert "24 GPUs" in message and "extremes-kajaani-a100: 4" in message


def test_real_node_groups_are_tainted_and_clusters_run_the_operator(
    analyzer: Analyzer, bundled_plan: Callable[[str], Plan]
) -> None:
    """Dropping the taint or the operator from a real plan is caught where it happened."""
    plan = bundled_plan("eo4eu")
    group = plan.one(EKS_NODE_GROUP, "burst-l40s-nodes")
    operator = plan.one(RELEASE, "burst-gpu-operator")
    broken = Plan(
        project=plan.project,
        stack=plan.stack,
        resources=[
            {**r, "inputs": {**r["inputs"], "taints": []}} if r is group else r
            for r in plan.resources
            if r is not operator
        ],
    )
    report = violations(analyzer, broken)
    assert hits(report, "gpu-nodes-tainted") == [(group["urn"], "mandatory")]
    burst = plan.one(CLUSTER, "burst")["urn"]
    assert hits(report, "gpu-operator-on-gpu-clusters") == [(burst, "mandatory")]


def adopted_operator(cluster_: dict[str, Any], provider: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Meridian's ClusterPolicy patch of an operator Magnum's cluster-addons installed, through `provider`."""
    provider = provider or k8s_provider(cluster_)
    addon = component(OPERATOR, f"{cluster_['name']}-gpu-operator", parent=cluster_["urn"])
    patch = resource(
        "kubernetes:nvidia.com/v1:ClusterPolicyPatch",
        f"{cluster_['name']}-gpu-operator-cluster-policy",
        {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "metadata": {"name": "cluster-policy"}},
        parent=addon["urn"],
        provider=provider["urn"],
    )
    return [provider, addon, patch]


def test_an_adopted_operator_covers_a_magnum_cluster(analyzer: Analyzer) -> None:
    # Magnum's cluster-addons installs the operator (nvidiaGPUOperator on by default); Meridian patches its
    # ClusterPolicy instead of installing a second release (components/addons/gpu_operator.py ADOPTED_RELEASE).
    c = cluster("mag")
    items = [c, *magnum_default_worker(c, "vm.a30.1gpu", max_nodes=3)]
    assert hits(run(analyzer, *items, *adopted_operator(c)), "gpu-operator-on-gpu-clusters") == []
    # A patch through another cluster's provider changes that cluster, not this one.
    other = cluster("other")
    report = run(analyzer, *items, other, *adopted_operator(c, k8s_provider(other)))
    assert hits(report, "gpu-operator-on-gpu-clusters") == [(c["urn"], "mandatory")]


def test_eks_cap_messages_name_instance_types_else_the_ami(analyzer: Analyzer) -> None:
    c = cluster("eks")
    typed = node_group("eks-typed", "p5.48xlarge", parent=c["urn"], max_size=1)
    typed["inputs"]["instanceTypes"] = ["p5.48xlarge", "p4d.24xlarge"]
    ami = node_group("eks-ami", "x9.unknown", parent=c["urn"], amiType="AL2023_x86_64_NVIDIA", max_size=2)
    ami["inputs"].pop("instanceTypes")
    report = run(analyzer, c, typed, ami, *gpu_operator(c), config={"gpu-cap-per-pool": {"max_gpus_per_pool": 0}})
    assert gpu_messages(analyzer, report, "gpu-cap-per-pool") == [
        (
            typed["urn"],
            "mandatory",
            "pool eks-typed can grow to 8 GPUs, over the cap of 0 per pool"
            " (1 nodes x p5.48xlarge,p4d.24xlarge (8 GPUs each))",
        ),
        (
            ami["urn"],
            "mandatory",
            "pool eks-ami can grow to 2 GPUs, over the cap of 0 per pool"
            " (2 nodes x AL2023_x86_64_NVIDIA (1 GPUs each))",
        ),
    ]


def test_a_magnum_node_group_without_a_flavor_counts_its_clusters(analyzer: Analyzer) -> None:
    # Magnum gives a new node group without flavor_id its cluster's flavor (magnum
    # api/controllers/v1/nodegroup.py post()); the cluster's own comes from its template here.
    c = cluster("mag")
    p = pool(c, "extra")
    template, magnum = magnum_default_worker(c, "vm.a30.1gpu", max_nodes=2)
    group = resource(
        MAGNUM_NODE_GROUP,
        "mag-extra-nodegroup",
        {"nodeCount": 1, "maxNodeCount": 3},
        parent=p["urn"],
        provider=OS_PROVIDER_URN,
        depends_on=[magnum["urn"]],
    )
    plan = [c, p, template, magnum, group, *gpu_operator(c)]
    report = run(analyzer, *plan, config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0}})
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        (
            "",
            "mandatory",
            "the stack can grow to 5 GPUs, over the cap of 0 (largest: mag-extra-nodegroup: 3, mag-cluster: 2)",
        )
    ]
    # Its own flavor wins; a group that depends on no cluster has none to inherit.
    group["inputs"]["flavorId"] = "eo1.large"
    report = run(analyzer, *plan, config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0}})
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        ("", "mandatory", "the stack can grow to 2 GPUs, over the cap of 0 (largest: mag-cluster: 2)")
    ]
    orphan = {**group, "inputs": {"nodeCount": 1, "maxNodeCount": 3}, "depends_on": []}
    report = run(
        analyzer,
        c,
        p,
        template,
        magnum,
        orphan,
        *gpu_operator(c),
        config={"gpu-cap-per-stack": {"max_gpus_per_stack": 0}},
    )
    assert gpu_messages(analyzer, report, "gpu-cap-per-stack") == [
        ("", "mandatory", "the stack can grow to 2 GPUs, over the cap of 0 (largest: mag-cluster: 2)")
    ]


def test_an_operator_a_gitops_engine_installs_by_the_clusters_name_covers_it(analyzer: Analyzer) -> None:
    """Meridian's own HelmOp and ClusterProfile (components/gitops.py) select the cluster by meridian.io/cluster."""
    from components.addons.base import GitOpsRelease, chart_release
    from components.gitops import cluster_profile_document, helmop_document

    gpu = eks_gpu_cluster("gpu")
    release = chart_release("gpu-gpu-operator", "gpu-operator", namespace="gpu-operator", values={"x": 1})
    item = GitOpsRelease("gpu", release, {"meridian.io/gpu": "true"})
    for kind, document in (
        ("kubernetes:fleet.cattle.io/v1alpha1:HelmOp", helmop_document("op", item, {})),
        ("kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile", cluster_profile_document("op", item, {})),
    ):
        engine = resource(kind, "op", document, parent=None)
        assert hits(run(analyzer, *gpu, engine), "gpu-operator-on-gpu-clusters") == [], kind
        # For another cluster, or another chart, it covers nothing.
        other = copy.deepcopy(document)
        elsewhere = resource(kind, "op", json.loads(json.dumps(other).replace('["gpu"]', '["cpu"]')), parent=None)
        assert hits(run(analyzer, *gpu, elsewhere), "gpu-operator-on-gpu-clusters") == [(gpu[0]["urn"], "mandatory")]
        renamed = resource(kind, "op", json.loads(json.dumps(other).replace("gpu-operator", "other-chart")))
        assert hits(run(analyzer, *gpu, renamed), "gpu-operator-on-gpu-clusters") == [(gpu[0]["urn"], "mandatory")]
    # Another chart's object with targets unknown during preview hides nothing: the cluster certainly has none.
    other_chart = helmop_document("op", item, {})
    other_chart["spec"]["helm"]["chart"] = "cert-manager"
    other_chart["spec"]["targets"] = UNKNOWN
    unrelated = resource("kubernetes:fleet.cattle.io/v1alpha1:HelmOp", "op", other_chart, parent=None)
    assert hits(run(analyzer, *gpu, unrelated), "gpu-operator-on-gpu-clusters") == [(gpu[0]["urn"], "mandatory")]
    # The operator's own object with targets unknown: any cluster may be its, so none is claimed missing.
    pending = helmop_document("op", item, {})
    pending["spec"]["targets"] = UNKNOWN
    report = run(analyzer, *gpu, resource("kubernetes:fleet.cattle.io/v1alpha1:HelmOp", "op", pending, parent=None))
    found = [v for v in report.violations if v.policy == "gpu-operator-on-gpu-clusters"]
    assert [(v.level, "during preview" in v.message) for v in found] == [("advisory", True)]


MACHINE_DEPLOYMENT = "kubernetes:cluster.x-k8s.io/v1beta2:MachineDeployment"
KUBEADM_CONFIG_TEMPLATE = "kubernetes:bootstrap.cluster.x-k8s.io/v1beta2:KubeadmConfigTemplate"


def test_capi_gpu_pools_are_counted_and_must_be_tainted(
    analyzer: Analyzer, bundled_plan: Callable[[str], Plan]
) -> None:
    """A Cluster API pool: its flavor from the machine template it names, its taints from its bootstrap template."""
    plan = bundled_plan("destine-extremes")
    pool = plan.one(MACHINE_DEPLOYMENT, "extremes-kajaani-a100")
    bootstrap = plan.one(KUBEADM_CONFIG_TEMPLATE, "extremes-kajaani-a100-bootstrap")
    config = {"gpu_flavors": [{"name": "gpu.a100.1", "gpus": 1}]}
    clean = violations(analyzer, plan, {"gpu-nodes-tainted": config})
    assert hits(clean, "gpu-nodes-tainted") == []

    def untainted(inputs: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(inputs)
        registration = changed["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]
        registration["taints"] = [t for t in registration["taints"] if t["key"] != "nvidia.com/gpu"]
        return changed

    broken = Plan(
        project=plan.project,
        stack=plan.stack,
        resources=[{**r, "inputs": untainted(r["inputs"])} if r is bootstrap else r for r in plan.resources],
    )
    report = violations(analyzer, broken, {"gpu-nodes-tainted": config})
    assert hits(report, "gpu-nodes-tainted") == [(pool["urn"], "mandatory")]
    # Without the site's flavor declared, the pool is not known to carry GPUs: nothing to say.
    assert hits(violations(analyzer, broken), "gpu-nodes-tainted") == []
