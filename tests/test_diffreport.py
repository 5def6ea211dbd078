"""`meridian diff --format markdown`: the pull request comment, over plan pairs of a bundled stack that differ.

Heads come from eo4eu edited the way a pull request edits it (a pool added, a cluster's version
moved, a GPU pool resized), or from its plan changed the way the program would change it (a
chart version, a rename with and without an alias, a protected store removed). Expected text
comes from the edit and from the plans' own resources, never from the report under test.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import edited_stack, write_edited
from test_cli import meridian

from scripts.diff import PropertyChange, diff_plans
from scripts.diffreport import COLLAPSE_AFTER, at_risk, markdown, marker, new_violations
from scripts.gate import Violation
from scripts.harness import Plan, evaluate, write_plan

RELEASE = "kubernetes:helm.sh/v3:Release"
INSTANCE = "openstack:compute/instance:Instance"


def edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Plan:
    """eo4eu with `edit` applied to its platform, evaluated under the stack's own name."""
    return edited_stack(tmp_path, "eo4eu", edit)


def with_resources(plan: Plan, resources: list[dict[str, Any]]) -> Plan:
    return Plan(project=plan.project, stack=plan.stack, resources=resources, outputs=plan.outputs)


def at_risk_block(report: str) -> list[str]:
    lines = report.splitlines()
    if "> [!CAUTION]" not in lines:
        return []
    start = lines.index("> [!CAUTION]")
    return [line.removeprefix("> - ") for line in lines[start:] if line.startswith("> - ")]


def section(report: str, title: str) -> str:
    """The text of the `### <title>` section (with its count, if any), up to the next heading."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line in (f"### {title}",) or line.startswith(f"### {title} ("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("### ")), len(lines))
    return "\n".join(lines[start:end])


def test_the_tree_against_itself_says_no_changes_in_every_format(tmp_path: Path, bundled_plan: Any) -> None:
    base = tmp_path / "base.json"
    write_plan(bundled_plan("eo4eu"), base)
    for form in ("text", "json", "markdown"):
        done = meridian("diff", str(base), "eo4eu", "--format", form, "--no-policies")
        assert done.returncode == 0, done.stderr
        assert "No changes" in done.stdout, form
    report = markdown(
        diff_plans(bundled_plan("eo4eu"), bundled_plan("eo4eu")), bundled_plan("eo4eu"), bundled_plan("eo4eu")
    )
    assert report.splitlines()[:2] == [marker("eo4eu"), "## Meridian: stack `eo4eu`"]
    assert "No changes." in report and "[!CAUTION]" not in report


def test_an_added_pool_is_a_create_section_with_every_new_machine(tmp_path: Path, bundled_plan: Any) -> None:
    def add_pool(platform: dict[str, Any]) -> None:
        platform["clusters"]["core"]["node_pools"]["batch"] = {"flavor": "eo1.xlarge", "min_size": 2, "max_size": 2}

    base, head = bundled_plan("eo4eu"), edited(tmp_path, add_pool)
    result = diff_plans(base, head)
    created = sorted(c.name for c in result.changes if c.operation == "create")
    assert {"core-batch-0", "core-batch-1"} <= set(created)
    report = markdown(result, base, head)
    creates = section(report, "To create")
    assert creates.startswith(f"### To create ({len(created)})")
    for name in created:
        assert f"`{name}`" in creates
    # More than COLLAPSE_AFTER resources: the list is collapsible.
    assert (len(created) > COLLAPSE_AFTER) == ("<details><summary>show all</summary>" in creates)
    # Nothing existing is at risk from a new pool.
    assert at_risk_block(report) == []


def test_a_version_change_on_rke2_says_the_nodes_keep_their_user_data(tmp_path: Path, bundled_plan: Any) -> None:
    def upgrade(platform: dict[str, Any]) -> None:
        platform["clusters"]["core"]["version"] = "1.34"

    base, head = bundled_plan("eo4eu"), edited(tmp_path, upgrade)
    result = diff_plans(base, head)
    report = markdown(result, base, head)
    machines = [
        r
        for r in head.resources
        if r["type"] == "openstack:compute/instance:Instance" and r["name"].startswith("core-")
    ]
    assert machines and all("userData" in r["ignore_changes"] for r in machines)
    risky = at_risk_block(report)
    assert (
        f'**not applied** cluster `core` (version "1.33" → "1.34"): its {len(machines)} existing machines keep the '
        "`userData` they were created with (secret, ignored after creation); existing nodes change only when "
        "replaced"
    ) in risky
    assert '~ clusters.core.version: "1.33" => "1.34"' in section(report, "Stack outputs")


def test_a_pool_setting_in_user_data_flags_only_that_pools_machines(tmp_path: Path, bundled_plan: Any) -> None:
    """A MIG layout or taint lives in the pool's user data (labels, taints): existing nodes keep theirs."""

    def repartition(platform: dict[str, Any]) -> None:
        pools = platform["clusters"]["core"]["node_pools"]
        pools["a100"]["gpu"]["mig"]["profile"] = "all-3g.40gb"
        # The hub's profile asks for the pool's slice: it follows (the spec refuses a slice the pool lacks).
        platform["clusters"]["core"]["addons"]["jupyterhub"]["profiles"]["a100-slice"]["gpu"]["slice"] = "3g.40gb"
        platform["mlops"]["workflows"]["templates"]["train-a100-slice"]["gpu"]["slice"] = "3g.40gb"
        pools["services"]["taints"] = [{"key": "dedicated", "value": "services", "effect": "NoSchedule"}]

    base, head = bundled_plan("eo4eu"), edited(tmp_path, repartition)
    result = diff_plans(base, head)
    report = markdown(result, base, head)

    def machines(pool: str) -> int:
        return len([r for r in head.resources if r["type"] == INSTANCE and r["name"].startswith(f"core-{pool}-")])

    assert machines("a100") == 1 and machines("services") == 3
    risky = at_risk_block(report)
    tail = (
        "keep the `userData` they were created with (secret, ignored after creation); existing nodes change only "
        "when replaced"
    )
    assert risky == [
        '**not applied** cluster `core` pool `a100` (node_labels[3] "nvidia.com/mig.config=all-1g.10gb" → '
        f'"nvidia.com/mig.config=all-3g.40gb"): its 1 existing machines {tail}',
        '**not applied** cluster `core` pool `services` (node_taints[0] added "dedicated=services:NoSchedule"): '
        f"its 3 existing machines {tail}",
    ]
    # The fingerprint moved too, and shows with the outputs; the control plane is untouched.
    outputs = section(report, "Stack outputs")
    assert "clusters.core.boot.a100.user_data" in outputs
    assert "clusters.core.boot.control-plane" not in outputs


