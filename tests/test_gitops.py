"""GitOps (components/gitops.py): the engine on the management cluster, every other cluster registered by label.

destine-extremes runs Rancher Fleet on extremes-bologna (its attached HPC bridge excluded),
buildspace runs Sveltos on processing. Checks nobody here wrote: the Fleet objects validate
against the fleet-crd CRDs of v0.16.1 and the SveltosCluster against the projectsveltos 1.13.0
chart's CRDs (both through the chart lock); each is also shown refusing a broken copy.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pulumi
import pytest
import yaml
from conftest import edited_stack, write_edited
from pulumi.runtime import MockResourceArgs

from components.addons.external_secrets import api_endpoint
from components.gitops import fleet_values, sveltos_values, token_kubeconfig
from components.spec import SpecError
from components.spec.gitops import cluster_labels, registered_clusters
from components.spec.load import parse_platform
from scripts.harness import SECRET, STACKS, Plan, evaluate
from scripts.mocks import MeridianMocks
from scripts.validate import validate_objects

FLEET_CLUSTER = "kubernetes:fleet.cattle.io/v1alpha1:Cluster"
GITREPO = "kubernetes:fleet.cattle.io/v1alpha1:GitRepo"
SVELTOS_CLUSTER = "kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster"
SECRET_TYPE = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"


def platform_of(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    platform: dict[str, Any] = document["config"]["meridian:platform"]
    return platform


def edited(tmp_path: Path, stack: str, edit: Callable[[dict[str, Any]], None], **kwargs: Any) -> Plan:
    return edited_stack(tmp_path, stack, edit, **kwargs)


# -- labels -----------------------------------------------------------------------------------------------


def test_every_registered_cluster_is_labelled_with_what_it_is() -> None:
    spec = parse_platform(platform_of("destine-extremes"), "destine-extremes")
    assert registered_clusters(spec) == ["extremes-kajaani", "postproc"]
    kajaani = spec.clusters["extremes-kajaani"]
    [gpu] = [pool.gpu for pool in kajaani.gpu_pools.values() if pool.gpu is not None]
    assert gpu.mig is not None
    # Its identity, then its GPUs: the model, how they are shared, the MIG layout (the node label's value).
    assert cluster_labels(spec, "extremes-kajaani") == {
        "meridian.io/project": "destine-extremes",
        "meridian.io/cluster": "extremes-kajaani",
        "meridian.io/site": kajaani.site,
        "meridian.io/backend": "capi",
        "meridian.io/kubernetes-version": kajaani.version,
        "meridian.io/gpu": "true",
        "meridian.io/gpu-a100-40gb": "true",
        "meridian.io/gpu-sharing-mig": "true",
        "meridian.io/mig-config": gpu.partition_labels["nvidia.com/mig.config"],
    }
    spec = parse_platform(platform_of("buildspace"), "buildspace")
    assert cluster_labels(spec, "processing")["meridian.io/gpu-sharing-time-slicing"] == "true"
    # Whole GPUs, then the spec's own labels beside Meridian's.
    city = cluster_labels(spec, "city-services")
    assert city["meridian.io/gpu-t4"] == city["meridian.io/gpu-sharing-whole"] == "true"
    assert (city["tier"], city["data-zone"]) == ("public-services", "eu-north")
    assert "meridian.io/mig-config" not in city


def test_a_cluster_without_gpus_has_no_gpu_label_and_mixed_layouts_no_mig_config() -> None:
    platform = platform_of("buildspace")
    del platform["clusters"]["city-services"]["node_pools"]["t4"]
    spec = parse_platform(platform, "buildspace")
    assert not [key for key in cluster_labels(spec, "city-services") if "gpu" in key]
    # Two MIG layouts on one cluster: no single layout to name.
    platform = platform_of("destine-extremes")
    pools = platform["clusters"]["extremes-kajaani"]["node_pools"]
    [name] = [name for name, pool in pools.items() if "gpu" in pool]
    pools["second"] = copy.deepcopy(pools[name])
    pools["second"]["gpu"]["mig"] = {"strategy": "mixed", "custom": {"1g.5gb": 3, "2g.10gb": 2}}
    spec = parse_platform(platform, "destine-extremes")
    labels = cluster_labels(spec, "extremes-kajaani")
    assert labels["meridian.io/gpu-sharing-mig"] == "true" and "meridian.io/mig-config" not in labels


# -- Fleet ------------------------------------------------------------------------------------------------


def test_fleet_registers_each_cluster_with_its_labels_and_a_secret_kubeconfig(bundled_plan: Any) -> None:
    plan = bundled_plan("destine-extremes")
    spec = parse_platform(platform_of("destine-extremes"), "destine-extremes")
    clusters = {r["inputs"]["metadata"]["name"]: r for r in plan.by_type(FLEET_CLUSTER)}
    # Not the management cluster (Fleet's own `local`), not the excluded attached bridge.
    assert set(clusters) == {"extremes-kajaani", "postproc"}
    secrets = {r["name"]: r for r in plan.by_type(SECRET_TYPE)}
    for name, cluster in clusters.items():
        assert cluster["inputs"]["metadata"]["namespace"] == "fleet-default"
        assert cluster["inputs"]["metadata"]["labels"] == cluster_labels(spec, name)
        assert cluster["inputs"]["spec"] == {"kubeConfigSecret": f"{name}-kubeconfig"}
        secret = secrets[f"{name}-fleet-kubeconfig"]
        # Same namespace as the Cluster (Fleet reads it there), key `value` (Fleet config.go).
        assert secret["inputs"]["metadata"]["name"] == f"{name}-kubeconfig"
        assert secret["inputs"]["metadata"]["namespace"] == "fleet-default"
        assert "stringData" in secret["secret_paths"] or "stringData.value" in secret["secret_paths"]
        assert secret["inputs"]["stringData"] in (SECRET, {"value": SECRET})
        # The registration waits for its Secret.
        assert secret["urn"] in cluster["depends_on"]
        # Everything on the management cluster, through its provider.
        assert cluster["provider"].startswith(
            next(r["urn"] for r in plan.resources if r["name"] == "extremes-bologna-k8s")
        )


def kubectl_view(kubeconfig: str, directory: Path) -> dict[str, Any]:
    """The kubeconfig as the official kubectl loads it (`kubectl config view --raw`, client-go's clientcmd)."""
    path = directory / "kubeconfig"
    path.write_text(kubeconfig, encoding="utf-8")
    kubectl = Path(sys.executable).parent / "kubectl"
    done = subprocess.run(
        [kubectl, "config", "view", "--kubeconfig", path, "--raw", "-o", "json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def test_kubectl_refuses_a_kubeconfig_of_another_version_or_kind(tmp_path: Path) -> None:
    """The check above can fail: client-go knows Config v1 only."""
    good = token_kubeconfig(
        "lab", "https://10.0.0.1:6443", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", "t"
    )
    assert kubectl_view(good, tmp_path)["users"] == [{"name": "meridian-gitops", "user": {"token": "t"}}]
    for broken in (good.replace("apiVersion: v1", "apiVersion: V1"), good.replace("kind: Config", "kind: Konfig")):
        with pytest.raises(AssertionError, match="is registered for version"):
            kubectl_view(broken, tmp_path)


def test_the_registration_holds_the_engines_own_token_on_each_cluster(tmp_path: Path) -> None:
    """Not Meridian's admin kubeconfig: eks's runs `aws eks get-token`, which neither engine's image can."""
    plan = evaluate(STACKS / "Pulumi.destine-extremes.yaml", reveal_secrets=True)
    for cluster in ("postproc", "extremes-kajaani"):
        provider = plan.one("pulumi:providers:kubernetes", f"{cluster}-k8s")
        own = plan.revealed[provider["urn"]]["kubeconfig"]
        # The engine's account on the registered cluster, through that cluster's provider.
        account = plan.one("kubernetes:core/v1:ServiceAccount", f"{cluster}-fleet-identity")
        binding = plan.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", f"{cluster}-fleet-identity")
        token = plan.one(SECRET_TYPE, f"{cluster}-fleet-identity-token")
        for resource in (account, binding, token):
            assert resource["provider"].startswith(provider["urn"] + "::"), resource["name"]
        assert account["inputs"]["metadata"] | {"labels": {}} == {
            "name": "meridian-gitops", "namespace": "kube-system", "labels": {}
        }  # fmt: skip
        assert binding["inputs"]["metadata"]["name"] == "meridian-gitops"
        assert binding["inputs"]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        }
        assert binding["inputs"]["subjects"] == [
            {"kind": "ServiceAccount", "name": "meridian-gitops", "namespace": "kube-system"}
        ]
        assert token["inputs"]["type"] == "kubernetes.io/service-account-token"
        assert token["inputs"]["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "meridian-gitops"}
        assert account["urn"] in token["depends_on"]  # pulumi-kubernetes#4396: the account first
        # The kubeconfig: the cluster's own API and CA, the account's token, nothing to execute.
        secret = plan.one(SECRET_TYPE, f"{cluster}-fleet-kubeconfig")
        kubeconfig = plan.revealed[secret["urn"]]["stringData"]["value"]
        assert api_endpoint(kubeconfig) == api_endpoint(own)
        document = yaml.safe_load(kubeconfig)
        # A v1 Config, as client-go (which Fleet's and Sveltos's controllers load it with) reads it:
        # the real kubectl parses it and reports the same server, CA and token.
        assert (document["apiVersion"], document["kind"]) == ("v1", "Config")
        assert kubectl_view(kubeconfig, tmp_path) == document
        [user] = document["users"]
        # What the API's token controller put in the token Secret (the mocks' realistic outputs).
        args = MockResourceArgs(token["type"], token["name"], dict(plan.revealed[token["urn"]]), None, None, True)
        issued = base64.b64decode(MeridianMocks().new_resource(args)[1]["data"]["token"]).decode()
        assert user["user"] == {"token": issued}
        assert (
            '"system:serviceaccount:kube-system:meridian-gitops"'
            in base64.urlsafe_b64decode(user["user"]["token"].split(".")[1] + "==").decode()
        )


def test_the_agents_namespace_is_made_baseline_before_fleet_deploys_into_it(bundled_plan: Any) -> None:
    """rke2's CIS profile makes `restricted` the default; Fleet's agent sets no seccomp profile (manifest.go)."""
    plan = bundled_plan("destine-extremes")
    for cluster in ("postproc", "extremes-kajaani"):
        namespace = plan.one("kubernetes:core/v1:Namespace", f"{cluster}-fleet-agent-namespace")
        provider = plan.one("pulumi:providers:kubernetes", f"{cluster}-k8s")
        assert namespace["provider"].startswith(provider["urn"] + "::")
        labels = namespace["inputs"]["metadata"]["labels"]
        assert namespace["inputs"]["metadata"]["name"] == "cattle-fleet-system"
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        registration = plan.one(FLEET_CLUSTER, f"{cluster}-fleet-cluster")
        assert namespace["urn"] in registration["depends_on"]
        assert plan.one(RELEASE, "extremes-bologna-fleet")["urn"] in registration["depends_on"]
    # On the management cluster too, under the engine's component.
    home = plan.one("kubernetes:core/v1:Namespace", "extremes-bologna-fleet-namespace")
    labels = home["inputs"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert home["parent"] == plan.one("meridian:gitops:Fleet", "extremes-bologna-gitops")["urn"]


@pytest.mark.parametrize(("stack", "engine"), [("destine-extremes", "Fleet"), ("buildspace", "Sveltos")])
def test_the_engines_component_is_typed_by_its_engine(bundled_plan: Any, stack: str, engine: str) -> None:
    """The component's type is in every URN under it (`meridian:gitops:Fleet` or `...:Sveltos`): a contract."""
    plan = bundled_plan(stack)
    [component] = [r for r in plan.resources if r["type"].startswith("meridian:gitops:")]
    assert component["type"] == f"meridian:gitops:{engine}"
    management = platform_of(stack)["gitops"]["management_cluster"]
    assert component["name"] == f"{management}-gitops"
    # Everything the engine makes hangs under it (what `pulumi stack` shows, and what moves with it).
    children = sorted(
        (r["type"].rpartition(":")[2], r["name"]) for r in plan.resources if r["parent"] == component["urn"]
    )
    assert children == ENGINE_CHILDREN[stack]
    # What `pulumi stack` shows of it: the engine, whom it registers, what it delivers.
    spec = parse_platform(platform_of(stack), stack)
    delivered = sorted(name.rsplit("-", 1)[0] for kind, name in children if kind in ("HelmOp", "ClusterProfile"))
    assert plan.component_outputs[component["urn"]] == {
        "engine": engine.lower(),
        "registered": registered_clusters(spec),
        "releases": delivered,
    }
    # The management side's objects carry the management cluster's labels (the workspace's, less Pod Security's).
    management_labels = {
        key: value
        for key, value in next(
            plan.one("kubernetes:core/v1:Namespace", name)["inputs"]["metadata"]["labels"]
            for kind, name in children
            if kind == "Namespace" and name.startswith(f"{management}-")
        ).items()
        if not key.startswith("pod-security.")
    }
    assert management_labels["cluster"] == management
    for kind, name in children:
        if kind == "Secret" and name.endswith(("-fleet-kubeconfig", "-sveltos-kubeconfig")):
            assert plan.one(SECRET_TYPE, name)["inputs"]["metadata"]["labels"] == management_labels, name
    for kind, name in children:
        if kind == "Namespace" and not name.endswith("fleet-namespace") and "agent" not in name:
            # Sveltos's namespaces, and Fleet's workspace, hold nothing that needs less than `restricted`.
            labels = plan.one("kubernetes:core/v1:Namespace", name)["inputs"]["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted", name


#: The engine component's children in the bundled stacks: (kind, Pulumi name).
ENGINE_CHILDREN = {
    "buildspace": [
        ("ClusterProfile", "city-services-alloy-clusterprofile"),
        ("ClusterProfile", "city-services-gpu-operator-clusterprofile"),
        ("ClusterProfile", "city-services-kube-prometheus-stack-clusterprofile"),
        ("ClusterRoleBinding", "city-services-sveltos-identity"),
        ("Namespace", "processing-sveltos-clusters"),
        ("Namespace", "processing-sveltos-namespace"),
        ("Release", "processing-sveltos"),
        ("Secret", "city-services-sveltos-identity-token"),
        ("Secret", "city-services-sveltos-kubeconfig"),
        ("ServiceAccount", "city-services-sveltos-identity"),
        ("SveltosCluster", "city-services-sveltos-cluster"),
    ],
    "destine-extremes": [
        ("Cluster", "extremes-kajaani-fleet-cluster"),
        ("Cluster", "postproc-fleet-cluster"),
        ("ClusterRoleBinding", "extremes-kajaani-fleet-identity"),
        ("ClusterRoleBinding", "postproc-fleet-identity"),
        ("GitRepo", "inference-gitrepo"),
        ("GitRepo", "workflows-gitrepo"),
        ("HelmOp", "extremes-kajaani-alloy-helmop"),
        ("HelmOp", "extremes-kajaani-gpu-operator-helmop"),
        ("HelmOp", "extremes-kajaani-kube-prometheus-stack-helmop"),
        ("Namespace", "extremes-bologna-fleet-namespace"),
        ("Namespace", "extremes-bologna-fleet-workspace"),
        ("Namespace", "extremes-kajaani-fleet-agent-namespace"),
        ("Namespace", "postproc-fleet-agent-namespace"),
        ("Release", "extremes-bologna-fleet"),
        ("Release", "extremes-bologna-fleet-crd"),
        ("Secret", "extremes-kajaani-fleet-identity-token"),
        ("Secret", "extremes-kajaani-fleet-kubeconfig"),
        ("Secret", "inference-git-auth"),
        ("Secret", "postproc-fleet-identity-token"),
        ("Secret", "postproc-fleet-kubeconfig"),
        ("Secret", "workflows-git-auth"),
        ("ServiceAccount", "extremes-kajaani-fleet-identity"),
        ("ServiceAccount", "postproc-fleet-identity"),
    ],
}


def test_the_manager_calls_back_the_management_api_and_trusts_only_its_ca() -> None:
    plan = evaluate(STACKS / "Pulumi.destine-extremes.yaml", reveal_secrets=True)
    release = plan.one(RELEASE, "extremes-bologna-fleet")
    values = plan.revealed[release["urn"]]["values"]
    kubeconfig = plan.revealed[plan.one("pulumi:providers:kubernetes", "extremes-bologna-k8s")["urn"]]["kubeconfig"]
    server, ca = api_endpoint(kubeconfig)
    # apiServerCA is the PEM itself: the chart base64-encodes it (templates/configmap.yaml).
    assert values["apiServerURL"] == server and values["apiServerCA"] == ca
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    assert base64.b64encode(ca.encode()).decode() not in [str(v) for v in values.values()]
    # Fleet's agent TLS modes (internal/config/config.go at v0.16.1): "system-store" and "strict".
    assert values["agentTLSMode"] == "strict"
    assert values["bootstrap"] == {"localAgentDisabled": True}
    # Both are public (every client of the API is shown them): in clear in the plan, unlike the kubeconfig.
    assert release["inputs"]["values"]["apiServerURL"] == server and not release["secret_paths"]
    crds = plan.one(RELEASE, "extremes-bologna-fleet-crd")
    assert crds["urn"] in release["depends_on"]
    assert release["inputs"]["namespace"] == crds["inputs"]["namespace"] == "cattle-fleet-system"


def test_fleet_values_are_keys_of_the_chart() -> None:
    from scripts.upstream import chart_dir

    upstream = yaml.safe_load((chart_dir("fleet") / "values.yaml").read_text(encoding="utf-8"))
    values = fleet_values("https://api.example:6443", "-----BEGIN CERTIFICATE-----\n")
    assert set(values) <= set(upstream)
    # "strict" is one of the two modes the chart documents (values.yaml: system-store or strict).
    assert "`strict` mode" in (chart_dir("fleet") / "values.yaml").read_text(encoding="utf-8")
    assert set(values["bootstrap"]) <= set(upstream["bootstrap"])
    # The manager bounded as every Meridian container (policy container-resources): the chart sets none.
    assert upstream["resources"] == {}
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    assert values["metrics"] == {"enabled": True}
    sveltos = yaml.safe_load((chart_dir("projectsveltos") / "values.yaml").read_text(encoding="utf-8"))
    for key, value in sveltos_values().items():
        assert key in sveltos
        for inner in value:
            assert inner in sveltos[key], f"{key}.{inner}"


def test_gitrepos_target_the_selected_clusters_with_their_credentials(bundled_plan: Any) -> None:
    plan = bundled_plan("destine-extremes")
    repos = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in plan.by_type(GITREPO)}
    assert set(repos) == {"workflows", "inference"}
    workflows, inference = repos["workflows"], repos["inference"]
    assert workflows["metadata"]["namespace"] == inference["metadata"]["namespace"] == "fleet-default"
    assert workflows["spec"] == {
        "repo": "https://gitlab.destine-x.eu/extremes/deploy.git",
        "branch": "production",
        "paths": ["clusters/common"],
        "clientSecretName": "workflows-git-auth",
        # An empty selector: every registered cluster of the workspace (always explicit: a GitRepo
        # without targets would go to the `default` group, which only fleet-local has).
        "targets": [{"name": "workflows", "clusterSelector": {"matchLabels": {}}}],
    }
    # A pinned tag is sent alone: Fleet follows `branch` whenever it is set (gitjob.go).
    assert "branch" not in inference["spec"] and inference["spec"]["revision"] == "v2.4.1"
    assert inference["spec"]["targets"] == [
        {"name": "inference", "clusterSelector": {"matchLabels": {"meridian.io/gpu-sharing-mig": "true"}}}
    ]
    secrets = {r["inputs"]["metadata"]["name"]: r for r in plan.by_type(SECRET_TYPE)}
    assert secrets["workflows-git-auth"]["inputs"]["type"] == "kubernetes.io/basic-auth"
    assert secrets["inference-git-auth"]["inputs"]["type"] == "kubernetes.io/ssh-auth"
    # Beside its GitRepo (Fleet reads clientSecretName in the GitRepo's namespace), with the project's labels.
    gitrepo_labels = workflows["metadata"]["labels"]
    assert gitrepo_labels["project"] == "destine-extremes"
    for name in ("workflows-git-auth", "inference-git-auth"):
        assert secrets[name]["secret_paths"], name
        assert secrets[name]["inputs"]["metadata"] == {
            "name": name,
            "namespace": "fleet-default",
            "labels": gitrepo_labels,
        }
    assert inference["metadata"]["labels"] == gitrepo_labels


def test_credentials_keys_are_the_ones_fleet_reads() -> None:
    plan = evaluate(STACKS / "Pulumi.destine-extremes.yaml", reveal_secrets=True)
    basic = plan.revealed[plan.one(SECRET_TYPE, "workflows-git-auth")["urn"]]["stringData"]
    ssh = plan.revealed[plan.one(SECRET_TYPE, "inference-git-auth")["urn"]]["stringData"]
    assert set(basic) == {"username", "password"} and basic["username"] == "fleet-reader"
    assert set(ssh) == {"ssh-privatekey", "known_hosts"} and ssh["known_hosts"].startswith("gitlab.destine-x.eu ")


def test_the_engine_opens_exactly_its_paths_between_sites(bundled_plan: Any) -> None:
    from components.reachability import gitops_sources

    spec = parse_platform(platform_of("destine-extremes"), "destine-extremes")
    # Management cluster (Bologna) -> each registered cluster's API; with Fleet, each agent back.
    assert gitops_sources(spec, "extremes-kajaani") == ["site:ewc-bologna"]
    assert gitops_sources(spec, "postproc") == ["site:ewc-bologna"]
    assert gitops_sources(spec, "extremes-bologna") == ["site:aws-frankfurt", "site:lumi-kajaani"]
    assert gitops_sources(spec, "hpc-bridge") == []
    # Sveltos is agentless: nothing calls the management cluster back.
    spec = parse_platform(platform_of("buildspace"), "buildspace")
    assert gitops_sources(spec, "processing") == []
    assert gitops_sources(spec, "city-services") == ["site:ewc-bologna"]
    # A cluster on the management cluster's own site is reached at its public address too, so
    # from the site's egress (Neutron SNATs a floating IP's internal callers to the router).
    twin = platform_of("destine-extremes")
    twin["clusters"]["twin"] = copy.deepcopy(twin["clusters"]["extremes-bologna"])
    twin["clusters"]["twin"]["addons"] = {}
    spec = parse_platform(twin, "destine-extremes")
    assert gitops_sources(spec, "twin") == ["site:ewc-bologna"]
    assert "site:ewc-bologna" in gitops_sources(spec, "extremes-bologna")
    # In the plan: the addresses themselves.
    plan = evaluate(STACKS / "Pulumi.destine-extremes.yaml", reveal_secrets=True)
    # extremes-kajaani is a capi cluster: its API load balancer is CAPO's, the allow-list its OpenStackCluster's.
    kajaani = plan.one(
        "kubernetes:infrastructure.cluster.x-k8s.io/v1beta1:OpenStackCluster", "extremes-kajaani-openstack-cluster"
    )
    allowed = kajaani["inputs"]["spec"]["apiServerLoadBalancer"]["allowedCIDRs"]
    eks = plan.one("aws:eks/cluster:Cluster", "postproc-eks")
    bologna_egress = plan.outputs["egress_addresses"]["ewc-bologna"]
    assert bologna_egress and all(f"{ip}/32" in allowed for ip in bologna_egress)
    assert all(f"{ip}/32" in eks["inputs"]["vpcConfig"]["publicAccessCidrs"] for ip in bologna_egress)
    home = plan.one("openstack:loadbalancer/listener:Listener", "extremes-bologna-api-6443")["inputs"]["allowedCidrs"]
    for site in ("lumi-kajaani", "aws-frankfurt"):
        assert all(f"{ip}/32" in home for ip in plan.outputs["egress_addresses"][site]), site


# -- Sveltos ----------------------------------------------------------------------------------------------


def test_sveltos_registers_each_cluster_with_its_labels(bundled_plan: Any) -> None:
    plan = bundled_plan("buildspace")
    spec = parse_platform(platform_of("buildspace"), "buildspace")
    [cluster] = plan.by_type(SVELTOS_CLUSTER)
    inputs = cluster["inputs"]
    assert inputs["metadata"]["name"] == "city-services"
    assert inputs["metadata"]["labels"] == cluster_labels(spec, "city-services")
    # Its kubeconfig in <name>-sveltos-kubeconfig of its own namespace; the key said, not left to map order.
    assert inputs["spec"] == {"kubeconfigName": "city-services-sveltos-kubeconfig", "kubeconfigKeyName": "kubeconfig"}
    secret = plan.one(SECRET_TYPE, "city-services-sveltos-kubeconfig")
    assert secret["inputs"]["metadata"]["namespace"] == inputs["metadata"]["namespace"] == "meridian-clusters"
    assert secret["secret_paths"]
    release = plan.one(RELEASE, "processing-sveltos")
    assert release["inputs"]["namespace"] == "projectsveltos"
    restricted = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    job = {"resources": {"requests": {"cpu": "10m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}
    assert release["inputs"]["values"] == {
        # Agentless: Sveltos's agents run on the management cluster, nothing in the managed ones.
        "agent": {"managementCluster": True},
        "telemetry": {"disabled": True},
        "addonController": {
            "controller": {"resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}},
            "initialization": {"containerSecurityContext": restricted},
        },
        "crdManagerJob": {"crdManager": job},
        "registerMgmtClusterJob": {"registerMgmtCluster": job},
    }
    assert not plan.by_type(FLEET_CLUSTER)
    # The engine's objects on the management cluster: cluster-scoped ClusterProfiles named after the
    # project too, labelled as the management cluster's objects are.
    profile = plan.one(CLUSTER_PROFILE, "city-services-gpu-operator-clusterprofile")
    assert profile["inputs"]["metadata"] == {
        "name": "buildspace-city-services-gpu-operator",
        "labels": release_labels(plan, "processing-sveltos-namespace"),
    }


def release_labels(plan: Plan, namespace: str) -> dict[str, str]:
    """The project's labels of a Namespace the engine's component made (its Pod Security labels left out)."""
    labels = plan.one("kubernetes:core/v1:Namespace", namespace)["inputs"]["metadata"]["labels"]
    return {key: value for key, value in labels.items() if not key.startswith("pod-security.kubernetes.io/")}


# -- checks nobody here wrote -----------------------------------------------------------------------------


def test_fleet_and_sveltos_objects_validate_against_the_mirrors_crds(bundled_plan: Any) -> None:
    fleet = [dict(r["inputs"]) for r in (*bundled_plan("destine-extremes").by_type(FLEET_CLUSTER),
                                         *bundled_plan("destine-extremes").by_type(GITREPO))]  # fmt: skip
    sveltos = [dict(r["inputs"]) for r in bundled_plan("buildspace").by_type(SVELTOS_CLUSTER)]
    assert len(fleet) == 4 and len(sveltos) == 1
    assert validate_objects(fleet, "v1.34.0", "destine-extremes") == []
    assert validate_objects(sveltos, "v1.35.0", "buildspace") == []
    broken_repo = copy.deepcopy(next(o for o in fleet if o["kind"] == "GitRepo"))
    broken_repo["spec"]["targets"][0]["clusterSelector"] = {"matchLabels": "everything"}
    broken_cluster = copy.deepcopy(sveltos[0])
    broken_cluster["spec"]["kubeconfigName"] = 42
    problems = validate_objects([broken_repo, broken_cluster], "v1.35.0", "broken")
    assert [(p.kind, p.name) for p in problems] == [
        ("fleet.cattle.io/v1alpha1/GitRepo", broken_repo["metadata"]["name"]),
        ("lib.projectsveltos.io/v1beta1/SveltosCluster", "city-services"),
    ]


# -- bad input --------------------------------------------------------------------------------------------


def test_a_repo_reaching_no_cluster_warns_and_fails_in_strict_mode(tmp_path: Path) -> None:
    def nowhere(platform: dict[str, Any]) -> None:
        platform["gitops"]["repos"]["inference"]["clusters"] = {"meridian.io/site": "mars"}

    plan = edited(tmp_path, "destine-extremes", nowhere)
    expected = (
        "meridian:platform.gitops.repos.inference.clusters: selects no registered cluster (meridian.io/site=mars): "
        "the repo would reach nothing"
    )
    assert [w.split(": ", 1)[1] for w in plan.warnings] == [expected]
    assert plan.warnings[0].startswith(str(tmp_path / "Pulumi.destine-extremes.yaml"))
    with pytest.raises(SpecError, match=r"selects no registered cluster .* in strict mode"):
        edited(tmp_path, "destine-extremes", nowhere, strict=True)
    # The bundled stacks warn of nothing.
    for stack in ("destine-extremes", "buildspace"):
        assert evaluate(STACKS / f"Pulumi.{stack}.yaml").warnings == []


def test_a_review_shows_the_engine_arriving_and_whom_it_registers(tmp_path: Path, bundled_plan: Any) -> None:
    from test_diffreport import diagram, mermaid_parse

    from scripts.diff import diff_plans
    from scripts.diffreport import markdown

    def without(platform: dict[str, Any]) -> None:
        del platform["gitops"]
        platform["clusters"]["extremes-kajaani"]["addons"]["delivery"] = "direct"

    base, head = edited(tmp_path, "destine-extremes", without), bundled_plan("destine-extremes")
    report = markdown(diff_plans(base, head), base, head)
    creates = report[report.index("### To create") :]
    for name in (
        "extremes-kajaani-fleet-cluster",
        "postproc-fleet-cluster",
        "workflows-gitrepo",
        "extremes-bologna-fleet",
    ):
        assert f"`{name}`" in creates, name
    # The registrations open the engine's paths: the registered clusters' API allow-lists change (the
    # capi cluster's already admits Bologna, its management cluster).
    assert "`postproc-eks`" in report[report.index("### To update") :]
    text = diagram(report)
    assert mermaid_parse(text).returncode == 0
    arrows = [line for line in text.splitlines() if " -. fleet .-> " in line]
    assert len(arrows) == 2


# -- add-ons delivered by the engine ----------------------------------------------------------------------

HELMOP = "kubernetes:fleet.cattle.io/v1alpha1:HelmOp"
CLUSTER_PROFILE = "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile"


def _direct(tmp_path: Path, stack: str, cluster: str) -> Plan:
    """The stack with `cluster`'s add-ons delivered directly again."""

    def direct(platform: dict[str, Any]) -> None:
        platform["clusters"][cluster]["addons"]["delivery"] = "direct"

    return edited(tmp_path, stack, direct)


#: The releases the engine delivers on the bundled stacks' `delivery: gitops` clusters: the site
#: collector's two and the GPU Operator (README, "GitOps").
DELIVERED = ("alloy", "gpu-operator", "kube-prometheus-stack")


def _same_values_as_direct(engine_plan: Plan, direct_plan: Plan, cluster: str) -> list[str]:
    """Every engine object for `cluster` installs exactly the direct release's chart and values; their releases."""
    seen = []
    for helmop in engine_plan.by_type(HELMOP):
        if not helmop["name"].startswith(f"{cluster}-"):
            continue
        release = helmop["inputs"]["spec"]["helm"]["releaseName"]
        direct = direct_plan.one(RELEASE, f"{cluster}-{release}")
        helm = helmop["inputs"]["spec"]["helm"]
        assert helm["values"] == direct["inputs"]["values"], release
        assert (helm["chart"], helm["version"], helm["repo"], helm["releaseName"], helm["timeoutSeconds"]) == (
            direct["inputs"]["chart"], direct["inputs"]["version"], direct["inputs"]["repositoryOpts"]["repo"],
            direct["inputs"]["name"], direct["inputs"]["timeout"],
        )  # fmt: skip
        assert helmop["inputs"]["spec"]["defaultNamespace"] == direct["inputs"]["namespace"]
        assert helm["disablePreProcess"] is True  # Fleet's `${ }` templating would change them otherwise
        seen.append(release)
    for profile in engine_plan.by_type(CLUSTER_PROFILE):
        if not profile["name"].startswith(f"{cluster}-"):
            continue
        [chart] = profile["inputs"]["spec"]["helmCharts"]
        direct = direct_plan.one(RELEASE, f"{cluster}-{chart['releaseName']}")
        # JSON: YAML no parser re-types (Sveltos reads values with go-yaml v2, where `y` is a boolean);
        # its keys sorted, so the same values always read the same.
        assert chart["values"] == json.dumps(direct["inputs"]["values"], sort_keys=True), chart["releaseName"]
        assert chart["options"] == {
            "atomic": True, "wait": True, "timeout": f"{direct['inputs']['timeout']}s", "skipCRDs": False,
            "upgradeOptions": {"maxHistory": 10, "cleanupOnFail": True},
        }  # fmt: skip
        assert (chart["chartVersion"], chart["repositoryURL"], chart["releaseNamespace"], chart["releaseName"]) == (
            direct["inputs"]["version"],
            direct["inputs"]["repositoryOpts"]["repo"],
            direct["inputs"]["namespace"],
            direct["inputs"]["name"],
        )
        seen.append(chart["releaseName"])
    # Switched to direct, nothing of the cluster is left with the engine.
    assert not [r for r in direct_plan.by_type(HELMOP) + direct_plan.by_type(CLUSTER_PROFILE) if cluster in r["name"]]
    return sorted(seen)


def test_the_engine_installs_the_same_values_the_direct_release_would(tmp_path: Path, bundled_plan: Any) -> None:
    """One source of values per add-on: the release record, whichever way it is delivered."""
    (tmp_path / "a").mkdir()
    direct = _direct(tmp_path / "a", "destine-extremes", "extremes-kajaani")
    assert _same_values_as_direct(bundled_plan("destine-extremes"), direct, "extremes-kajaani") == list(DELIVERED)
    (tmp_path / "b").mkdir()
    direct = _direct(tmp_path / "b", "buildspace", "city-services")
    assert _same_values_as_direct(bundled_plan("buildspace"), direct, "city-services") == list(DELIVERED)


def _eo4eu_by_engine(engine: str) -> Callable[[dict[str, Any]], None]:
    """eo4eu with `engine` on `core`, and `burst` (eks: External Secrets, ingress, hub, collector, GPUs) by it."""

    def edit(platform: dict[str, Any]) -> None:
        platform["gitops"] = {"engine": engine, "management_cluster": "core"}
        platform["clusters"]["burst"]["addons"]["delivery"] = "gitops"

    return edit


@pytest.mark.parametrize("engine", ["fleet", "sveltos"])
def test_every_add_on_the_engine_delivers_has_the_direct_values(tmp_path: Path, engine: str) -> None:
    """External Secrets and the ingress too, whose values hold addresses known only at deployment."""
    from components.spec.gitops import engine_delivered

    (tmp_path / "engine").mkdir()
    engine_plan = edited(tmp_path / "engine", "eo4eu", _eo4eu_by_engine(engine))
    (tmp_path / "direct").mkdir()
    direct = edited(tmp_path / "direct", "eo4eu", lambda platform: None)
    delivered = _same_values_as_direct(engine_plan, direct, "burst")
    assert delivered == [
        "alloy", "cert-manager", "external-secrets", "gpu-operator", "kube-prometheus-stack", "traefik",
    ]  # fmt: skip
    spec = parse_platform(
        yaml.safe_load((tmp_path / "engine" / "Pulumi.eo4eu.yaml").read_text())["config"]["meridian:platform"], "eo4eu"
    )
    assert engine_delivered(spec, "burst") == ["external_secrets", "ingress", "observability", "gpu_operator"]
    # The central cluster's own add-ons stay direct whatever the engine.
    assert not [
        r for r in engine_plan.by_type(RELEASE) if r["name"].startswith("burst-") and "jupyterhub" not in r["name"]
    ]
    # What needs a delivered chart's kinds and webhooks waits for the engine to have installed it.
    waits = {
        r["name"]: r["urn"] for r in engine_plan.by_type("command:local:Command") if r["name"].startswith("burst-")
    }
    store = engine_plan.one("kubernetes:external-secrets.io/v1:ClusterSecretStore", "burst-vault-store")
    assert waits["burst-external-secrets-delivered"] in store["depends_on"]
    issuer = engine_plan.one("kubernetes:cert-manager.io/v1:ClusterIssuer", "burst-letsencrypt-production")
    assert waits["burst-cert-manager-delivered"] in issuer["depends_on"]
    # The hub waits for the ingress: for the engine's Traefik and cert-manager (a component's
    # dependency reaches its children).
    hub = engine_plan.one(RELEASE, "burst-jupyterhub")
    assert {waits["burst-traefik-delivered"], waits["burst-cert-manager-delivered"]} <= set(hub["depends_on"])


def test_the_engines_object_selects_the_gpu_clusters_of_its_value_set(bundled_plan: Any) -> None:
    plan = bundled_plan("destine-extremes")
    spec = parse_platform(platform_of("destine-extremes"), "destine-extremes")
    helmop = plan.one(HELMOP, "extremes-kajaani-gpu-operator-helmop")
    # Named after its cluster and release, never after its values: a values change updates it in place.
    assert helmop["inputs"]["metadata"]["name"] == "extremes-kajaani-gpu-operator"
    [target] = helmop["inputs"]["spec"]["targets"]
    selector = target["clusterSelector"]
    assert selector == {
        "matchLabels": {"meridian.io/gpu": "true"},
        "matchExpressions": [{"key": "meridian.io/cluster", "operator": "In", "values": ["extremes-kajaani"]}],
    }
    labels = cluster_labels(spec, "extremes-kajaani")
    assert all(labels[key] == value for key, value in selector["matchLabels"].items())
    # Not installed directly any more; what the chart reads exists on the cluster first.
    assert not [r for r in plan.by_type(RELEASE) if r["name"] == "extremes-kajaani-gpu-operator"]
    config = plan.one("kubernetes:core/v1:ConfigMap", "extremes-kajaani-gpu-operator-mig-parted")
    namespace = plan.one("kubernetes:core/v1:Namespace", "extremes-kajaani-gpu-operator")
    assert config["urn"] in helmop["depends_on"] and namespace["urn"] in helmop["depends_on"]
    profile = bundled_plan("buildspace").one(CLUSTER_PROFILE, "city-services-gpu-operator-clusterprofile")
    assert (
        bundled_plan("buildspace").one("kubernetes:core/v1:Namespace", "city-services-gpu-operator")["urn"]
        in (profile["depends_on"])
    )
    # The other GPU clusters keep their direct releases.
    assert plan.one(RELEASE, "postproc-gpu-operator")
    # The collector goes to every observed cluster of the engine: it selects the cluster by name alone,
    # after its namespace, the push credentials and CA it reads, and the cluster's registration.
    collector = plan.one(HELMOP, "extremes-kajaani-kube-prometheus-stack-helmop")
    assert collector["inputs"]["spec"]["targets"] == [
        {
            "name": "extremes-kajaani-kube-prometheus-stack",
            "clusterSelector": {
                "matchLabels": {},
                "matchExpressions": [{"key": "meridian.io/cluster", "operator": "In", "values": ["extremes-kajaani"]}],
            },
        }
    ]
    for kind, name in (
        ("kubernetes:core/v1:Namespace", "extremes-kajaani-monitoring"),
        ("kubernetes:core/v1:Secret", "extremes-kajaani-push-credentials"),
        ("kubernetes:core/v1:ConfigMap", "extremes-kajaani-push-ca"),
        ("kubernetes:fleet.cattle.io/v1alpha1:Cluster", "extremes-kajaani-fleet-cluster"),
    ):
        assert plan.one(kind, name)["urn"] in collector["depends_on"], name
    logs = plan.one(HELMOP, "extremes-kajaani-alloy-helmop")
    assert plan.one("kubernetes:core/v1:Namespace", "extremes-kajaani-node-agents")["urn"] in logs["depends_on"]
    assert logs["inputs"]["spec"]["defaultNamespace"] == "node-agents"


def test_the_engines_objects_validate_against_the_mirrors_crds(bundled_plan: Any) -> None:
    helmop = dict(bundled_plan("destine-extremes").one(HELMOP, "extremes-kajaani-gpu-operator-helmop")["inputs"])
    profile = dict(bundled_plan("buildspace").one(CLUSTER_PROFILE, "city-services-alloy-clusterprofile")["inputs"])
    assert validate_objects([helmop], "v1.34.0", "destine-extremes") == []
    assert validate_objects([profile], "v1.35.0", "buildspace") == []
    broken_op, broken_profile = copy.deepcopy(helmop), copy.deepcopy(profile)
    broken_op["spec"]["helm"]["timeoutSeconds"] = "soon"
    broken_profile["spec"]["helmCharts"][0]["helmChartAction"] = "Reinstall"
    problems = validate_objects([broken_op, broken_profile], "v1.35.0", "broken")
    assert [p.kind for p in problems] == [
        "fleet.cattle.io/v1alpha1/HelmOp",
        "config.projectsveltos.io/v1beta1/ClusterProfile",
    ]


def test_a_review_shows_a_chart_moving_from_direct_to_the_engine(tmp_path: Path, bundled_plan: Any) -> None:
    from scripts.diff import diff_plans
    from scripts.diffreport import markdown

    base, head = _direct(tmp_path, "destine-extremes", "extremes-kajaani"), bundled_plan("destine-extremes")
    result = diff_plans(base, head)
    moves = {(c.operation, c.type, c.name) for c in result.changes if "gpu-operator" in c.name}
    assert ("delete", RELEASE, "extremes-kajaani-gpu-operator") in moves
    assert ("create", HELMOP, "extremes-kajaani-gpu-operator-helmop") in moves
    report = markdown(result, base, head)
    assert "`extremes-kajaani-gpu-operator`" in report[report.index("### To delete") :]
    # Loud: the deletion would uninstall what the engine now manages (README, the two-step switch).
    moved = sorted(line for line in report.splitlines() if "**moved to GitOps**" in line)
    assert moved == [
        f"> - **moved to GitOps** `kubernetes:helm.sh/v3:Release` `extremes-kajaani-{release}`: deleting it "
        "uninstalls the release the engine takes over; `pulumi state delete` it before this `pulumi up` "
        f"(`{base.one(RELEASE, f'extremes-kajaani-{release}')['urn']}`)"
        for release in ("alloy", "gpu-operator", "kube-prometheus-stack")
    ]


def test_a_values_change_updates_the_engines_object_in_place(tmp_path: Path, bundled_plan: Any) -> None:
    """A renamed object would be created beside the old one, whose deletion uninstalls the release."""
    from scripts.diff import diff_plans

    def relayout(platform: dict[str, Any]) -> None:
        pool = platform["clusters"]["extremes-kajaani"]["node_pools"]["a100"]
        pool["gpu"]["mig"] = {"strategy": "single", "profile": "all-1g.5gb"}

    base, head = bundled_plan("destine-extremes"), edited(tmp_path, "destine-extremes", relayout)
    changes = [c for c in diff_plans(base, head).changes if c.type == HELMOP]
    assert [(c.operation, c.name) for c in changes] == [("update", "extremes-kajaani-gpu-operator-helmop")]
    assert any(p.path.startswith("spec.helm.values.migManager") for p in changes[0].changes)


def test_values_an_engine_would_rewrite_are_refused() -> None:
    from components.addons.base import GitOpsRelease, chart_release
    from components.gitops import cluster_profile_document, helmop_document

    def item(values: dict[str, Any]) -> GitOpsRelease:
        return GitOpsRelease("c", chart_release("c-x", "gpu-operator", namespace="n", values=values), {})

    with pytest.raises(ValueError, match="Fleet would replace"):
        helmop_document("c-x", item({"a": ["global.fleet.clusterLabels.site"]}), {})
    with pytest.raises(ValueError, match="Sveltos would read as a template"):
        cluster_profile_document("p-c-x", item({"a": {"b": "{{ .Cluster }}"}}), {})


def test_plain_values_make_a_plain_cluster_profile() -> None:
    """Values known before deployment are written as JSON at once, outside a Pulumi run too (the policy tests')."""
    from components.addons.base import GitOpsRelease, chart_release
    from components.gitops import cluster_profile_document

    release = chart_release("c-x", "gpu-operator", namespace="n", values={"b": "n", "a": [1, True]})
    document = cluster_profile_document("p-c-x", GitOpsRelease("c", release, {}), {})
    assert document["spec"]["helmCharts"][0]["values"] == '{"a": [1, true], "b": "n"}'


def test_gitops_delivery_on_a_cluster_with_nothing_to_deliver_warns(tmp_path: Path) -> None:
    def nothing(platform: dict[str, Any]) -> None:
        # kajaani, unobserved and without GPUs, runs nothing the engine delivers (no hub, no Vault
        # in clusters in this project).
        kajaani = platform["clusters"]["extremes-kajaani"]
        del kajaani["node_pools"]["a100"]
        kajaani["addons"]["observability"] = {"enabled": False}

    plan = edited(tmp_path, "destine-extremes", nothing)
    assert [w.split(": ", 2)[1] for w in plan.warnings] == [
        "meridian:platform.clusters.extremes-kajaani.addons.delivery"
    ]
    assert plan.warnings[0].split(": ", 2)[2] == (
        "nothing on this cluster is delivered by GitOps (today: External Secrets, the ingress, the site collector "
        "and the GPU Operator Meridian installs, where they apply): its add-ons stay direct"
    )
    assert not plan.by_type(HELMOP)


@pytest.mark.cli
def test_the_plan_command_shows_the_warning_and_strict_refuses(tmp_path: Path) -> None:
    from test_cli import BAD_INPUT, meridian

    def nowhere(platform: dict[str, Any]) -> None:
        platform["gitops"]["repos"]["inference"]["clusters"] = {"meridian.io/site": "mars"}

    path = write_edited(tmp_path, "destine-extremes", nowhere)
    where = "meridian:platform.gitops.repos.inference.clusters: selects no registered cluster"
    done = meridian("plan", str(path))
    assert done.returncode == 0 and f"warning: {path}: {where}" in done.stderr
    strict = meridian("plan", str(path), "--strict")
    assert strict.returncode == BAD_INPUT and f"error: {path}: {where}" in strict.stderr
    assert "(an error in strict mode)" in strict.stderr and "Traceback" not in strict.stderr


def test_values_known_only_at_deployment_are_found_anywhere() -> None:
    """An Output deep in the values (the ingress's address) makes Pulumi write the ClusterProfile's JSON."""
    from components.gitops import _has_outputs

    address = MagicMock(spec=pulumi.Output)
    assert _has_outputs({"service": {"annotations": {"ip": address}}})
    assert _has_outputs({"ports": [{"a": 1}, address]})
    assert _has_outputs((address,))
    assert not _has_outputs({"service": {"annotations": {"ip": "192.0.2.1"}, "ports": [1, "2"]}})


def test_a_cluster_profile_name_fits_a_label_value() -> None:
    """Sveltos copies the profile's name into a label of its ClusterSummaries (63 characters at most)."""
    from components.gitops import profile_name

    assert profile_name("buildspace", "city-services-alloy") == "buildspace-city-services-alloy"
    exact = "p" * 30 + "-" + "c" * 32  # 63 characters: kept as it is
    assert profile_name("p" * 30, "c" * 32) == exact and len(exact) == 63
    long = profile_name("destine-extremes-research", "extremes-kajaani-kube-prometheus-stack")
    assert len(long) == 63
    # Cut at 54 characters (a trailing dash dropped), then a digest of the whole name.
    assert long.startswith("destine-extremes-research-extremes-kajaani-kube-promet-")
    assert long != profile_name("destine-extremes-research", "extremes-kajaani-kube-prometheus-stacks")
    assert long == profile_name("destine-extremes-research", "extremes-kajaani-kube-prometheus-stack")
    # A cut that ends in a dash drops it: no double dash before the digest.
    dashed = profile_name("p" * 12, "c" * 40 + "-" + "r" * 30)
    full = "p" * 12 + "-" + "c" * 40 + "-" + "r" * 30
    assert dashed == "p" * 12 + "-" + "c" * 40 + "-" + hashlib.sha256(full.encode()).hexdigest()[:8]


def test_the_engines_objects_on_a_cluster_carry_that_clusters_labels(bundled_plan: Any) -> None:
    plan = bundled_plan("destine-extremes")
    for kind, name in (
        ("kubernetes:core/v1:ServiceAccount", "extremes-kajaani-fleet-identity"),
        ("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "extremes-kajaani-fleet-identity"),
        ("kubernetes:core/v1:Secret", "extremes-kajaani-fleet-identity-token"),
        ("kubernetes:core/v1:Namespace", "extremes-kajaani-fleet-agent-namespace"),
    ):
        labels = plan.one(kind, name)["inputs"]["metadata"]["labels"]
        assert (labels["cluster"], labels["site"]) == ("extremes-kajaani", "lumi-kajaani"), (name, labels)


def test_the_engines_own_objects_live_in_its_workspace_with_the_management_clusters_labels(bundled_plan: Any) -> None:
    """GitRepos and HelmOps sit in Fleet's workspace (fleet-default: the namespace Fleet reads
    them from for downstream clusters) on the management cluster, labelled as its resources are."""
    plan = bundled_plan("destine-extremes")
    bologna = plan.one("kubernetes:core/v1:Namespace", "extremes-bologna-fleet-namespace")["inputs"]["metadata"]
    # The project's labels on the management cluster's resources (the Namespace adds Pod Security's).
    expected = {k: v for k, v in bologna["labels"].items() if not k.startswith("pod-security.kubernetes.io/")}
    assert (expected["cluster"], expected["site"]) == ("extremes-bologna", "ewc-bologna")
    objects = [*plan.by_type(GITREPO), *plan.by_type(HELMOP)]
    assert len(objects) >= 5
    for found in objects:
        metadata = found["inputs"]["metadata"]
        suffix = "-gitrepo" if found["type"] == GITREPO else "-helmop"
        name = found["name"].removesuffix(suffix)
        assert metadata == {"name": name, "namespace": "fleet-default", "labels": expected}


def test_a_helmop_that_would_skip_crds_is_refused_by_name() -> None:
    from components.addons.base import GitOpsRelease, chart_release
    from components.gitops import helmop_document

    release = chart_release("c-x", "gpu-operator", namespace="n", values={}, skip_crds=True)
    with pytest.raises(ValueError) as refused:
        helmop_document("c-x", GitOpsRelease("c", release, {}), {})
    assert str(refused.value) == f"{release.resource}: a HelmOp cannot skip its chart's CRDs"


def test_the_engines_objects_ask_helm_what_direct_delivery_asks(bundled_plan: Any) -> None:
    """Atomic installs, ten revisions kept, the release's own timeout: HelmOps (destine-extremes) and
    ClusterProfiles (buildspace) as the direct Releases (Fleet's manager among them) have them."""
    plan = bundled_plan("destine-extremes")
    manager = plan.one(RELEASE, "extremes-bologna-fleet")["inputs"]
    assert (manager["atomic"], manager["cleanupOnFail"], manager["maxHistory"], manager["timeout"]) == (
        True,
        True,
        10,
        900,
    )
    for helmop in plan.by_type(HELMOP):
        helm = helmop["inputs"]["spec"]["helm"]
        assert (helm["atomic"], helm["maxHistory"]) == (True, 10), helmop["name"]
        assert helm["timeoutSeconds"] >= 900, helmop["name"]
    for profile in bundled_plan("buildspace").by_type(CLUSTER_PROFILE):
        options = profile["inputs"]["spec"]["helmCharts"][0]["options"]
        assert options["atomic"] is True and options["wait"] is True, profile["name"]
        assert options["upgradeOptions"] == {"maxHistory": 10, "cleanupOnFail": True}, profile["name"]


def test_a_repo_path_that_names_a_bundle_after_a_delivered_cluster_is_refused() -> None:
    """Fleet names a repo's bundles `<repo>-<path>` beside the add-ons' HelmOps `<cluster>-<release>`
    (fleet v0.16.1 refuses a HelmOp whose name a repo's bundle holds): the path counts, not only the name."""
    platform = copy.deepcopy(platform_of("destine-extremes"))
    repos = platform["gitops"]["repos"]
    # extremes-bologna runs the engine and takes its add-ons directly: a bundle named after it is harmless.
    repos["extremes"] = {"url": "https://gitlab.destine-x.eu/extremes/apps.git", "paths": ["bologna/apps"]}
    parse_platform(platform, "destine-extremes")
    # extremes-kajaani's add-ons come by Fleet, as `extremes-kajaani-<release>`.
    repos["extremes"]["paths"] = ["bologna/apps", "Kajaani/gpu-operator"]
    with pytest.raises(SpecError) as raised:
        parse_platform(platform, "destine-extremes")
    assert str(raised.value).endswith(
        "meridian:platform.gitops.repos.extremes: Fleet names a bundle of this repo 'extremes-kajaani-gpu-operator', "
        "and the add-ons it delivers to cluster 'extremes-kajaani' 'extremes-kajaani-<release>', in the same "
        "namespace: a bundle named after that cluster can take an add-on's name, which Fleet then refuses; choose "
        "another name or path"
    )
