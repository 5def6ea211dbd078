"""The JupyterHub add-on: profiles from the pools, authenticator, culler, TLS, quota, secrets.

Plans come from the one offline harness (`bundled_plan`, `plan_of`); values are parsed back
and compared with what zero-to-jupyterhub 4.4.0 and the programs in its hub image read
(jupyterhub 5.5.0, kubespawner 7.0.0, oauthenticator 17.4.0, jupyterhub-idle-culler 1.4.0;
z2jh images/hub/requirements.txt). Expected values are worked out from the stack files and
those upstream facts, never taken from the code under test.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import load_platform
from helm_values import unknown_keys

from components.spec import parse_platform
from scripts.harness import STACKS, Plan, offline_vault_field
from scripts.upstream import chart_dir

SPECS = Path(__file__).parent / "specs"
HUB_STACK: dict[str, Any] = yaml.safe_load((SPECS / "hub.happy.yaml").read_text())["config"]["meridian:platform"]
VALUES_YAML = chart_dir("jupyterhub") / "values.yaml"

HUB = "meridian:addons:JupyterHub"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
QUOTA = "kubernetes:core/v1:ResourceQuota"
NAMESPACE = "kubernetes:core/v1:Namespace"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
#: The GPU taint every GPU pool carries (components/spec/clusters.py GPU_TAINT), tolerated exactly.
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}


def hub_values(plan: Plan, name: str) -> dict[str, Any]:
    values: dict[str, Any] = plan.one(RELEASE, name)["inputs"]["values"]
    return values


def profiles_by_slug(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["slug"]: entry for entry in values["singleuser"]["profileList"]}


def walk_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in (str(key), *walk_keys(item))]
    if isinstance(value, list):
        return [k for item in value for k in walk_keys(item)]
    return []


# -- buildspace: the bundled hub ----------------------------------------------------------------------


def test_buildspace_profiles_map_to_its_time_sliced_a30_pool(bundled_plan: Callable[[str], Plan]) -> None:
    values = hub_values(bundled_plan("buildspace"), "processing-jupyterhub")
    profiles = profiles_by_slug(values)
    assert list(profiles) == ["small", "a30-share"]
    small, share = profiles["small"], profiles["a30-share"]
    assert small["default"] is True and "default" not in share
    # CPUs are floats and memory a ByteSpecification with a K/M/G/T suffix (jupyterhub 5.5.0
    # traitlets.py: "8G" is 8 GiB; "8Gi" is refused). Limits default to the guarantees.
    assert small["kubespawner_override"] == {
        "cpu_guarantee": 2.0,
        "cpu_limit": 2.0,
        "mem_guarantee": "8G",
        "mem_limit": "8G",
    }
    override = share["kubespawner_override"]
    # Time-slicing keeps the resource name nvidia.com/gpu: one share is one nvidia.com/gpu
    # (GPU Operator time-slicing, renameByDefault false).
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert override["node_selector"] == {"meridian.io/pool": "a30"}
    assert override["tolerations"] == [GPU_TOLERATION]
    assert override["image"] == "quay.io/jupyter/pytorch-notebook:cuda12-2025-11-03"
    assert (override["cpu_guarantee"], override["mem_limit"]) == (4.0, "16G")
    # KubeSpawner sets overrides by trait name (kubespawner 7.0.0 spawner.py _apply_overrides):
    # a camelCase key would be a silently ignored attribute.
    assert not [k for k in walk_keys(values["singleuser"]["profileList"]) if k in ("nodeSelector", "extraResource")]


def test_buildspace_authenticator_is_the_projects_keycloak(bundled_plan: Callable[[str], Plan]) -> None:
    config = hub_values(bundled_plan("buildspace"), "processing-jupyterhub")["hub"]["config"]
    assert config["JupyterHub"] == {"authenticator_class": "generic-oauth"}
    realm = "https://login.buildspace.eu/realms/buildspace/protocol/openid-connect"
    assert config["GenericOAuthenticator"] == {
        "client_id": "jupyterhub",
        "oauth_callback_url": "https://hub.bologna.buildspace.eu/hub/oauth_callback",
        "scope": ["openid", "profile", "email"],
        "allow_all": False,
        "allowed_users": [],
        "admin_users": [],
        "enable_auth_state": True,
        "authorize_url": f"{realm}/auth",
        "token_url": f"{realm}/token",
        "userdata_url": f"{realm}/userinfo",
        "username_claim": "preferred_username",
        # oauthenticator 17: groups come from auth_state and count only with manage_groups
        # (oauth2.py: allowed_groups/admin_groups without manage_groups raise).
        "manage_groups": True,
        "auth_state_groups_key": "oauth_user.groups",
        "allowed_groups": ["/scientists"],
        "admin_groups": ["/platform-admins"],
    }


def test_buildspace_hub_serves_tls_on_its_hostname_through_traefik(bundled_plan: Callable[[str], Plan]) -> None:
    values = hub_values(bundled_plan("buildspace"), "processing-jupyterhub")
    assert values["ingress"] == {
        "enabled": True,
        "ingressClassName": "traefik",
        "hosts": ["hub.bologna.buildspace.eu"],
        "pathType": "Prefix",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-production"},
        "tls": [{"hosts": ["hub.bologna.buildspace.eu"], "secretName": "jupyterhub-tls"}],
    }
    # Only the ingress controller reaches the proxy; the chart's own HTTPS (autohttps) stays off.
    assert values["proxy"]["service"] == {"type": "ClusterIP"}
    assert values["proxy"]["https"] == {"enabled": False}


def test_buildspace_culler_networkpolicies_and_storage(bundled_plan: Callable[[str], Plan]) -> None:
    values = hub_values(bundled_plan("buildspace"), "processing-jupyterhub")
    # Spec defaults: 60 minutes idle, looked at every 10 minutes, no maximum age; in seconds
    # for jupyterhub-idle-culler (--timeout, --cull-every, --max-age). Users are never culled:
    # deleting a user deletes their home volume (kubespawner delete_forever).
    assert values["cull"] == {"enabled": True, "timeout": 3600, "every": 600, "maxAge": 0, "users": False}
    # buildspace is observed: its collector (namespace monitoring) may reach the hub's port, nothing else more.
    assert values["hub"]["networkPolicy"] == {
        "enabled": True,
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                "ports": [{"port": "http"}],
            }
        ],
    }
    assert values["proxy"]["chp"]["networkPolicy"] == {"enabled": True}
    assert values["singleuser"]["networkPolicy"] == {"enabled": True}
    assert values["singleuser"]["storage"] == {"type": "dynamic", "capacity": "20Gi"}
    # The database volume survives `helm uninstall` (Helm: helm.sh/resource-policy keep).
    assert values["hub"]["db"] == {
        "type": "sqlite-pvc",
        "pvc": {"storage": "1Gi", "annotations": {"helm.sh/resource-policy": "keep"}},
    }
    assert values["singleuser"]["image"] == {"name": "quay.io/jupyter/scipy-notebook", "tag": "2025-11-03"}
    assert values["singleuser"]["startTimeout"] == 900
    # No privileged iptables init container in user pods (Pod Security baseline refuses it); the
    # singleuser NetworkPolicy, on, keeps them off the metadata server (chart values.yaml:
    # singleuser.networkPolicy.egressAllowRules.cloudMetadataServer false).
    assert values["singleuser"]["cloudMetadata"] == {"blockWithIptables": False}


def test_image_pullers_reach_the_gpu_nodes(bundled_plan: Callable[[str], Plan]) -> None:
    from scripts.render import render_plan

    plan = bundled_plan("buildspace")
    values = hub_values(plan, "processing-jupyterhub")
    # The a30 pool carries only the GPU taint: the pullers tolerate exactly it.
    assert values["prePuller"]["extraTolerations"] == [GPU_TOLERATION]
    # In the chart's own DaemonSets (templates/image-puller/_helpers-daemonset.tpl), beside the
    # userPods tolerations, so the GPU profile's image is pulled where it will run.
    (release,) = [r for r in render_plan(plan, plan, "buildspace") if r.release.chart == "jupyterhub"]
    pullers = [o for o in release.objects if o["kind"] == "DaemonSet"]
    assert {o["metadata"]["name"] for o in pullers} == {"hook-image-puller", "continuous-image-puller"}
    for puller in pullers:
        pod = puller["spec"]["template"]["spec"]
        assert GPU_TOLERATION in pod["tolerations"], puller["metadata"]["name"]
        images = {c["image"] for c in pod["initContainers"]}
        assert "quay.io/jupyter/pytorch-notebook:cuda12-2025-11-03" in images


def test_buildspace_values_are_keys_of_the_released_chart(bundled_plan: Callable[[str], Plan]) -> None:
    values = copy.deepcopy(hub_values(bundled_plan("buildspace"), "processing-jupyterhub"))
    # hub.config is pass-through traitlets configuration (values.schema.json patternProperties),
    # checked by its own tests above; everything else is a key of the chart's values.yaml.
    config = values["hub"].pop("config")
    assert set(config) == {"JupyterHub", "GenericOAuthenticator", "KubeSpawner"}
    # A deleted user's home volume stays (kubespawner 7.0.0 delete_pvc, default true, deletes it).
    assert config["KubeSpawner"] == {"delete_pvc": False}
    # The chart's user scheduler (kube-scheduler v1.30 in chart 4.4.0) is outside the version skew
    # policy for 1.33+ API servers: off, the cluster's scheduler places user pods.
    assert values["scheduling"]["userScheduler"] == {"enabled": False}
    assert unknown_keys(values, VALUES_YAML) == []


def test_a_rotated_secret_rolls_the_hub(plan_of: Callable[..., Plan]) -> None:
    # The hub reads the existing Secret once at start; only its pod template's annotations make
    # the Deployment roll (z2jh templates/hub/deployment.yaml: hub.annotations beside checksum/secret).
    platform = copy.deepcopy(HUB_STACK)
    first = hub_values(plan_of(platform), "hub-jupyterhub")["hub"]["annotations"]
    checksum = first["meridian.io/secrets-checksum"]
    assert re.fullmatch(r"[0-9a-f]{64}", checksum), "a SHA-256 in hex"
    auth = hub_cluster(platform)["addons"]["jupyterhub"]["authenticator"]
    auth["client_secret"] = "vault:kv/testproj/jupyterhub-rotated#client_secret"
    rotated = hub_values(plan_of(platform), "hub-jupyterhub")["hub"]["annotations"]
    assert rotated["meridian.io/secrets-checksum"] != checksum
    # A checksum, not a secret: the release has no secret values to hide.
    assert plan_of(platform).one(RELEASE, "hub-jupyterhub")["secret_paths"] == []


def test_no_credential_is_in_the_values_and_the_secret_the_chart_reads_is_secret(
    bundled_plan: Callable[[str], Plan], plan_of: Callable[..., Plan]
) -> None:
    plan = bundled_plan("buildspace")
    values = hub_values(plan, "processing-jupyterhub")
    assert values["hub"]["existingSecret"] == "meridian-hub-secrets"
    keys = walk_keys(values)
    assert not {"client_secret", "cookieSecret", "secretToken", "CryptKeeper", "cookie_secret"} & set(keys)
    release = plan.one(RELEASE, "processing-jupyterhub")
    assert release["secret_paths"] == []
    secret = plan.one(SECRET, "processing-jupyterhub-secrets")
    assert secret["inputs"]["metadata"]["name"] == "meridian-hub-secrets"
    assert secret["inputs"]["metadata"]["namespace"] == "jupyterhub"
    assert secret["inputs"]["stringData"] == "[secret]"
    assert secret["urn"] in release["depends_on"]
    # The generated secrets are RandomBytes, whose hex output the SDK marks secret.
    generated = {r["name"]: r for r in plan.by_type(RANDOM_BYTES)}
    assert set(generated) == {
        "processing-jupyterhub-cookie-secret",
        "processing-jupyterhub-crypt-key",
        "processing-jupyterhub-metrics-token",  # the collector's read:metrics service (observed cluster)
    }
    for item in generated.values():
        assert item["inputs"] == {"length": 32}
        assert {"hex", "base64"} <= set(item["additional_secret_outputs"])


def test_the_hub_secret_holds_what_the_chart_reads(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of(copy.deepcopy(HUB_STACK), reveal_secrets=True)
    data = plan.revealed[plan.one(SECRET, "hub-jupyterhub-secrets")["urn"]]["stringData"]
    # z2jh files/hub/z2jh.py get_secret_value reads these keys from the existing Secret first;
    # jupyterhub 5.5.0 wants an even-length hex cookie secret (32 bytes), CryptKeeper 32-byte keys.
    cookie, crypt = data["hub.config.JupyterHub.cookie_secret"], data["hub.config.CryptKeeper.keys"]
    for value in (cookie, crypt):
        assert re.fullmatch(r"[0-9a-f]{64}", value), "32 bytes as lowercase hex"
    assert cookie != crypt
    merged = yaml.safe_load(data["values.yaml"])
    client_secret = offline_vault_field("kv", "testproj/jupyterhub", "client_secret")
    assert merged == {"hub": {"config": {"GenericOAuthenticator": {"client_secret": client_secret}}}}


def test_gpu_quota_caps_each_resource_in_the_users_namespace(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    quota = plan.one(QUOTA, "processing-jupyterhub-gpu-quota")["inputs"]
    assert quota["metadata"]["namespace"] == "jupyterhub"
    # Extended resources take only the requests. prefix in a quota (Kubernetes docs, Resource Quotas).
    assert quota["spec"] == {"hard": {"requests.nvidia.com/gpu": "4"}}
    assert quota["metadata"]["name"] == "gpu-quota"


def test_the_users_namespace_outlives_the_hub(bundled_plan: Callable[[str], Plan]) -> None:
    namespace = bundled_plan("buildspace").one(NAMESPACE, "processing-jupyterhub")
    assert namespace["inputs"]["metadata"]["name"] == "jupyterhub"
    # User volumes (claim-<user>) live there and Helm does not own them.
    assert namespace["retain_on_delete"] is True
    labels = namespace["inputs"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_the_hub_release_waits_for_ingress(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    release = plan.one(RELEASE, "processing-jupyterhub")
    # A component dependency stands for its resources: the hub waits for Traefik, cert-manager
    # and the issuer (the SDK expands depends_on on a component to its children).
    for kind, name in ((RELEASE, "processing-traefik"), (RELEASE, "processing-cert-manager")):
        assert plan.one(kind, name)["urn"] in release["depends_on"], name
    issuer = plan.one("kubernetes:cert-manager.io/v1:ClusterIssuer", "processing-letsencrypt-production")
    assert issuer["urn"] in release["depends_on"]
    assert release["inputs"]["namespace"] == "jupyterhub"
    assert release["inputs"]["timeout"] == 1800
    assert release["provider"].split("::")[-2] == "processing-k8s"
    assert plan.one(HUB, "processing-jupyterhub")["urn"] == release["parent"]


def test_clusters_without_a_hub_get_none(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")  # processing has a hub, city-services none
    assert [r["name"] for r in plan.by_type(HUB)] == ["processing-jupyterhub"]
    assert [r["name"] for r in plan.by_type(RELEASE) if r["inputs"]["chart"] == "jupyterhub"] == [
        "processing-jupyterhub"
    ]


# -- profiles from what the pools offer --------------------------------------------------------------------


def hub_cluster(platform: dict[str, Any]) -> dict[str, Any]:
    cluster: dict[str, Any] = platform["clusters"]["hub"]
    return cluster


@pytest.mark.parametrize(
    ("mig", "slice_", "resource"),
    [
        # single: every slice is nvidia.com/gpu; mixed: each size is nvidia.com/mig-<size>
        # (GPU Operator docs, "GPU Operator with MIG", strategies).
        ({"strategy": "single", "profile": "all-1g.10gb"}, "1g.10gb", "nvidia.com/gpu"),
        ({"strategy": "mixed", "profile": "all-balanced"}, "2g.20gb", "nvidia.com/mig-2g.20gb"),
        ({"strategy": "mixed", "profile": "all-balanced"}, "1g.10gb", "nvidia.com/mig-1g.10gb"),
    ],
)
def test_a_mig_profile_requests_the_resource_its_pool_advertises(
    plan_of: Callable[..., Plan], mig: dict[str, str], slice_: str, resource: str
) -> None:
    platform = copy.deepcopy(HUB_STACK)
    cluster = hub_cluster(platform)
    cluster["node_pools"]["a100"]["gpu"]["mig"] = mig
    cluster["addons"]["jupyterhub"]["profiles"]["slice"]["gpu"] = {"pool": "a100", "slice": slice_}
    values = hub_values(plan_of(platform), "hub-jupyterhub")
    override = profiles_by_slug(values)["slice"]["kubespawner_override"]
    assert override["extra_resource_limits"] == {resource: "1"}
    quota = plan_of(platform).one(QUOTA, "hub-jupyterhub-gpu-quota")["inputs"]["spec"]["hard"]
    # all-balanced on an A100-80GB: two 1g.10gb, one 2g.20gb, one 3g.40gb per GPU (the GPU
    # Operator's default mig-parted config); all-1g.10gb: seven. Two nodes at max size, and no
    # quota in the spec: what the pool offers.
    expected = {"nvidia.com/gpu": 14, "nvidia.com/mig-2g.20gb": 2, "nvidia.com/mig-1g.10gb": 4}[resource]
    assert quota == {f"requests.{resource}": str(expected)}


def test_a_pools_own_taints_are_tolerated_too(plan_of: Callable[..., Plan]) -> None:
    platform = copy.deepcopy(HUB_STACK)
    pool = hub_cluster(platform)["node_pools"]["a100"]
    pool["taints"] = [{"key": "example.org/reserved", "effect": "NoSchedule"}]
    override = profiles_by_slug(hub_values(plan_of(platform), "hub-jupyterhub"))["slice"]["kubespawner_override"]
    # An empty taint value is matched with Exists (Kubernetes ToleratesTaint).
    assert override["tolerations"] == [
        GPU_TOLERATION,
        {"key": "example.org/reserved", "operator": "Exists", "effect": "NoSchedule"},
    ]
    cpu = profiles_by_slug(hub_values(plan_of(platform), "hub-jupyterhub"))["small"]["kubespawner_override"]
    assert "tolerations" not in cpu and "node_selector" not in cpu


def test_github_and_culler_settings_from_the_spec(plan_of: Callable[..., Plan]) -> None:
    platform = copy.deepcopy(HUB_STACK)
    hub = hub_cluster(platform)["addons"]["jupyterhub"]
    hub["authenticator"] = {
        "kind": "github",
        "client_id": "gh",
        "client_secret": "vault:kv/testproj/jupyterhub#client_secret",
        "allowed_organizations": ["destination-earth:scientists"],
        "admin_users": ["octocat"],
    }
    hub["culling"] = {"timeout_minutes": 30, "every_minutes": 5, "max_age_hours": 24}
    hub["tls"] = False
    values = hub_values(plan_of(platform), "hub-jupyterhub")
    assert values["hub"]["config"]["JupyterHub"] == {"authenticator_class": "github"}
    assert values["hub"]["config"]["GitHubOAuthenticator"] == {
        "client_id": "gh",
        "oauth_callback_url": "http://hub.a.example.org/hub/oauth_callback",
        # Organization and team membership needs read:org (oauthenticator github.py).
        "scope": ["read:org"],
        "allow_all": False,
        "allowed_users": [],
        "admin_users": ["octocat"],
        "enable_auth_state": True,
        "allowed_organizations": ["destination-earth:scientists"],
    }
    assert values["cull"] == {"enabled": True, "timeout": 1800, "every": 300, "maxAge": 86400, "users": False}
    assert "tls" not in values["ingress"] and "annotations" not in values["ingress"]


def test_culling_off_needs_a_reason_and_then_is_off(plan_of: Callable[..., Plan]) -> None:
    platform = copy.deepcopy(HUB_STACK)
    hub_cluster(platform)["addons"]["jupyterhub"]["culling"] = {
        "enabled": False,
        "disabled_because": "week-long interactive training runs on the A100 slices",
    }
    assert hub_values(plan_of(platform), "hub-jupyterhub")["cull"]["enabled"] is False


def test_the_spec_hub_is_what_the_fixture_says() -> None:
    spec = parse_platform(copy.deepcopy(HUB_STACK), "hub")
    hub = spec.clusters["hub"].addons.hub
    assert hub is not None and hub.hostname == "hub.a.example.org"
    # Unset, the cluster's hub is off: add-ons are opt-in per cluster.
    bare = copy.deepcopy(HUB_STACK)
    hub_cluster(bare)["addons"].pop("jupyterhub")
    assert parse_platform(bare, "hub").clusters["hub"].addons.hub is None
    hub_cluster(bare)["addons"]["jupyterhub"] = {
        **HUB_STACK["clusters"]["hub"]["addons"]["jupyterhub"],
        "enabled": False,
    }
    assert parse_platform(bare, "hub").clusters["hub"].addons.hub is None


def test_the_hostname_gets_an_a_record_at_the_ingress_address(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    record = plan.one("openstack:dns/recordSet:RecordSet", "processing-jupyterhub-dns")
    traefik = plan.one(RELEASE, "processing-traefik")["inputs"]["values"]["service"]["spec"]
    address = plan.one("openstack:networking/floatingIp:FloatingIp", "processing-ingress")
    # Designate names are fully qualified (trailing dot); the record points at the floating IP the
    # ingress load balancer is given (spec.loadBalancerIP), known before the Service exists.
    assert record["inputs"]["name"] == "hub.bologna.buildspace.eu."
    assert record["inputs"]["type"] == "A"
    assert record["inputs"]["ttl"] == 300
    assert record["inputs"]["records"] == [traefik["loadBalancerIP"]]
    assert address["urn"] in record["depends_on"]
    # Through the site's OpenStack provider, in the zone looked up by the site's domain.
    assert record["provider"].split("::")[-2] == "ewc-bologna-provider"
    assert record["parent"] == plan.one(HUB, "processing-jupyterhub")["urn"]


def test_on_aws_the_hostname_is_a_route53_record_at_the_elastic_ips(bundled_plan: Callable[[str], Plan]) -> None:
    """aws provider route53.Record (zone by `getZone` of the site's domain, public zone only); the
    addresses are the Elastic IPs the NLB is given (cloud-provider-aws eip-allocations)."""
    from scripts.mock_outputs.dns import route53_zone_id

    plan = bundled_plan("eo4eu")
    record = plan.one("aws:route53/record:Record", "burst-jupyterhub-dns")
    zones = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
    eips = [plan.one("aws:ec2/eip:Eip", f"burst-ingress-{zone}") for zone in zones]
    # The mocks' addresses for the three EIPs, in zone order (the same order as the allocations).
    from test_ingress import mocked

    addresses = [mocked(plan, eip)[1]["publicIp"] for eip in eips]
    assert len(set(addresses)) == 3
    assert record["inputs"] == {
        "zoneId": route53_zone_id("frankfurt.eo4eu.eu"),
        "name": "hub.frankfurt.eo4eu.eu",
        "type": "A",
        "ttl": 300,
        "records": addresses,
    }
    assert {eip["urn"] for eip in eips} <= set(record["depends_on"])
    assert record["provider"].split("::")[-2] == "aws-frankfurt-provider"
    assert record["parent"] == plan.one(HUB, "burst-jupyterhub")["urn"]


def test_the_hub_component_says_where_it_serves(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    outputs = plan.component_outputs[plan.one(HUB, "processing-jupyterhub")["urn"]]
    assert outputs == {
        "cluster": "processing",
        "hostname": "hub.bologna.buildspace.eu",
        "namespace": "jupyterhub",
        "gpu_quota": {"nvidia.com/gpu": 4},
    }


def test_limits_storage_classes_and_the_default_profile_from_the_spec(plan_of: Callable[..., Plan]) -> None:
    platform = copy.deepcopy(HUB_STACK)
    hub = hub_cluster(platform)["addons"]["jupyterhub"]
    small = hub["profiles"]["small"]
    small.pop("default")
    small.update(cpu_limit=3, memory_limit_gb=6)
    hub["database"] = {"size_gb": 2, "storage_class": "csi-cinder-retain"}
    hub["user_storage"] = {"size_gb": 50, "storage_class": "csi-cinder-ssd"}
    values = hub_values(plan_of(platform), "hub-jupyterhub")
    profiles = profiles_by_slug(values)
    # No profile says default: the first one is (KubeSpawner would take the first, z2jh lists it first).
    assert [slug for slug, entry in profiles.items() if entry.get("default")] == ["small"]
    assert profiles["small"]["kubespawner_override"] == {
        "cpu_guarantee": 1.0,
        "cpu_limit": 3.0,
        "mem_guarantee": "4G",
        "mem_limit": "6G",
    }
    # z2jh: hub.db.pvc.storageClassName and singleuser.storage.dynamic.storageClass.
    assert values["hub"]["db"]["pvc"] == {
        "storage": "2Gi",
        "annotations": {"helm.sh/resource-policy": "keep"},
        "storageClassName": "csi-cinder-retain",
    }
    assert values["singleuser"]["storage"] == {
        "type": "dynamic",
        "capacity": "50Gi",
        "dynamic": {"storageClass": "csi-cinder-ssd"},
    }
    # The second profile becomes the default when it says so.
    hub["profiles"]["slice"]["default"] = True
    again = profiles_by_slug(hub_values(plan_of(platform), "hub-jupyterhub"))
    assert [slug for slug, entry in again.items() if entry.get("default")] == ["slice"]


def test_the_release_record_is_whole_for_any_delivery() -> None:
    # GitOps delivery will read the record, not the Pulumi resource: its namespace and chart must
    # be right on their own (the direct delivery passes the Namespace's Output instead).
    from components.addons.jupyterhub import jupyterhub_release
    from components.charts import locked

    spec = parse_platform(copy.deepcopy(HUB_STACK), "hub")
    cluster = spec.clusters["hub"]
    assert cluster.addons.hub is not None
    record = jupyterhub_release("hub", cluster, cluster.addons.hub, issuer="letsencrypt-staging", secrets_checksum="0")
    assert (record.resource, record.release_name, record.namespace) == ("hub-jupyterhub", "jupyterhub", "jupyterhub")
    assert record.chart == locked("jupyterhub")
    assert record.waits_for == ("ingress",)
    assert record.values["ingress"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-staging"}


def test_the_collector_reads_hub_metrics_with_a_read_metrics_token(plan_of: Callable[..., Plan]) -> None:
    """JupyterHub 5 scopes (read:metrics) and services; z2jh 4.4.0 files/hub/jupyterhub_config.py reads a
    service's token from `hub.services.<name>.apiToken` of the existing Secret first; Prometheus Operator API,
    ServiceMonitor Endpoint.authorization."""
    platform = load_platform(STACKS / "Pulumi.buildspace.yaml")
    plan = plan_of(platform, reveal_secrets=True)
    values = hub_values(plan, "processing-jupyterhub")
    assert values["hub"]["services"] == {"prometheus": {"name": "prometheus"}}
    (role,) = values["hub"]["loadRoles"].values()
    assert role["scopes"] == ["read:metrics"] and role["services"] == ["prometheus"]
    hub_secret = plan.revealed[plan.one(SECRET, "processing-jupyterhub-secrets")["urn"]]["stringData"]
    token = plan.revealed[plan.one(SECRET, "processing-jupyterhub-metrics")["urn"]]["stringData"]["token"]
    assert hub_secret["hub.services.prometheus.apiToken"] == token and len(token) == 64
    monitor = plan.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "processing-jupyterhub-monitor")
    (endpoint,) = monitor["inputs"]["spec"]["endpoints"]
    assert endpoint["port"] == "hub" and endpoint["path"] == "/hub/metrics"
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "meridian-hub-metrics", "key": "token"},
    }
    assert monitor["inputs"]["metadata"]["namespace"] == "jupyterhub"
    # Unobserved, the hub has no metrics service, token or monitor.
    del platform["observability"]
    quiet = plan_of(platform)
    assert "services" not in hub_values(quiet, "processing-jupyterhub")["hub"]
    assert not quiet.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")


# -- the hub's profile and quota rules, on their own -------------------------------------------------


def _pools() -> dict[str, Any]:
    """A CPU pool, a MIG pool of the mixed strategy (two slice sizes, one with media extensions) and
    a pool of whole GPUs."""
    from components.spec import ClusterSpec

    cluster = ClusterSpec.model_validate(
        {
            "site": "s",
            "backend": "rke2",
            "version": "1.33",
            "control_plane": {"flavor": "m1.large"},
            "node_pools": {
                "cpu": {"flavor": "m1.large"},
                "mixed": {
                    "flavor": "g.a100",
                    "gpu": {
                        "model": "A100-80GB",
                        "count": 1,
                        "sharing": "mig",
                        "mig": {"strategy": "mixed", "custom": {"1g.10gb+me": 1, "3g.40gb": 1}},
                    },
                },
                "whole": {"flavor": "g.a30", "gpu": {"model": "A30", "count": 2}},
            },
        }
    )
    return dict(cluster.node_pools)


def _hub(profiles: dict[str, Any], gpu_quota: dict[str, int] | None = None) -> Any:
    from components.spec import JupyterHubSpec

    return JupyterHubSpec.model_validate(
        {
            "hostname": "hub.a.example.org",
            "authenticator": {"kind": "github", "client_id": "c", "client_secret": "config:s", "admin_users": ["a"]},
            "profiles": profiles,
            "gpu_quota": gpu_quota or {},
        }
    )


def _profile(**gpu: Any) -> dict[str, Any]:
    return {"display_name": "P", "cpu": 1, "memory_gb": 2, "gpu": gpu}


def test_every_profile_is_checked_against_the_pools() -> None:
    # Two broken profiles: both are reported, each at its own key path (the checks go on after one).
    hub = _hub({"a": _profile(pool="cpu"), "b": _profile(pool="mixed"), "c": _profile(pool="whole", count=3)})
    assert hub.pool_problems(_pools(), ("hub",)) == [
        (("hub", "profiles", "a", "gpu", "pool"), "'cpu' is not a GPU pool of the cluster (GPU pools: mixed, whole)"),
        (
            ("hub", "profiles", "b", "gpu", "slice"),
            "pool 'mixed' offers several MIG slices: choose one (1g.10gb+me, 3g.40gb)",
        ),
        (("hub", "profiles", "c", "gpu", "count"), "a node of pool 'whole' offers 2 nvidia.com/gpu, fewer than 3"),
    ]
    # Without any GPU pool, every GPU profile says so.
    cpu_only = {"cpu": _pools()["cpu"]}
    message = "the cluster has no GPU pools: remove the gpu block or add a GPU pool"
    assert _hub({"a": _profile(pool="x"), "b": _profile(pool="y")}).pool_problems(cpu_only, ()) == [
        (("profiles", "a", "gpu"), message),
        (("profiles", "b", "gpu"), message),
    ]


def test_slices_and_counts_against_the_pools_offer() -> None:
    from components.spec.addons import ProfileGpuSpec, profile_resource

    pools = {name: pool for name, pool in _pools().items() if pool.gpu is not None}
    # A slice with media extensions is advertised as nvidia.com/mig-<size>.me (GPU Operator docs, MIG).
    assert profile_resource(ProfileGpuSpec(pool="mixed", slice="1g.10gb+me"), pools) == "nvidia.com/mig-1g.10gb.me"
    assert profile_resource(ProfileGpuSpec(pool="mixed", slice="3g.40gb"), pools) == "nvidia.com/mig-3g.40gb"
    assert profile_resource(ProfileGpuSpec(pool="mixed", slice="2g.20gb"), pools) == (
        "slice",
        "pool 'mixed' offers no 2g.20gb slice (its slices: 1g.10gb+me, 3g.40gb)",
    )
    assert profile_resource(ProfileGpuSpec(pool="whole", slice="1g.10gb"), pools) == (
        "slice",
        "pool 'whole' is not partitioned with MIG; remove slice",
    )
    assert profile_resource(ProfileGpuSpec(pool="whole", count=2), pools) == "nvidia.com/gpu"
    assert profile_resource(ProfileGpuSpec(pool="nowhere"), pools) == (
        "pool",
        "'nowhere' is not a GPU pool of the cluster (GPU pools: mixed, whole)",
    )


def test_a_quota_names_only_resources_some_pool_offers() -> None:
    hub = _hub({"a": _profile(pool="whole")}, gpu_quota={"nvidia.com/gpu": 2, "nvidia.com/mig-7g.80gb": 1})
    assert hub.pool_problems(_pools(), ()) == [
        (
            ("gpu_quota", "nvidia.com/mig-7g.80gb"),
            "no pool offers nvidia.com/mig-7g.80gb (offered: nvidia.com/gpu, nvidia.com/mig-1g.10gb.me, "
            "nvidia.com/mig-3g.40gb)",
        )
    ]
    cpu_only = {"cpu": _pools()["cpu"]}
    assert _hub({"a": {"display_name": "P", "cpu": 1, "memory_gb": 2}}, {"nvidia.com/gpu": 1}).pool_problems(
        cpu_only, ()
    ) == [(("gpu_quota", "nvidia.com/gpu"), "no pool offers nvidia.com/gpu (offered: none)")]


def test_the_groups_claim_is_asked_for_by_its_scope(bundled_plan: Callable[[str], Plan]) -> None:
    """EGI Check-in releases eduperson_entitlement to clients that ask for the scope of that name only.

    eo4eu's hubs admit their virtual organisation's entitlements: without the scope no user would
    have groups, and every login (admins' too) would be refused (oauthenticator 17.4.0 oauth2.py
    get_user_groups, check_allowed).
    """
    from components.spec.addons import AuthenticatorSpec

    for hub in ("core-jupyterhub", "burst-jupyterhub"):
        config = hub_values(bundled_plan("eo4eu"), hub)["hub"]["config"]["GenericOAuthenticator"]
        assert config["scope"] == ["openid", "profile", "email", "eduperson_entitlement"]
        assert config["auth_state_groups_key"] == "oauth_user.eduperson_entitlement"
    base: dict[str, Any] = {
        "kind": "generic-oauth",
        "client_id": "c",
        "client_secret": "config:s",
        "authorize_url": "https://idp.example/auth",
        "token_url": "https://idp.example/token",
        "userdata_url": "https://idp.example/userinfo",
        "admin_users": ["a"],
    }
    assert AuthenticatorSpec(**base).scopes == ["openid", "profile", "email"]
    # A Keycloak groups claim comes from a mapper, with or without a scope of its name: nothing added.
    assert AuthenticatorSpec(**base, groups_claim="groups").scopes == ["openid", "profile", "email"]
    # Scopes named in the spec are asked as they are.
    assert AuthenticatorSpec(**base, groups_claim="groups", scope=["openid", "roles"]).scopes == ["openid", "roles"]