def test_the_committed_review_example_is_what_the_tool_writes_now() -> None:
    from scripts.docs import EXAMPLE, example_report

    assert EXAMPLE.read_text(encoding="utf-8") == example_report(), "stale: run `python -m scripts.docs`"


def test_a_resized_gpu_pool_creates_machines_and_risks_nothing(tmp_path: Path, bundled_plan: Any) -> None:
    def resize(platform: dict[str, Any]) -> None:
        platform["clusters"]["core"]["node_pools"]["a100"]["min_size"] = 2

    base, head = bundled_plan("eo4eu"), edited(tmp_path, resize)
    result = diff_plans(base, head)
    assert "core-a100-1" in {c.name for c in result.changes if c.operation == "create"}
    report = markdown(result, base, head)
    assert "`core-a100-1`" in section(report, "To create")
    assert at_risk_block(report) == []


def test_a_chart_version_change_is_an_update_with_both_versions(bundled_plan: Any) -> None:
    base = bundled_plan("eo4eu")
    resources = copy.deepcopy(base.resources)
    release = next(r for r in resources if r["type"] == RELEASE and r["name"] == "core-traefik")
    old_version = release["inputs"]["version"]
    release["inputs"]["version"] = "41.4.0"
    head = with_resources(base, resources)
    report = markdown(diff_plans(base, head), base, head)
    updates = section(report, "To update")
    assert "- `kubernetes:helm.sh/v3:Release` `core-traefik`" in updates
    assert f'~ version: "{old_version}" => "41.4.0"' in updates


def _renamed(base: Plan, alias: bool) -> Plan:
    resources = copy.deepcopy(base.resources)
    bucket = next(r for r in resources if r["name"] == "core-metrics")
    old_urn = bucket["urn"]
    bucket["name"] = "core-metrics-store"
    bucket["urn"] = old_urn.rsplit("::", 1)[0] + "::core-metrics-store"
    if alias:
        bucket["aliases"] = [{"name": "core-metrics"}]
    return with_resources(base, resources)


def test_a_rename_with_its_alias_is_the_same_store(bundled_plan: Any) -> None:
    base = bundled_plan("eo4eu")
    head = _renamed(base, alias=True)
    report = markdown(diff_plans(base, head), base, head)
    assert "`core-metrics-store`" in section(report, "Renamed by alias (same resource)")
    assert at_risk_block(report) == []


def test_a_rename_without_an_alias_deletes_a_protected_store(bundled_plan: Any) -> None:
    base = bundled_plan("eo4eu")
    head = _renamed(base, alias=False)
    report = markdown(diff_plans(base, head), base, head)
    container = "`openstack:objectstorage/container:Container`"
    assert f"- {container} `core-metrics`" in section(report, "To delete")
    assert f"- {container} `core-metrics-store`" in section(report, "To create")
    assert at_risk_block(report) == [
        f"**delete** {container} `core-metrics`: protected: `pulumi up` refuses until it is unprotected; "
        "holds data or keys; retain_on_delete: left in the cloud, no longer managed"
    ]


def test_an_input_change_on_a_store_is_at_risk_and_a_tag_on_a_plain_resource_is_not(bundled_plan: Any) -> None:
    """Offline, an update may be a replace (the provider's schema decides): on a store the reviewer is told."""
    base = bundled_plan("eo4eu")
    resources = copy.deepcopy(base.resources)
    container = next(r for r in resources if r["name"] == "core-metrics")
    container["inputs"]["region"] = "RegionTwo"
    network = next(r for r in resources if r["type"] == "openstack:networking/network:Network")
    network["inputs"]["description"] = "changed"
    head = with_resources(base, resources)
    report = markdown(diff_plans(base, head), base, head)
    assert at_risk_block(report) == [
        "**update** `openstack:objectstorage/container:Container` `core-metrics` (`region`): it holds data or is "
        "protected, and whether the provider replaces it for these inputs is known only to `pulumi preview`"
    ]
    assert "`" + network["name"] + "`" in section(report, "To update")


