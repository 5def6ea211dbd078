"""Argo Workflows on the MLOps cluster: SSO, artifacts, RBAC and GPU templates (components/addons/workflows.py).

tests/specs/mlops.happy.yaml runs Argo beside MLflow on a magnum cluster whose A100 pool is cut into
1g.10gb MIG slices (single strategy); mlops-eks.happy.yaml on eks with IRSA. The chart is rendered
with the real Helm; WorkflowTemplates are validated against the full CRDs of the chart's release
(the mirror's crds/argo-workflows, locked by digest).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from conftest import named
from conftest import revealed_plan as plan_of
from helm_values import unknown_keys

from components.addons import workflows
from scripts.harness import Plan, offline_vault_field
from scripts.render import releases, render_release
from scripts.upstream import chart_dir
from scripts.validate import builtin_api_versions, validate_objects

OPENSTACK = "tests/specs/mlops.happy.yaml"
EKS = "tests/specs/mlops-eks.happy.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"


def values(plan: Plan, cluster: str) -> dict[str, Any]:
    found: dict[str, Any] = plan.one(RELEASE, f"{cluster}-argo-workflows")["inputs"]["values"]
    return found


def test_the_server_logs_in_with_the_projects_oidc_provider_and_its_rbac() -> None:
    plan = plan_of(OPENSTACK)
    server = values(plan, "hub")["server"]
    assert server["authModes"] == ["sso"]
    sso = server["sso"]
    assert sso["enabled"] is True
    assert sso["issuer"] == "https://login.example.org/realms/r"
    assert sso["redirectUrl"] == "https://workflows.a.example.org/oauth2/callback"
    # The client's ID and secret by reference; the secret never in the values.
    assert sso["clientId"] == {"name": "argo-server-sso-client", "key": "client-id"}
    assert sso["clientSecret"] == {"name": "argo-server-sso", "key": "client-secret"}
    client = named(plan, "kubernetes:core/v1:Secret", "argo-server-sso-client")
    assert plan.revealed[client["urn"]]["stringData"] == {"client-id": "mlops"}
    secret = named(plan, "kubernetes:core/v1:Secret", "argo-server-sso")
    assert "stringData" in secret["secret_paths"]
    assert plan.revealed[secret["urn"]]["stringData"] == {
        "client-secret": offline_vault_field("kv", "testproj/mlops", "client_secret")
    }
    # SSO RBAC on; the server reads with its own account only the token of the account users act as
    # and the client's Secrets (v4.0.6 server/auth/sso/sso.go reads both; without them it cannot start).
    assert sso["rbac"] == {
        "enabled": True,
        "secretWhitelist": ["scientist.service-account-token", "argo-server-sso", "argo-server-sso-client"],
    }
    # Argo asks for openid itself; the groups claim is the default `groups` here.
    assert sso["scopes"] == ["profile", "email"] and "customGroupClaimName" not in sso
    eo4eu = values(plan_of("eo4eu"), "core")["server"]["sso"]
    assert eo4eu["customGroupClaimName"] == "eduperson_entitlement"
    assert "eduperson_entitlement" in eo4eu["scopes"]
    ingress = server["ingress"]
    assert ingress["hosts"] == ["workflows.a.example.org"]
    assert ingress["tls"] == [{"secretName": "argo-workflows-tls", "hosts": ["workflows.a.example.org"]}]
    assert ingress["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-staging"}


def test_members_of_the_allowed_groups_act_as_the_scientist_account_in_the_workflows_namespace() -> None:
    plan = plan_of("eo4eu")
    account = named(plan, "kubernetes:core/v1:ServiceAccount", "scientist")["inputs"]["metadata"]
    assert account["namespace"] == "argo-workflows"
    rule = account["annotations"][workflows.RBAC_RULE]
    # An expr-lang expression over the claims: each group a quoted string literal.
    group = "urn:mace:egi.eu:group:vo.eo4eu.eu:role=member#aai.egi.eu"
    assert rule == f"{json.dumps(group)} in groups"
    assert account["annotations"][workflows.RBAC_PRECEDENCE] == "1"
    token = named(plan, "kubernetes:core/v1:Secret", "scientist.service-account-token")["inputs"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "scientist"}
    role = named(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role", "scientist")["inputs"]
    assert role["metadata"]["namespace"] == "workflows"
    verbs = {resource: rule["verbs"] for rule in role["rules"] for resource in rule["resources"]}
    assert "delete" in verbs["workflows"] and verbs["pods/log"] == ["get", "list", "watch"]
    # Argo's own kinds: all a workflow's author does (the UI watches as it shows them), and the
    # results the controller's pods report, to read.
    argo = [rule for rule in role["rules"] if rule["apiGroups"] == ["argoproj.io"]]
    assert argo == [
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflows", "workflowtemplates", "cronworkflows", "workfloweventbindings"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["get", "list", "watch"]},
    ]
    # Retrying deletes the failed pods with the user's account (server/workflow/workflow_server.go).
    assert verbs["pods"] == ["get", "list", "watch", "delete"]
    # Showing an artifact reads the repository's keys with it (server/artifacts/artifact_server.go):
    # that Secret only, on a site whose repository has keys.
    (secrets,) = [rule for rule in role["rules"] if rule["resources"] == ["secrets"]]
    assert secrets == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["argo-artifacts"],
        "verbs": ["get"],
    }
    eks = named(plan_of(EKS), "kubernetes:rbac.authorization.k8s.io/v1:Role", "scientist")["inputs"]
    assert not [rule for rule in eks["rules"] if "secrets" in rule["resources"]]
    binding = named(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "scientist")["inputs"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "scientist", "namespace": "argo-workflows"}]
    assert binding["roleRef"]["name"] == "scientist" and binding["metadata"]["namespace"] == "workflows"


def test_artifacts_go_to_the_projects_bucket_over_the_sites_s3_endpoint() -> None:
    plan = plan_of(OPENSTACK)
    found = values(plan, "hub")
    bucket = plan.one("openstack:objectstorage/container:Container", "hub-workflows")
    assert bucket["protect"] is True
    assert found["artifactRepository"] == {
        "archiveLogs": True,
        "s3": {
            "bucket": bucket["inputs"]["name"],
            "region": "us-east-1",
            # host[:port], TLS (Argo's S3 endpoint takes no scheme).
            "endpoint": "object-store.os-a.example",
            "insecure": False,
            "accessKeySecret": {"name": "argo-artifacts", "key": "AWS_ACCESS_KEY_ID"},
            "secretKeySecret": {"name": "argo-artifacts", "key": "AWS_SECRET_ACCESS_KEY"},
        },
    }
    assert found["useStaticCredentials"] is True
    keys = named(plan, "kubernetes:core/v1:Secret", "argo-artifacts")
    # The keys live where the workflows' pods read them, under the keys the repository names.
    assert keys["inputs"]["metadata"]["namespace"] == "workflows"
    assert "stringData" in keys["secret_paths"]
    assert plan.revealed[keys["urn"]]["stringData"] == {
        "AWS_ACCESS_KEY_ID": offline_vault_field("kv", "testproj/object-storage", "access_key_id"),
        "AWS_SECRET_ACCESS_KEY": offline_vault_field("kv", "testproj/object-storage", "secret_access_key"),
    }
    # The component's outputs (`pulumi stack` shows them under it).
    (component,) = plan.by_type("meridian:addons:ArgoWorkflows")
    assert plan.component_outputs[component["urn"]] == {
        "hostname": "workflows.a.example.org",
        # Where workflows run (the server's own namespace is `argo-workflows`).
        "namespace": "workflows",
        "bucket": bucket["inputs"]["name"],
    }


def test_on_eks_workflows_reach_their_bucket_through_a_role() -> None:
    plan = plan_of(EKS)
    found = values(plan, "edge")
    assert found["useStaticCredentials"] is False
    s3 = found["artifactRepository"]["s3"]
    assert s3 == {
        "bucket": "testproj-edge-workflows",
        "region": "eu-west-1",
        "endpoint": "s3.eu-west-1.amazonaws.com",
        "useSDKCreds": True,
    }
    role = plan.one("aws:iam/role:Role", "edge-workflows-role")
    # Said in the account's IAM console, where an operator meets it without Meridian's names.
    assert role["inputs"]["description"] == "workflows of cluster edge's Argo Workflows: its bucket only"
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    (subjects,) = [v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == [
        "system:serviceaccount:workflows:workflow",
        "system:serviceaccount:argo-workflows:argo-workflows-server",
    ]
    annotations = found["workflow"]["serviceAccount"]["annotations"]
    assert annotations == found["server"]["serviceAccount"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::111122223333:role/")


def test_gpu_templates_request_what_the_pool_offers_and_land_on_its_nodes() -> None:
    plan = plan_of(OPENSTACK)
    template = named(plan, TEMPLATE, "train")["inputs"]
    assert template["metadata"]["namespace"] == "workflows"
    spec = template["spec"]
    assert spec["entrypoint"] == "main" and spec["serviceAccountName"] == "workflow"
    assert spec["arguments"] == {"parameters": [{"name": "epochs", "value": "10"}]}
    (step,) = spec["templates"]
    # Single-strategy MIG: the slices are advertised as nvidia.com/gpu (the cluster's GPU summary).
    assert step["container"]["resources"] == {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "1"},
    }
    assert step["nodeSelector"] == {"meridian.io/pool": "a100"}
    # The pool's taint, as the cluster's GPU pools carry it.
    assert step["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    assert step["activeDeadlineSeconds"] == 24 * 3600
    container = step["container"]
    assert container["image"] == "quay.io/jupyter/pytorch-notebook:cuda12-2025-11-03"
    assert container["command"] == ["python", "train.py", "--epochs", "{{workflow.parameters.epochs}}"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    # The steps' namespace reaches MLflow's server (its NetworkPolicy).
    policy = named(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow-server")["inputs"]["spec"]
    peers = [peer for rule in policy["ingress"] for peer in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "workflows"}}} in peers


def test_workflow_pods_run_without_privileges_and_finished_workflows_are_collected() -> None:
    found = values(plan_of(OPENSTACK), "hub")
    defaults = found["controller"]["workflowDefaults"]["spec"]
    assert defaults["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsUser": 8737,
        "runAsGroup": 8737,
        "fsGroup": 8737,
    }
    assert defaults["ttlStrategy"] == {"secondsAfterCompletion": 7 * 24 * 3600}
    assert defaults["serviceAccountName"] == "workflow"
    for part in ("executor", "mainContainer"):
        context = found[part]["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
    assert found["controller"]["workflowNamespaces"] == ["workflows"]
    assert found["controller"]["parallelism"] == 20
    # The chart's minimal CRDs: no Job downloading the full ones from GitHub at install time.
    assert found["crds"] == {"install": True, "keep": True, "full": False}
    plan = plan_of(OPENSTACK)
    for name in ("argo-workflows", "workflows"):
        labels = named(plan, "kubernetes:core/v1:Namespace", name)["inputs"]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_chart_renders_sso_and_the_repository_into_the_controllers_configuration() -> None:
    plan = plan_of(OPENSTACK)
    (record,) = [r for r in releases(plan, plan) if r.chart == "argo-workflows"]
    rendered = render_release(record, builtin_api_versions(record.kube_version), OPENSTACK)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in rendered.objects}
    config = yaml.safe_load(objects[("ConfigMap", "argo-workflows-workflow-controller-configmap")]["data"]["config"])
    assert config["sso"]["issuer"] == "https://login.example.org/realms/r"
    assert config["sso"]["rbac"] == {"enabled": True}
    assert config["artifactRepository"]["s3"]["bucket"] == "testproj-hub-workflows"
    assert config["workflowDefaults"]["spec"]["securityContext"]["runAsUser"] == 8737
    server = objects[("Deployment", "argo-workflows-server")]["spec"]["template"]["spec"]
    assert "--auth-mode=sso" in server["containers"][0]["args"]
    assert server["serviceAccountName"] == workflows.SERVER_ACCOUNT
    accounts = [o for o in rendered.objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "workflow"]
    assert "workflows" in {account["metadata"].get("namespace") for account in accounts}


def test_templates_validate_against_the_full_crds_and_a_broken_one_does_not() -> None:
    plan = plan_of("eo4eu")
    documents = [dict(r["inputs"]) for r in plan.by_type(TEMPLATE)]
    assert sorted(d["metadata"]["name"] for d in documents) == ["train-a100-slice", "validate"]
    assert validate_objects(documents, "v1.33.0", "eo4eu") == []
    broken = copy.deepcopy(documents[0])
    broken["spec"]["templates"][0]["activeDeadlineSeconds"] = [1]
    (problem,) = validate_objects([broken], "v1.33.0", "eo4eu")
    assert problem.kind == "argoproj.io/v1alpha1/WorkflowTemplate" and "activeDeadlineSeconds" in problem.message


@pytest.mark.parametrize("chart", ["argo-workflows", "cloudnative-pg"])
def test_the_mlops_charts_take_every_value_and_render_objects_that_validate(chart: str) -> None:
    """Helm ignores a values key the chart does not read (tests/helm_values.py), and the API
    server refuses what the schemas let through (scripts/validate.py): both checked on what the
    chart makes of Meridian's values."""
    plan = plan_of(OPENSTACK)
    (record,) = [r for r in releases(plan, plan) if r.chart == chart]
    assert unknown_keys(record.values, chart_dir(chart) / "values.yaml") == []
    rendered = render_release(record, builtin_api_versions(record.kube_version), OPENSTACK)
    crds = [o for o in rendered.objects if o["kind"] == "CustomResourceDefinition"]
    problems = validate_objects(rendered.objects, record.kube_version, record.resource, crds=crds)
    assert [str(p) for p in problems] == []
