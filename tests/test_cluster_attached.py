"""The attached backend: a cluster the project uses but does not own creates nothing but its Kubernetes provider.

Two attached clusters are planned once, with secrets revealed: `hpc` on the OpenStack site,
its kubeconfig in a secure stack config key, and `bridge` on the AWS site, its kubeconfig in
Vault. Offline, both resolve to marked placeholders, which must reach the provider as
secrets and never appear in the plan document.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PlanCache

from components.spec import SpecError
from scripts.harness import SECRET, STACK_TYPE, Plan, PlanRecorder, evaluate, offline_vault_field
from scripts.mocks import MeridianMocks
from scripts.stackfile import OFFLINE_SECRET

KUBERNETES_CLUSTER = "meridian:clusters:KubernetesCluster"
K8S_PROVIDER = "pulumi:providers:kubernetes"
CONFIG_KEY = "meridian:hpcKubeconfig"
CIPHERTEXT = "v1:AAAAAAAAAAAAAAAAaGVsbG8tb2ZmbGluZQ=="
VAULT = ("kv", "testproj/bridge", "kubeconfig")
CLUSTERS: dict[str, dict[str, Any]] = {
    "hpc": {"site": "os-a", "backend": "attached", "version": "1.31", "kubeconfig": "config:hpcKubeconfig"},
    "bridge": {
        "site": "aws-b",
        "backend": "attached",
        "version": "1.33",
        "kubeconfig": f"vault:{VAULT[0]}/{VAULT[1]}#{VAULT[2]}",
    },
}
EXPECTED_KUBECONFIG = {
    "hpc": OFFLINE_SECRET.format(key=CONFIG_KEY),
    "bridge": offline_vault_field(*VAULT),
}


def _with_clusters(platform: dict[str, Any], clusters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    platform = copy.deepcopy(platform)
    platform["clusters"] = copy.deepcopy(clusters)
    return platform


_PLANS: dict[str, Plan] = PlanCache()


@pytest.fixture
def plans(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> dict[str, Plan]:
    """`attached` (both clusters, secrets revealed) and `bare` (the same platform without clusters), once each."""
    if not _PLANS:
        _PLANS["attached"] = plan_of(
            _with_clusters(base_platform, CLUSTERS), reveal_secrets=True, **{CONFIG_KEY: {"secure": CIPHERTEXT}}
        )
        _PLANS["bare"] = plan_of(base_platform, **{CONFIG_KEY: {"secure": CIPHERTEXT}})
    return _PLANS


def _descendants(plan: Plan, urn: str) -> list[dict[str, Any]]:
    found = []
    for child in plan.children(urn):
        found += [child, *_descendants(plan, child["urn"])]
    return found


@pytest.mark.parametrize("cluster", sorted(CLUSTERS))
def test_only_the_kubernetes_provider_is_created(plans: dict[str, Plan], cluster: str) -> None:
    plan = plans["attached"]
    component = plan.one(KUBERNETES_CLUSTER, cluster)
    assert component["parent"] == plan.one("meridian:index:Platform", "testproj")["urn"]
    assert [(r["type"], r["name"]) for r in _descendants(plan, component["urn"])] == [(K8S_PROVIDER, f"{cluster}-k8s")]


def test_attaching_adds_nothing_anywhere_else(plans: dict[str, Plan]) -> None:
    attached, bare = plans["attached"], plans["bare"]
    cluster_urns = {
        r["urn"]
        for name in CLUSTERS
        for r in [
            attached.one(KUBERNETES_CLUSTER, name),
            *_descendants(attached, attached.one(KUBERNETES_CLUSTER, name)["urn"]),
        ]
    }
    assert len(cluster_urns) == 2 * len(CLUSTERS)
    # Same stack name ("test"), so the URNs of everything else must be exactly the bare platform's.
    assert {r["urn"] for r in attached.resources} - cluster_urns == {r["urn"] for r in bare.resources}


@pytest.mark.parametrize("cluster", sorted(CLUSTERS))
def test_kubeconfig_is_a_secret_input_of_the_provider(plans: dict[str, Plan], cluster: str) -> None:
    plan = plans["attached"]
    provider = plan.one(K8S_PROVIDER, f"{cluster}-k8s")
    assert provider["inputs"]["kubeconfig"] == SECRET
    assert provider["secret_paths"] == ["kubeconfig"]
    assert plan.revealed[provider["urn"]]["kubeconfig"] == EXPECTED_KUBECONFIG[cluster]
    assert plan.outputs["kubeconfigs"][cluster] == SECRET


def test_placeholders_and_ciphertext_never_reach_the_plan_document(plans: dict[str, Plan]) -> None:
    document = json.dumps(plans["attached"].to_json())
    assert "offline placeholder" not in document
    assert CIPHERTEXT not in document
    assert plans["attached"].outputs["clusters"] == {
        name: {"site": c["site"], "backend": "attached", "version": c["version"]} for name, c in CLUSTERS.items()
    }


def _evaluate_failing(path: Path) -> tuple[SpecError, PlanRecorder]:
    recorder = PlanRecorder(MeridianMocks())
    with pytest.raises(SpecError) as caught:
        evaluate(path, recorder=recorder)
    return caught.value, recorder


def test_a_plain_config_key_is_a_spec_error(write_stack: Callable[..., Path], base_platform: dict[str, Any]) -> None:
    plain = "apiVersion: v1\nclusters: [{name: hpc, cluster: {server: https://hpc.example.org}}]"
    path = write_stack(_with_clusters(base_platform, {"hpc": CLUSTERS["hpc"]}), **{CONFIG_KEY: plain})
    error, recorder = _evaluate_failing(path)
    assert error.problems == [
        (
            "meridian:platform.clusters.hpc.kubeconfig",
            f"config:hpcKubeconfig: config key {CONFIG_KEY} is not a secret: "
            f"set it with `pulumi config set --secret {CONFIG_KEY}`",
        )
    ]
    assert "hpc.example.org" not in str(error)
    assert {r["type"] for r in recorder.records} == {STACK_TYPE}


def test_a_missing_config_key_is_a_spec_error(write_stack: Callable[..., Path], base_platform: dict[str, Any]) -> None:
    path = write_stack(_with_clusters(base_platform, {"hpc": CLUSTERS["hpc"]}))
    error, recorder = _evaluate_failing(path)
    assert [path for path, _ in error.problems] == ["meridian:platform.clusters.hpc.kubeconfig"]
    assert f"config key {CONFIG_KEY} is not set" in str(error)
    assert {r["type"] for r in recorder.records} == {STACK_TYPE}