def test_a_removed_key_is_at_risk_as_protected_and_stateful(bundled_plan: Any) -> None:
    base = bundled_plan("eo4eu")
    head = with_resources(base, [r for r in base.resources if r["type"] != "aws:kms/key:Key"])
    report = markdown(diff_plans(base, head), base, head)
    assert at_risk_block(report) == [
        "**delete** `aws:kms/key:Key` `burst-secrets-key`: protected: `pulumi up` refuses until it is unprotected; "
        "holds data or keys; retain_on_delete: left in the cloud, no longer managed"
    ]


def test_only_violations_the_base_does_not_have_are_new() -> None:
    def found(policy: str, level: str, urn: str) -> Violation:
        return Violation(policy=policy, level=level, message=f"{policy} says no", urn=urn)

    old = [found("required-tags", "mandatory", "urn:a")]
    new = [
        found("required-tags", "mandatory", "urn:a"),
        found("explicit-provider", "advisory", "urn:b"),
        found("required-tags", "mandatory", "urn:c"),
    ]
    assert [(v.policy, v.urn) for v in new_violations(old, new)] == [
        ("required-tags", "urn:c"),
        ("explicit-provider", "urn:b"),
    ]


def test_a_second_problem_on_the_same_resource_is_new_and_a_renamed_resource_keeps_its_own() -> None:
    def found(policy: str, urn: str, message: str) -> Violation:
        return Violation(policy=policy, level="mandatory", message=message, urn=urn)

    base_urn = "urn:pulumi:s::p::aws:s3/bucket:Bucket::old-logs"
    head_urn = "urn:pulumi:s::p::aws:s3/bucket:Bucket::logs"
    old = [found("required-tags", base_urn, "old-logs lacks tag owner")]
    # Same policy, same (renamed by alias) resource: the old problem is not new, the second one is.
    new = [
        found("required-tags", head_urn, "logs lacks tag owner"),
        found("required-tags", head_urn, "logs lacks tag cost-centre"),
    ]
    fresh = new_violations(old, new, {head_urn: base_urn})
    assert [v.message for v in fresh] == ["logs lacks tag cost-centre"]
    # Without the alias the engine would delete old-logs and create logs: both problems are new.
    assert len(new_violations(old, new, {})) == 2
    # The same problem twice where the base had it once: one is new.
    assert len(new_violations(old, [*old, *old])) == 1
    # A new name inside another word of the message ("logs" in "old-logs: access logs are off").
    kept = [found("access-logs", base_urn, "old-logs: access logs are off")]
    renamed = [found("access-logs", head_urn, "logs: access logs are off")]
    assert new_violations(kept, renamed, {head_urn: base_urn}) == []


