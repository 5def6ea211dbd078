"""Vault write-back: the credentials the platform generates, as Vault provider resources `pulumi up` writes.

eo4eu opts in (`vault.write_back`). Expected values come from the stack file and from
what the plan's other resources generated (the revealed plan), never from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from conftest import load_platform

from scripts.harness import STACKS, Plan, evaluate

SECRET_V2 = "vault:kv/secretV2:SecretV2"


def platform_of(stack: str) -> dict[str, Any]:
    return load_platform(STACKS / f"Pulumi.{stack}.yaml")


def test_every_generated_credential_is_a_kv_secret_through_the_explicit_provider(
    bundled_plan: Callable[[str], Plan],
) -> None:
    plan = bundled_plan("eo4eu")
    write_back = platform_of("eo4eu")["vault"]["write_back"]
    assert write_back == {"mount": "kv", "path": "eo4eu/meridian"}
    (provider,) = plan.by_type("pulumi:providers:vault")
    # The same JWT role as the references; the token comes from TERRAFORM_VAULT_AUTH_JWT at `pulumi up`
    # (terraform-provider-vault auth_jwt.go), never from the program: nothing secret in provider inputs.
    # (A provider's object-valued configuration travels JSON-encoded, as the engine passes it.)
    assert json.loads(provider["inputs"]["authLoginJwt"]) == {"role": "eo4eu-deploy", "mount": "gitlab"}
    assert provider["inputs"]["skipTlsVerify"] in (False, "false")
    # Its child token outlives a first `up` (terraform-provider-vault's default is 1200 s).
    assert provider["inputs"]["maxLeaseTtlSeconds"] in (7200, "7200")
    assert "token" not in provider["inputs"] and "namespace" not in provider["inputs"]
    secrets = {r["name"]: r for r in plan.by_type(SECRET_V2)}
    # Every cluster Meridian builds (an attached one's kubeconfig would have come from a reference), the
    # hub, and Grafana's admin.
    clusters = platform_of("eo4eu")["clusters"]
    built = sorted(name for name, cluster in clusters.items() if cluster["backend"] != "attached")
    hubs = sorted(name for name, cluster in clusters.items() if cluster.get("addons", {}).get("jupyterhub"))
    assert hubs == ["burst", "core"]
    assert sorted(secrets) == sorted(
        [f"eo4eu-kubeconfig-{name}" for name in built]
        + [f"eo4eu-jupyterhub-{name}" for name in hubs]
        + ["eo4eu-grafana"]
    )
    for name, resource in secrets.items():
        inputs = resource["inputs"]
        assert resource["provider"].startswith(provider["urn"] + "::")
        assert inputs["mount"] == "kv" and inputs["name"].startswith("eo4eu/meridian/")
        assert inputs["dataJson"] == "[secret]" and "dataJson" in resource["secret_paths"], name
        assert inputs["deleteAllVersions"] is True
    assert secrets["eo4eu-kubeconfig-core"]["inputs"]["name"] == ("eo4eu/meridian/clusters/core/kubeconfig")
    # One write-back component under the Platform holds them all (its type is what `pulumi stack`
    # shows and what aliases would have to follow).
    (component,) = plan.by_type("meridian:index:VaultWriteBack")
    (platform,) = plan.by_type("meridian:index:Platform")
    assert component["parent"] == platform["urn"]
    assert {resource["parent"] for resource in secrets.values()} == {component["urn"]}
    # The component's output lists every path written (what `pulumi stack output` and a review show).
    outputs = plan.component_outputs[component["urn"]]
    assert list(outputs) == ["paths"]
    assert sorted(outputs["paths"]) == sorted(resource["inputs"]["name"] for resource in secrets.values())
    assert len(outputs["paths"]) == len(secrets)
    assert secrets["eo4eu-grafana"]["inputs"]["name"] == "eo4eu/meridian/observability/grafana"


def test_the_written_values_are_the_generated_ones() -> None:
    plan = evaluate("eo4eu", reveal_secrets=True)
    raw = {r["name"]: plan.revealed[r["urn"]]["dataJson"] for r in plan.by_type(SECRET_V2)}
    written = {name: json.loads(text) for name, text in raw.items()}
    # Keys in sorted order: the same data is the same text, so a preview shows no change.
    assert all(text == json.dumps(written[name], sort_keys=True) for name, text in raw.items())
    assert list(written["eo4eu-grafana"]) == ["admin-password", "admin-user"]
    # The admin kubeconfig each cluster's own Kubernetes provider uses.
    providers = plan.by_type("pulumi:providers:kubernetes")
    assert sorted(p["name"] for p in providers) == ["burst-k8s", "core-k8s"]
    for provider in providers:
        cluster = provider["name"].removesuffix("-k8s")
        document = written[f"eo4eu-kubeconfig-{cluster}"]
        assert document == {"kubeconfig": plan.revealed[provider["urn"]]["kubeconfig"]}
        assert yaml.safe_load(document["kubeconfig"])["kind"] == "Config"
    # Grafana's admin: the generated password its Secret holds.
    grafana = plan.one("kubernetes:core/v1:Secret", "core-grafana-secrets")
    assert written["eo4eu-grafana"] == {
        "admin-user": "admin",
        "admin-password": plan.revealed[grafana["urn"]]["stringData"]["admin-password"],
    }
    # The hub's generated secrets, not the OAuth client secret (that came from a reference).
    for cluster in ("core", "burst"):
        hub = written[f"eo4eu-jupyterhub-{cluster}"]
        assert sorted(hub) == ["cookie-secret", "crypt-key", "metrics-token"]
        assert all(len(value) == 64 and int(value, 16) >= 0 for value in hub.values())


def test_a_stack_without_write_back_has_no_vault_provider(bundled_plan: Callable[[str], Plan]) -> None:
    assert platform_of("destine-extremes")["vault"].get("write_back") is None
    plan = bundled_plan("destine-extremes")
    assert plan.by_type("pulumi:providers:vault") == [] and plan.by_type(SECRET_V2) == []


def test_the_vault_provider_takes_the_spec_namespace_and_its_tls_consent() -> None:
    """provider_args: the namespace only when the spec names one; skip_tls_verify pinned false unless allowed."""
    from components.spec.vault import VaultSpec
    from components.vaultside import CHILD_TOKEN_SECONDS, provider_args

    write_back = {"mount": "kv", "path": "p/meridian"}
    plain = provider_args(VaultSpec.model_validate({"write_back": write_back}))
    assert plain == {"max_lease_ttl_seconds": CHILD_TOKEN_SECONDS, "skip_tls_verify": False}
    scoped = VaultSpec.model_validate(
        {"write_back": write_back, "namespace": "ecmwf/eo4eu", "tls": {"allow_skip_verify": True}}
    )
    assert provider_args(scoped) == {"max_lease_ttl_seconds": CHILD_TOKEN_SECONDS, "namespace": "ecmwf/eo4eu"}
    assert CHILD_TOKEN_SECONDS == 7200


def test_the_vault_project_sits_under_the_platform_and_is_found_only_there(
    bundled_plan: Callable[[str], Plan],
) -> None:
    import pytest

    from components.vaultside import vault_project

    plan = bundled_plan("eo4eu")
    (project,) = plan.by_type("meridian:index:VaultProject")
    (platform,) = plan.by_type("meridian:index:Platform")
    assert project["name"] == "eo4eu-vault" and project["parent"] == platform["urn"]
    (provider,) = plan.by_type("pulumi:providers:vault")
    assert provider["name"] == "eo4eu-vault" and provider["parent"] == project["urn"]
    # eo4eu's clusters read Vault at run time: the policy every cluster's role holds, through the provider.
    policy = plan.one("vault:index/policy:Policy", "eo4eu-runtime-read")
    assert policy["inputs"]["name"] == "meridian-eo4eu-runtime-read" and policy["parent"] == project["urn"]
    assert policy["provider"].startswith(provider["urn"] + "::")
    # The whole HCL the plan sends: read on the project's runtime prefix (KV v2 data), nothing more.
    assert policy["inputs"]["policy"] == (
        "# Meridian: what the clusters of eo4eu read at run time (External Secrets Operator).\n"
        'path "kv/data/eo4eu/runtime/*" {\n'
        '  capabilities = ["read"]\n'
        "}\n"
    )
    message = r"^the Vault provider is built by the Platform for every stack that writes to Vault$"
    with pytest.raises(ValueError, match=message):
        vault_project({})