@pytest.mark.cli
def test_a_new_violation_from_the_gate_is_at_risk(tmp_path: Path, bundled_plan: Any) -> None:
    base = bundled_plan("eo4eu")
    resources = copy.deepcopy(base.resources)
    key = next(r for r in resources if r["type"] == "aws:kms/key:Key" and r["name"] == "burst-secrets-key")
    key["protect"] = False
    write_plan(base, tmp_path / "base.json")
    write_plan(with_resources(base, resources), tmp_path / "head.json")
    done = meridian("diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    risky = at_risk_block(done.stdout)
    [item] = risky
    assert item.startswith(
        "**new policy violation** [mandatory] `stateful-resources-protected` on `burst-secrets-key`: "
    )
    assert item.endswith("aws:kms/key:Key burst-secrets-key holds data or keys but is not protected")
    assert "~ (protect): true => false" in section(done.stdout, "To update")


# -- the topology picture ----------------------------------------------------------------------------------

#: Where `make tools` installs Mermaid's parser; a mutation run's copy of the tree (which leaves
#: ignored files out) is pointed at the tree's own (scripts/mutation.py).
MERMAID = Path(os.environ.get("MERIDIAN_MERMAID") or Path(__file__).resolve().parents[1] / "scripts" / "mermaid")


def mermaid_parse(text: str) -> subprocess.CompletedProcess[str]:
    """Mermaid's own parser (npm `mermaid` under jsdom, `make tools`) over `text`."""
    node = shutil.which("node")
    assert node and (MERMAID / "node_modules" / "mermaid").is_dir(), "run `make tools` (node and npm mermaid)"
    return subprocess.run(
        [node, str(MERMAID / "parse.mjs")], input=text, capture_output=True, text=True, check=False, timeout=120
    )


def diagram(report: str) -> str:
    lines = report.splitlines()
    start = lines.index("```mermaid")
    return "\n".join(lines[start + 1 : lines.index("```", start)])


def test_the_topology_parses_and_styles_what_the_change_adds_and_removes(tmp_path: Path, bundled_plan: Any) -> None:
    def reshape(platform: dict[str, Any]) -> None:
        core = platform["clusters"]["core"]
        core["node_pools"]["batch"] = {"flavor": "eo1.xlarge", "min_size": 1, "max_size": 2}
        del platform["clusters"]["burst"]["addons"]["jupyterhub"]

    base, head = bundled_plan("eo4eu"), edited(tmp_path, reshape)
    text = diagram(markdown(diff_plans(base, head), base, head))
    parsed = mermaid_parse(text)
    assert parsed.returncode == 0 and parsed.stdout.strip() == "flowchart-v2", parsed.stderr
    classes = {line.split()[2]: line.split()[1].split(",") for line in text.splitlines() if line.startswith("  class ")}
    [batch] = [line.split("[")[0].strip() for line in text.splitlines() if '["pool batch"]' in line]
    [hub] = [line.split("[")[0].strip() for line in text.splitlines() if '["JupyterHub"]' in line and "burst" in line]
    assert batch in classes["added"] and hub in classes["removed"]
    # The sites hold their clusters; the burst cluster's collector pushes to the central one.
    assert '["ewc-bologna (openstack)"]' in text and '["burst: eks 1.34"]' in text
    assert any(" -. metrics, logs .-> " in line for line in text.splitlines())


def test_the_topology_styles_a_removed_site_and_draws_an_aliased_rename_once(tmp_path: Path, bundled_plan: Any) -> None:
    from scripts.topology import mermaid

    def node_of(text: str, label: str) -> str:
        [found] = [line.split("[")[0].split()[-1] for line in text.splitlines() if f'["{label}"]' in line]
        return found

    def styled(text: str) -> dict[str, list[str]]:
        return {
            line.split()[2]: line.split()[1].split(",") for line in text.splitlines() if line.startswith("  class ")
        }

    def without_burst(platform: dict[str, Any]) -> None:
        del platform["clusters"]["burst"]
        del platform["sites"]["aws-frankfurt"]
        platform["clusters"]["core"]["api_cidrs"] = []  # it named the AWS site's egress

    base, head = bundled_plan("eo4eu"), edited(tmp_path, without_burst)
    text = mermaid(diff_plans(base, head), base, head)
    assert mermaid_parse(text).returncode == 0
    assert node_of(text, "aws-frankfurt (aws)") in styled(text)["removed"]
    assert node_of(text, "ewc-bologna (openstack)") not in styled(text).get("removed", [])

    # The a100 pool component renamed with its alias: its machines follow it (a child's URN holds
    # its parent's type, not its name, so theirs stay).
    resources = copy.deepcopy(base.resources)
    [pool] = [r for r in resources if r["type"] == "meridian:clusters:NodePool" and r["name"] == "core-a100"]
    old_urn = pool["urn"]
    pool["urn"], pool["name"] = old_urn.rsplit("::", 1)[0] + "::core-gpu", "core-gpu"
    pool["aliases"] = [{"name": "core-a100"}]
    for resource in resources:
        if resource.get("parent") == old_urn:
            resource["parent"] = pool["urn"]
    renamed = with_resources(base, resources)
    result = diff_plans(base, renamed)
    assert result.moved == {pool["urn"]: old_urn}
    text = mermaid(result, base, renamed)
    assert mermaid_parse(text).returncode == 0
    assert node_of(text, "pool a100 → pool gpu") in styled(text)["changed"]
    assert "removed" not in styled(text) and "added" not in styled(text)

    # A cluster renamed with its alias (its children follow): drawn removed beside added, never a crash.
    resources = copy.deepcopy(base.resources)
    [burst] = [r for r in resources if r["type"] == "meridian:clusters:KubernetesCluster" and r["name"] == "burst"]
    old_urn = burst["urn"]
    burst["urn"], burst["name"], burst["aliases"] = old_urn.rsplit("::", 1)[0] + "::cloud", "cloud", [{"name": "burst"}]
    for resource in resources:
        if resource.get("parent") == old_urn:
            resource["parent"] = burst["urn"]
    renamed = with_resources(base, resources)
    text = mermaid(diff_plans(base, renamed), base, renamed)
    assert mermaid_parse(text).returncode == 0


def test_the_topology_of_every_bundled_stack_parses(bundled_plan: Any) -> None:
    from scripts.harness import bundled_stacks
    from scripts.topology import mermaid

    texts = [
        mermaid(diff_plans(bundled_plan(s), bundled_plan(s)), bundled_plan(s), bundled_plan(s))
        for s in bundled_stacks()
    ]
    for text in texts:
        assert "classDef" not in text  # nothing changed, nothing styled
    # One parser run per diagram; a broken copy is refused with Mermaid's own message.
    for text in texts:
        done = mermaid_parse(text)
        assert done.returncode == 0, done.stderr
    broken = mermaid_parse(texts[0].replace('["', '[" ', 1).replace('"]', "", 1))
    assert broken.returncode == 1 and "Parse error" in broken.stderr


# -- inside Helm releases ------------------------------------------------------------------------------


def _manifest(*documents: dict[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(document) for document in documents)


def test_rendered_objects_are_matched_by_kind_and_name_and_secret_data_stays_hidden() -> None:
    from scripts.objectdiff import object_changes

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hub", "namespace": "jupyterhub"},
        "spec": {"replicas": 1},
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub", "namespace": "jupyterhub"}}
    old_secret = {**secret, "data": {"token": "b2xk", "hub.config.x": "b2xk"}}
    new_secret = {**secret, "data": {"token": "bmV3", "hub.config.x": "bmV3"}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "proxy", "namespace": "jupyterhub"}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "hub"}}
    base = {"lab.lab-jupyterhub": _manifest(deployment, old_secret, service)}
    head = {
        "lab.lab-jupyterhub": _manifest({**deployment, "spec": {"replicas": 2}}, new_secret, monitor),
        "lab.lab-new": _manifest(service),
    }
    found = [(c.release, c.operation, c.kind, c.name, c.changes) for c in object_changes(base, head)]
    # In the API server's order: core group first, then by group, kind, namespace and name.
    assert found == [
        (
            "lab.lab-jupyterhub",
            "update",
            "v1/Secret",
            "jupyterhub/hub",
            # Dotted or quoted (a key with dots: z2jh's hub Secret), shown as [secret] either way.
            [
                PropertyChange('data["hub.config.x"]', "[secret]", "[secret]", "update"),
                PropertyChange("data.token", "[secret]", "[secret]", "update"),
            ],
        ),
        ("lab.lab-jupyterhub", "delete", "v1/Service", "jupyterhub/proxy", []),
        (
            "lab.lab-jupyterhub",
            "update",
            "apps/v1/Deployment",
            "jupyterhub/hub",
            [PropertyChange("spec.replicas", 1, 2, "update")],
        ),
        ("lab.lab-jupyterhub", "create", "monitoring.coreos.com/v1/ServiceMonitor", "hub", []),
        ("lab.lab-new", "create", "v1/Service", "jupyterhub/proxy", []),
    ]


def test_objects_are_the_same_across_api_versions_and_an_implicit_namespace() -> None:
    """What the API server calls one object: a new API version or a namespace made explicit changes a field."""
    from scripts.objectdiff import object_changes

    budget = {"kind": "PodDisruptionBudget", "metadata": {"name": "hub"}, "spec": {"minAvailable": 1}}
    before = {**budget, "apiVersion": "policy/v1beta1"}
    after = {**budget, "apiVersion": "policy/v1", "metadata": {"name": "hub", "namespace": "jupyterhub"}}
    [change] = object_changes({"lab.hub": _manifest(before)}, {"lab.hub": _manifest(after)}, {"lab.hub": "jupyterhub"})
    assert (change.operation, change.kind, change.name) == ("update", "policy/v1/PodDisruptionBudget", "jupyterhub/hub")
    assert change.changes == [
        PropertyChange("apiVersion", "policy/v1beta1", "policy/v1", "update"),
        PropertyChange("metadata.namespace", None, "jupyterhub", "add"),
    ]
    # Rendered without a namespace it is the release's: in another namespace, another object.
    moved = object_changes({"lab.hub": _manifest(before)}, {"lab.hub": _manifest(after)}, {"lab.hub": "research"})
    assert sorted(c.operation for c in moved) == ["create", "delete"]
    # Another group's kind of the same name is another object.
    other = {**after, "apiVersion": "example.org/v1"}
    operations = sorted(c.operation for c in object_changes({"r": _manifest(before)}, {"r": _manifest(other)}))
    assert operations == ["create", "delete"]


def test_crds_from_a_charts_crds_folder_are_never_upgraded_nor_deleted_by_helm(bundled_plan: Any) -> None:
    """Helm installs crds/ with the release only (Helm docs, chart best practices, Custom Resource Definitions)."""
    from scripts.objectdiff import object_changes

    def crd(name: str, version: str) -> str:
        document = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"versions": [{"name": version}]},
        }
        return f"---\n# Source: chart/crds/{name}.yaml\n{yaml.safe_dump(document)}"

    base = {"core.core-x": crd("a.example.org", "v1") + crd("gone.example.org", "v1")}
    head = {"core.core-x": crd("a.example.org", "v2") + crd("new.example.org", "v1")}
    objects = object_changes(base, head, {"core.core-x": "x"})
    assert [(o.operation, o.name, o.crds_dir) for o in objects] == [
        ("update", "a.example.org", True),
        ("delete", "gone.example.org", True),
        ("create", "new.example.org", True),
    ]
    plan = bundled_plan("eo4eu")
    risky = at_risk_block(markdown(diff_plans(plan, plan), plan, plan, objects=objects))
    tail = "comes from the chart's `crds/`, which Helm installs with the release and never upgrades: apply it yourself"
    # The update and the new CRD are not applied; the removed one stays (nothing lost, nothing at risk).
    assert [item.split(": ", 1)[1] for item in risky] == [
        f"`CustomResourceDefinition` `a.example.org` {tail} (`kubectl apply --server-side`)",
        f"`CustomResourceDefinition` `new.example.org` {tail} (`kubectl apply --server-side`)",
    ]


def test_deleting_a_claim_or_a_crd_inside_a_release_is_at_risk(bundled_plan: Any) -> None:
    from scripts.objectdiff import object_changes

    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "db", "namespace": "mlflow"}}
    kept = {
        **claim,
        "metadata": {"name": "cache", "namespace": "mlflow", "annotations": {"helm.sh/resource-policy": "keep"}},
    }
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.io"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "mlflow"}}
    objects = object_changes({"core.core-mlflow": _manifest(claim, kept, crd, config)}, {"core.core-mlflow": ""})
    assert len(objects) == 4
    plan = bundled_plan("eo4eu")
    report = markdown(diff_plans(plan, plan), plan, plan, objects=objects)
    # The ConfigMap is rebuilt from the chart, the kept claim stays: neither is at risk.
    assert at_risk_block(report) == [
        "**delete** inside release `core.core-mlflow`: `PersistentVolumeClaim` `mlflow/db`: its volume goes with it "
        "(the StorageClass reclaim policy, Delete by default)",
        "**delete** inside release `core.core-mlflow`: `CustomResourceDefinition` `x.io`: deleting a CRD deletes "
        "every object of its kind",
    ]


@pytest.mark.cli
def test_a_values_change_shows_inside_the_release_it_changes(tmp_path: Path) -> None:
    def change(platform: dict[str, Any]) -> None:
        platform["observability"]["buffer_minutes"] = 240
        platform["clusters"]["core"]["addons"]["jupyterhub"]["profiles"]["small"]["cpu"] = 4

    head = write_edited(tmp_path, "eo4eu", change)
    rendered = meridian("render", "eo4eu", "--out", str(tmp_path / "base"))
    assert rendered.returncode == 0, rendered.stderr
    done = meridian(
        "diff", "eo4eu", str(head), "--format", "markdown", "--render",
        "--base-manifests", str(tmp_path / "base"), "--no-policies",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inside = section(done.stdout, "Inside Helm releases")
    # The hub's profile lives in its Secret's values: the chart's checksum of it rolls the hub Deployment.
    hub = inside[inside.index("#### `core.core-jupyterhub`") :]
    assert "- update `apps/v1/Deployment` `hub`" in hub
    assert "~ spec.template.metadata.annotations.checksum/secret: " in hub
    # ... and the Secret's data is compared, never shown.
    assert '~ data["values.yaml"]: [secret] => [secret]' in hub
    assert "Q2hhcnQ6" not in done.stdout  # the base64 of the values.yaml the Secret holds
    # The collector's WAL buffer is an argument of the PrometheusAgent the chart renders, on both clusters.
    for cluster in ("burst", "core"):
        assert f"#### `{cluster}.{cluster}-kube-prometheus-stack`" in inside
    assert inside.count('~ spec.additionalArgs[0].value: "180m" => "240m"') == 2
    assert "`monitoring.coreos.com/v1alpha1/PrometheusAgent` `monitoring/kube-prometheus-stack-prometheus`" in inside
    # A plan file cannot be rendered: its manifests are asked for.
    write_plan(evaluate("eo4eu"), tmp_path / "base.json")
    refused = meridian("diff", str(tmp_path / "base.json"), "eo4eu", "--format", "markdown", "--render")
    assert refused.returncode == 2 and "pass its manifests" in refused.stderr


# -- capacity and cost ---------------------------------------------------------------------------------

#: The example's flavors, as a site operator declares them (the Bologna cloud's internal rates).
FLAVORS = {
    "eo1.large": {"vcpus": 4, "memory_gib": 16, "price_per_hour": 0.12},
    "eo1.xlarge": {"vcpus": 8, "memory_gib": 32, "price_per_hour": 0.24},
    "vm.a100.1gpu": {"vcpus": 16, "memory_gib": 120, "price_per_hour": 2.5},
}


def test_the_capacity_output_says_what_each_pool_offers_and_costs(tmp_path: Path) -> None:
    def priced(platform: dict[str, Any]) -> None:
        platform["sites"]["ewc-bologna"]["flavors"] = FLAVORS

    plan = edited(tmp_path, priced)
    capacity = plan.outputs["capacity"]
    assert capacity["core"]["a100"] == {
        "flavor": "vm.a100.1gpu", "vcpus": 16, "memory_gib": 120, "price_per_hour": 2.5, "price_source": "site",
        "price_as_of": None,
        "currency": "EUR",
        # rke2 pools are fixed-size (clusters/rke2.py makes initial_size machines): min_size 1 both ways.
        "min": 1, "max": 1,
        "gpu": {"model": "A100-80GB", "sharing": "MIG all-1g.10gb", "per_node": {"nvidia.com/gpu": 7}},
    }  # fmt: skip
    assert capacity["core"]["control-plane"]["min"] == capacity["core"]["control-plane"]["max"] == 3
    # AWS sizes from Meridian's table (the EC2 instance type pages); the price from Meridian's dated
    # on-demand catalogue (components/spec/aws-prices.json: g6e.12xlarge in eu-central-1, USD).
    assert capacity["burst"]["l40s"] == {
        "flavor": "g6e.12xlarge", "vcpus": 48, "memory_gib": 384, "price_per_hour": 13.12002,
        "price_source": "aws-catalogue", "price_as_of": "2025, before June", "currency": "USD",
        "min": 0, "max": 6, "gpu": {"model": "L40S", "sharing": "whole", "per_node": {"nvidia.com/gpu": 4}},
    }  # fmt: skip


def test_a_resized_gpu_pool_shows_its_capacity_and_cost_delta(tmp_path: Path) -> None:
    def priced(platform: dict[str, Any]) -> None:
        platform["sites"]["ewc-bologna"]["flavors"] = FLAVORS

    def resized(platform: dict[str, Any]) -> None:
        priced(platform)
        platform["clusters"]["core"]["node_pools"]["a100"]["min_size"] = 2

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base, head = edited(tmp_path / "a", priced), edited(tmp_path / "b", resized)
    table = section(markdown(diff_plans(base, head), base, head), "Capacity and cost")
    rows = {line.split(" | ")[0].removeprefix("| "): line.split(" | ")[1:] for line in table.splitlines()[4:]}
    # core (rke2, fixed-size pools): 3 control-plane eo1.large, 3 services eo1.xlarge, 1 (then 2)
    # a100, whatever max_size says; burst (eks) scales between its sizes and is unpriced.
    month = 730
    before = (3 * 0.12 + 3 * 0.24 + 1 * 2.5) * month
    after = (3 * 0.12 + 3 * 0.24 + 2 * 2.5) * month
    # A range whose ends meet is one number.
    assert rows["cost per month (EUR) **(changed)**"] == [f"{before:,.0f}", f"{after:,.0f} |"]
    assert rows["GPUs A100-80GB (MIG all-1g.10gb): nvidia.com/gpu **(changed)**"] == ["7", "14 |"]
    # vCPUs: core 3x4 + 3x8 + 1x16 (2x16 after); burst system 2..4x4 + l40s 0..6x48.
    assert rows["vCPUs **(changed)**"] == [
        f"{12 + 24 + 16 + 8} to {12 + 24 + 16 + 16 + 288}",
        f"{12 + 24 + 32 + 8} to {12 + 24 + 32 + 16 + 288} |",
    ]
    # The burst cluster (eks, eu-central-1) is priced from the catalogue, in its own currency:
    # system m6i.xlarge 2..4 at 0.23, l40s g6e.12xlarge 0..6 at 13.12002 (USD per hour).
    low, high = 2 * 0.23 * month, (4 * 0.23 + 6 * 13.12002) * month
    assert rows["cost per month (USD)"] == [f"{low:,.0f} to {high:,.0f}", f"{low:,.0f} to {high:,.0f} |"]
    assert rows["pools unpriced"] == ["0", "0 |"]
    assert "else AWS on-demand list prices as of 2025, before June: Meridian's catalogue" in table
    # After a refresh, each side's prices are dated by the catalogue that priced them.
    refreshed = copy.deepcopy(head)
    for pools in refreshed.outputs["capacity"].values():
        for pool in pools.values():
            if pool["price_source"] == "aws-catalogue":
                pool["price_as_of"] = "2026-11"
    note = section(markdown(diff_plans(base, refreshed), base, refreshed), "Capacity and cost")
    assert "list prices as of 2025, before June (before), then 2026-11: Meridian's catalogue" in note


def test_a_removed_protected_volume_is_at_risk(bundled_plan: Any) -> None:
    head = bundled_plan("eo4eu")
    site = next(r for r in head.resources if r["type"] == "pulumi:providers:openstack")
    volume = {
        **copy.deepcopy(next(r for r in head.resources if r["name"] == "core-metrics")),
        "type": "openstack:blockstorage/volume:Volume",
        "name": "core-archive",
        "inputs": {"name": "core-archive", "size": 500},
        "protect": True,
        "retain_on_delete": False,
        "provider": f"{site['urn']}::id",
    }
    volume["urn"] = volume["urn"].rsplit("::", 2)[0] + "::openstack:blockstorage/volume:Volume::core-archive"
    base = with_resources(head, [*head.resources, volume])
    report = markdown(diff_plans(base, head), base, head)
    assert at_risk_block(report) == [
        "**delete** `openstack:blockstorage/volume:Volume` `core-archive`: protected: `pulumi up` refuses until it "
        "is unprotected; holds data or keys"
    ]


# -- fitting a comment -------------------------------------------------------------------------------------


def _blocks(text: str) -> tuple[list[str], str]:
    """CommonMark's reading of `text` (markdown-it-py): every code block's content, and the last top-level block."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    fences = [t.content for t in tokens if t.type in ("fence", "code_block")]
    top = [t for t in tokens if t.level == 0 and not t.type.endswith("_close")]
    last = top[-1]
    inline = tokens[tokens.index(last) + 1] if last.type == "paragraph_open" else last
    return fences, f"{last.type}:{inline.content}"


def test_a_report_too_long_for_a_comment_is_cut_between_blocks(bundled_plan: Any) -> None:
    from scripts.diffreport import CUT_NOTE, FitError, fit

    base = bundled_plan("eo4eu")
    resources = copy.deepcopy(base.resources)
    for resource in resources:
        resource["inputs"]["description"] = "x" * 200
    # A multi-line text showing HTML and a fence of its own: a diff line `</details>` is text.
    config = next(r for r in resources if r["type"] == "kubernetes:core/v1:ConfigMap")
    config["inputs"]["data"] = {"page.html": "<details>\n</details>\n```\nnew\n" * 40}
    head = with_resources(base, resources)
    report = markdown(diff_plans(base, head), base, head)
    whole_fences, _ = _blocks(report)
    assert len(report) > 20_000 and any("</details>" in f for f in whole_fences)
    note = "_cut: see the artifact_"
    for limit in range(1_000, len(report), 997):
        cut = fit(report, limit, note)
        assert len(cut) <= limit, limit
        assert cut.splitlines()[0] == marker("eo4eu")
        fences, last = _blocks(cut)
        # The note is the last top-level paragraph, outside every code block and section ...
        assert last == f"paragraph_open:{note}", (limit, last)
        # ... and every code block kept is whole: one of the report's own (the diagram too).
        assert all(fence in whole_fences for fence in fences), limit
        # Whole lines of the report, then only closing tags.
        body = cut.removesuffix(f"\n{note}\n").splitlines()
        while body and body[-1] == "</details>":
            body.pop()
        assert report.startswith("\n".join(body) + "\n"), limit
    assert fit(report, len(report)) == report
    assert fit(report, 2_000).endswith(f"\n{CUT_NOTE}\n")
    with pytest.raises(FitError):
        fit(report, 60)


def test_a_multi_line_text_change_is_its_own_diff_inside_the_block() -> None:
    from scripts.diffreport import _property_lines

    old = "server:\n  port: 80\n  host: a\n"
    new = "server:\n  port: 8080\n  host: a\n"
    lines = _property_lines([PropertyChange('data["app.yaml"]', old, new, "update")])
    # Sign first (GitHub and GitLab colour the line), the text's own indentation kept after it.
    assert lines == [
        '~ data["app.yaml"]:',
        "@@ -1,3 +1,3 @@",
        "    server:",
        "-     port: 80",
        "+     port: 8080",
        "      host: a",
    ]


def test_free_text_cannot_become_html_or_end_a_code_span(bundled_plan: Any) -> None:
    from scripts.diffreport import NewViolation, _code

    plan = bundled_plan("eo4eu")
    urn = plan.resources[-1]["urn"]
    violation = NewViolation("p`x", "advisory", urn, "value <script>alert(1)</script> & more")
    [item] = at_risk_block(markdown(diff_plans(plan, plan), plan, plan, [violation]))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in item and "<script>" not in item
    assert "`` p`x ``" in item
    assert _code("a") == "`a`" and _code("a``b") == "``` a``b ```"


def test_a_pool_of_unknown_memory_is_not_sized_and_equal_costs_are_unchanged(bundled_plan: Any) -> None:
    from scripts.diffreport import capacity_section

    base = bundled_plan("eo4eu")
    capacity = copy.deepcopy(base.outputs["capacity"])
    # An EC2 pool, sized from Meridian's table: its memory made unknown, its vCPUs still known.
    pool = capacity["burst"]["system"]
    assert pool["vcpus"] and pool["memory_gib"]
    pool["memory_gib"] = None
    head = Plan(
        project=base.project, stack=base.stack, resources=base.resources, outputs={**base.outputs, "capacity": capacity}
    )
    rows = {
        line.split(" | ")[0].removeprefix("| "): line.split(" | ")[1:] for line in capacity_section(base, head)[6:-1]
    }
    before = int(rows["pools not sized **(changed)**"][0])
    assert rows["pools not sized **(changed)**"] == [str(before), f"{before + 1} |"]
    # The same prices summed in another order: the same figure, not a change (the raw sums differ
    # in their last bits for these prices).
    from scripts.diffreport import _capacity_totals

    priced = copy.deepcopy(base.outputs["capacity"])
    prices = iter([1.354, 1.958, 2.368, 0.291, 0.095])
    for pools in priced.values():
        for entry in pools.values():
            entry["price_per_hour"], entry["currency"] = next(prices), "EUR"
    flipped = {name: dict(reversed(list(pools.items()))) for name, pools in reversed(list(priced.items()))}
    one, two = (
        Plan(project=base.project, stack=base.stack, resources=base.resources, outputs={**base.outputs, "capacity": c})
        for c in (priced, flipped)
    )
    assert _capacity_totals(one) != _capacity_totals(two)
    assert not any("(changed)" in line for line in capacity_section(one, two))


def test_a_pool_renamed_with_its_alias_keeps_its_machines_and_their_old_labels(
    tmp_path: Path, bundled_plan: Any
) -> None:
    """The machines are the same (matched by alias), their user data still says pool a100."""

    def rename(platform: dict[str, Any]) -> None:
        pools = platform["clusters"]["core"]["node_pools"]
        pools["gpu"] = pools.pop("a100")
        platform["clusters"]["core"]["addons"]["jupyterhub"]["profiles"]["a100-slice"]["gpu"]["pool"] = "gpu"
        platform["mlops"]["workflows"]["templates"]["train-a100-slice"]["gpu"]["pool"] = "gpu"

    base, head = bundled_plan("eo4eu"), edited(tmp_path, rename)
    # What the program would declare with the rename: aliases to the old names.
    for resource in head.resources:
        if resource["name"] == "core-gpu" or resource["name"].startswith("core-gpu-"):
            resource["aliases"] = [{"name": resource["name"].replace("core-gpu", "core-a100", 1)}]
    result = diff_plans(base, head)
    assert any(urn.endswith("::core-gpu-0") for urn in result.moved)
    risky = [item for item in at_risk(result, base, head) if "pool" in item]
    assert risky == [
        '**not applied** cluster `core` pool `a100` → `gpu` (node_labels[2] "meridian.io/pool=a100" → '
        '"meridian.io/pool=gpu"): its 1 existing machines keep the `userData` they were created with (secret, '
        "ignored after creation); existing nodes change only when replaced"
    ]


def test_the_topology_draws_who_builds_a_capi_cluster(tmp_path: Path, bundled_plan: Any) -> None:
    """destine-extremes' capi cluster, drawn with an arrow from the cluster whose Cluster API builds it."""

    def on_rke2(platform: dict[str, Any]) -> None:
        kajaani = platform["clusters"]["extremes-kajaani"]
        kajaani["backend"] = "rke2"
        for key in ("management_cluster", "image"):
            del kajaani[key]

    base, head = edited_stack(tmp_path, "destine-extremes", on_rke2), bundled_plan("destine-extremes")
    text = diagram(markdown(diff_plans(base, head), base, head))
    assert mermaid_parse(text).returncode == 0
    arrows = [line for line in text.splitlines() if " -. cluster api .-> " in line]
    [arrow] = arrows
    labels = dict(re.findall(r'(n_\w+)\["([^"]*)"\]', text))
    source, target = (part.strip() for part in arrow.split(" -. cluster api .-> "))
    assert labels[source] == "extremes-bologna: rke2 1.34"
    assert labels[target] == "extremes-kajaani: capi 1.34"
