"""`meridian diff`: changes between two plans, matched by URN and alias as the engine matches them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_support import PROVIDER_URN, provider_resource, resource
from pulumi.runtime import rpc
from test_cli import BAD_INPUT, meridian

from scripts.diff import DiffError, PropertyChange, compare, diff_plans, render
from scripts.harness import SECRET, STACKS, Plan, redact, write_plan
from scripts.paths import path_segments

SERVER = "openstack:compute/instance:Instance"
SUBNET = "openstack:networking/subnet:Subnet"
KEY = "aws:kms/key:Key"


def plan(*resources: dict[str, Any], stack: str = "test") -> Plan:
    return Plan(project="meridian", stack=stack, resources=list(resources))


def server(name: str = "core-server-0", **inputs: Any) -> dict[str, Any]:
    return resource(
        SERVER,
        name,
        {"flavorName": "eo1.large", "imageName": "Ubuntu-24.04", "userData": SECRET} | inputs,
        secret_paths=["userData"],
        ignore_changes=["userData", "availabilityZone"],
    )


def test_identical_plans_change_nothing() -> None:
    result = diff_plans(plan(server()), plan(server()))
    assert result.changes == []
    assert result.unchanged == 1
    assert result.unchanged_with_secrets == 1


def test_an_input_change_is_an_update_with_its_path_and_values() -> None:
    result = diff_plans(plan(server()), plan(server(flavorName="eo1.xlarge")))
    [change] = result.changes
    assert (change.operation, change.name) == ("update", "core-server-0")
    assert change.changes == [PropertyChange("flavorName", "eo1.large", "eo1.xlarge", "update")]
    # userData is secret but ignored by the engine, so it is not flagged as "not compared".
    assert change.notes == []


def test_paths_named_by_ignore_changes_are_skipped_like_the_engine_skips_them() -> None:
    result = diff_plans(plan(server(availabilityZone="nova")), plan(server(availabilityZone="az2")))
    assert result.changes == []
    # ... and reported apart: the spec changed, the cloud will not (the reviewer must see it).
    [ignored] = result.ignored
    assert (ignored.name, ignored.changes) == (
        "core-server-0",
        [PropertyChange("availabilityZone", "nova", "az2", "update")],
    )
    assert "Not applied (the resource's ignore_changes keeps the old value):" in render(result)
    assert '~ availabilityZone: "nova" => "az2"' in render(result)
    assert result.to_json()["ignored"] == [
        {
            "operation": "update",
            "urn": ignored.urn,
            "type": SERVER,
            "name": "core-server-0",
            "old_urn": None,
            "changes": [{"path": "availabilityZone", "kind": "update", "old": "nova", "new": "az2"}],
            "notes": [],
        }
    ]


def test_replace_on_changes_makes_a_replace() -> None:
    before = resource(SUBNET, "net", {"cidr": "10.0.0.0/24", "name": "a"}, replace_on_changes=["cidr"])
    after = resource(SUBNET, "net", {"cidr": "10.0.1.0/24", "name": "a"}, replace_on_changes=["cidr"])
    [change] = diff_plans(plan(before), plan(after)).changes
    assert change.operation == "replace"
    assert change.notes == ["replace_on_changes: cidr"]


def test_a_rename_with_its_alias_is_the_same_resource() -> None:
    renamed = server("core-cp-0", flavorName="eo1.xlarge") | {"aliases": [{"name": "core-server-0"}]}
    [change] = diff_plans(plan(server()), plan(renamed)).changes
    assert change.operation == "update"
    assert change.old_urn == "urn:pulumi:test::meridian::openstack:compute/instance:Instance::core-server-0"
    assert [c.path for c in change.changes] == ["flavorName"]


def test_a_rename_without_an_alias_deletes_and_creates() -> None:
    result = diff_plans(plan(server()), plan(server("core-cp-0")))
    assert sorted((c.operation, c.name) for c in result.changes) == [
        ("create", "core-cp-0"),
        ("delete", "core-server-0"),
    ]


def test_deleting_a_protected_resource_says_the_engine_will_refuse() -> None:
    key = resource(KEY, "secrets-key", {"enableKeyRotation": True}, protect=True)
    [change] = diff_plans(plan(key), plan()).changes
    assert change.operation == "delete"
    assert "protected" in change.notes[0]


def test_changed_options_are_changes() -> None:
    before = resource(KEY, "secrets-key", {"enableKeyRotation": True}, protect=True)
    after = resource(KEY, "secrets-key", {"enableKeyRotation": True}, protect=False)
    [change] = diff_plans(plan(before), plan(after)).changes
    assert change.changes == [PropertyChange("(protect)", True, False, "update")]


def test_property_paths_quote_keys_as_pulumi_does() -> None:
    changes = compare({"labels": {"meridian.io/pool": "cpu"}, "ports": [1, 2]}, {"labels": {}, "ports": [1, 3, 4]})
    assert changes == [
        PropertyChange('labels["meridian.io/pool"]', "cpu", None, "delete"),
        PropertyChange("ports[1]", 2, 3, "update"),
        PropertyChange("ports[2]", None, 4, "add"),
    ]


def test_a_value_that_became_secret_is_never_printed() -> None:
    before = resource(SUBNET, "net", {"description": "hunter2-plain"})
    after = resource(SUBNET, "net", {"description": SECRET}, secret_paths=["description"])
    result = diff_plans(plan(before), plan(after))
    assert "hunter2-plain" not in render(result)
    assert "hunter2-plain" not in json.dumps(result.to_json())
    assert result.changes[0].changes == [PropertyChange("description", SECRET, SECRET, "update")]


def test_multiline_strings_show_as_a_line_diff() -> None:
    before = resource(SUBNET, "net", {"description": "a\nb\nc\n"})
    after = resource(SUBNET, "net", {"description": "a\nB\nc\n"})
    text = render(diff_plans(plan(before), plan(after)))
    assert "            -b" in text.splitlines()
    assert "            +B" in text.splitlines()


def test_plans_of_different_stacks_are_refused() -> None:
    with pytest.raises(DiffError, match="different stacks"):
        diff_plans(plan(stack="eo4eu"), plan(stack="climres"))


# -- the command, end to end over a bundled stack -------------------------------------------------------


def _edited_eo4eu(tmp_path: Path) -> Path:
    document = yaml.safe_load((STACKS / "Pulumi.eo4eu.yaml").read_text(encoding="utf-8"))
    platform = document["config"]["meridian:platform"]
    platform["clusters"]["core"]["node_pools"]["services"]["flavor"] = "eo1.2xlarge"
    platform["clusters"]["burst"]["node_pools"]["l40s"]["max_size"] = 8
    path = tmp_path / "Pulumi.eo4eu.yaml"
    # In the file's order: the hub's profiles are listed in the order the stack file gives them.
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.cli
def test_diff_command_over_an_edited_stack(tmp_path: Path, bundled_plan: Any) -> None:
    base = tmp_path / "base.json"
    write_plan(bundled_plan("eo4eu"), base)
    done = meridian("diff", str(base), str(_edited_eo4eu(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    changed = {(c["operation"], c["name"]): c["changes"] for c in document["changes"]}
    assert set(changed) == {
        ("update", "core-services-0"),
        ("update", "core-services-1"),
        ("update", "core-services-2"),
        ("update", "burst-l40s-nodes"),
    }
    assert changed[("update", "core-services-0")] == [
        {"path": "flavorName", "kind": "update", "old": "eo1.xlarge", "new": "eo1.2xlarge"}
    ]
    assert changed[("update", "burst-l40s-nodes")] == [
        {"path": "scalingConfig.maxSize", "kind": "update", "old": 6, "new": 8}
    ]
    assert document["summary"]["update"] == 4
    assert document["summary"]["same"] == len(bundled_plan("eo4eu").resources) - 1 - 4


@pytest.mark.cli
def test_diff_command_exit_codes(tmp_path: Path, bundled_plan: Any) -> None:
    base = tmp_path / "base.json"
    write_plan(bundled_plan("eo4eu"), base)
    same = meridian("diff", str(base), "eo4eu", "--exit-code")
    assert same.returncode == 0, same.stderr
    assert "No changes" in same.stdout
    other = meridian("diff", str(base), "climres")
    assert other.returncode == BAD_INPUT
    assert "different stacks" in other.stderr
    assert "Traceback" not in other.stderr


def test_a_type_renamed_with_its_alias_in_a_bundled_stack_is_matched(bundled_plan: Any) -> None:
    """The rke2 API load balancer carries an alias to the provider's old type token."""
    head = bundled_plan("eo4eu")
    balancer = head.one("openstack:loadbalancer/loadBalancer:LoadBalancer", "core-api")
    assert balancer["aliases"]
    old_type = balancer["aliases"][0]["type"]
    old = balancer | {"type": old_type, "urn": balancer["urn"].replace(balancer["type"], old_type)}
    base = Plan(head.project, head.stack, [old if r is balancer else r for r in head.resources])
    [change] = diff_plans(base, head).changes
    assert (change.operation, change.old_urn, change.changes) == ("rename", old["urn"], [])


@pytest.mark.parametrize(
    ("pattern", "path", "covered"),
    [
        ("scalingConfig.desiredSize", "scalingConfig.desiredSize", True),
        ("scalingConfig", "scalingConfig.desiredSize", True),
        ("scaling", "scalingConfig", False),
        ("tags[*]", 'tags["meridian.io/pool"]', True),
        ("blockDevices[*].volumeSize", "blockDevices[1].volumeSize", True),
        ("blockDevices[*].volumeSize", "blockDevices[1].uuid", False),
        ('labels["meridian.io/pool"]', 'labels["meridian.io/pool"]', True),
        ("*", "anything.at[3].all", True),
    ],
)
def test_ignore_changes_paths_match_as_the_engine_reads_them(pattern: str, path: str, covered: bool) -> None:
    before = resource(SUBNET, "net", {"x": 1}, ignore_changes=[pattern])
    after = resource(SUBNET, "net", {"x": 1}, ignore_changes=[pattern])
    before["inputs"], after["inputs"] = _nest(path, "old"), _nest(path, "new")
    assert (diff_plans(plan(before), plan(after)).changes == []) is covered


def _nest(path: str, value: Any) -> Any:
    """The inputs in which `path` holds `value` (lists long enough for its indices)."""
    root: dict[str, Any] = {}
    node: Any = root
    segments = path_segments(path)
    for key, following in zip(segments, [*segments[1:], None], strict=True):
        child: Any = value if following is None else [None] * 4 if following.isdigit() else {}
        if isinstance(node, list):
            node[int(key)] = child
        else:
            node[key] = child
        node = child
    return root


# -- aliases as the engine applies them (expected URNs written out, not computed) -------------------------

CLUSTER = "meridian:clusters:KubernetesCluster"
PLATFORM_URN = "urn:pulumi:test::meridian::meridian:index:Platform::eo4eu"


def _under(parent_urn: str, type_: str, name: str, inputs: dict[str, Any], **options: Any) -> dict[str, Any]:
    chain = parent_urn.split("::")[2]
    urn = f"urn:pulumi:test::meridian::{chain}${type_}::{name}"
    return resource(type_, name, inputs, **options) | {"urn": urn, "parent": parent_urn}


def test_children_inherit_their_parents_alias() -> None:
    """Renaming a component with an alias moves its children too (their names' prefix follows)."""
    old_cluster = _under(PLATFORM_URN, CLUSTER, "core", {}, custom=False)
    old_server = _under(old_cluster["urn"], SERVER, "core-server-0", {"flavorName": "eo1.large"})
    new_cluster = _under(PLATFORM_URN, CLUSTER, "main", {}, custom=False, aliases=[{"name": "core"}])
    new_server = _under(new_cluster["urn"], SERVER, "main-server-0", {"flavorName": "eo1.large"})
    result = diff_plans(plan(old_cluster, old_server), plan(new_cluster, new_server))
    assert [(c.operation, c.name, c.old_urn) for c in result.changes] == [
        (
            "rename",
            "main",
            "urn:pulumi:test::meridian::meridian:index:Platform$meridian:clusters:KubernetesCluster::core",
        ),
        (
            "rename",
            "main-server-0",
            "urn:pulumi:test::meridian::meridian:index:Platform$meridian:clusters:KubernetesCluster"
            "$openstack:compute/instance:Instance::core-server-0",
        ),
    ]


def test_an_alias_to_no_parent_matches_a_resource_that_was_top_level() -> None:
    before = resource(SUBNET, "net", {"cidr": "10.0.0.0/24"})
    after = _under(PLATFORM_URN, SUBNET, "net", {"cidr": "10.0.0.0/24"}, aliases=[{"no_parent": True}])
    [change] = diff_plans(plan(before), plan(after)).changes
    assert (change.operation, change.old_urn) == (
        "rename",
        "urn:pulumi:test::meridian::openstack:networking/subnet:Subnet::net",
    )


def test_two_resources_claiming_one_old_resource_is_refused() -> None:
    before = resource(SUBNET, "net", {"cidr": "10.0.0.0/24"})
    kept = resource(SUBNET, "net", {"cidr": "10.0.0.0/24"})
    thief = resource(SUBNET, "net-2", {"cidr": "10.0.1.0/24"}, aliases=[{"name": "net"}])
    with pytest.raises(DiffError, match="both claim"):
        diff_plans(plan(before), plan(kept, thief))


def test_replace_on_changes_never_applies_to_options() -> None:
    before = resource(KEY, "k", {"enableKeyRotation": True}, protect=True, replace_on_changes=["*"])
    after = resource(KEY, "k", {"enableKeyRotation": True}, protect=False, replace_on_changes=["*"])
    [change] = diff_plans(plan(before), plan(after)).changes
    assert change.operation == "update"


def test_a_secret_under_a_dotted_key_stays_hidden() -> None:
    """Secret paths use the same property-path form as the diff (`stringData["config.yaml"]`)."""
    serialized = {"stringData": {"config.yaml": {rpc._special_sig_key: rpc._special_secret_sig, "value": "pw: x"}}}
    secret_paths: list[str] = []
    assert redact(serialized, "", secret_paths) == {"stringData": {"config.yaml": SECRET}}
    assert secret_paths == ['stringData["config.yaml"]']
    before = resource(SUBNET, "cm", {"stringData": {"config.yaml": "pw: hunter2"}})
    after = resource(SUBNET, "cm", {"stringData": SECRET}, secret_paths=secret_paths)
    result = diff_plans(plan(before), plan(after))
    assert "hunter2" not in render(result)
    assert "hunter2" not in json.dumps(result.to_json())


def test_changed_stack_outputs_are_shown() -> None:
    base = Plan("meridian", "test", [], outputs={"clusters": {"core": {"version": "1.33"}}, "kubeconfigs": SECRET})
    head = Plan("meridian", "test", [], outputs={"clusters": {"core": {"version": "1.34"}}, "kubeconfigs": SECRET})
    result = diff_plans(base, head)
    assert result.outputs == [PropertyChange("clusters.core.version", "1.33", "1.34", "update")]
    assert '~ clusters.core.version: "1.33" => "1.34"' in render(result)


def test_a_file_that_is_not_a_plan_is_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "base.json"
    broken.write_text(json.dumps({"project": "meridian", "stack": "eo4eu", "resources": [{"urn": "x"}], "outputs": {}}))
    done = meridian("diff", str(broken), "eo4eu")
    assert done.returncode == BAD_INPUT
    assert f"{broken}: resources[0] lacks" in done.stderr
    assert "Traceback" not in done.stderr


def test_plan_lookups_refuse_an_ambiguous_type_and_name() -> None:
    """Type and name repeat under different parents; `Plan.one` must not pick the first."""
    first = _under(PLATFORM_URN, SUBNET, "net", {})
    second = _under(f"{PLATFORM_URN}-2", SUBNET, "net", {}) | {"urn": "urn:other"}
    with pytest.raises(KeyError, match="expected one"):
        plan(first, second).one(SUBNET, "net")
    assert plan(first, second).within(PLATFORM_URN).resources == [first]
    assert plan(first).one(SUBNET) is first


# -- one scenario with every kind of change, its whole report pinned ----------------------------------


def _every_kind_of_change() -> tuple[Plan, Plan]:
    before = Plan(
        "meridian",
        "test",
        [
            server(),
            server("core-server-1"),
            resource(SUBNET, "net", {"cidr": "10.0.0.0/24", "description": "a\nb\n"}, replace_on_changes=["cidr"]),
            resource(KEY, "secrets-key", {"enableKeyRotation": True}, protect=True),
            resource(SUBNET, "old", {"cidr": "10.9.0.0/24"}),
        ],
        {"clusters": {"core": {"version": "1.33"}}, "kubeconfigs": SECRET},
    )
    after = Plan(
        "meridian",
        "test",
        [
            server(flavorName="eo1.xlarge", labels={"meridian.io/pool": "cpu"}),
            server("core-cp-1") | {"aliases": [{"name": "core-server-1"}]},
            resource(SUBNET, "net", {"cidr": "10.0.1.0/24", "description": "a\nB\n"}, replace_on_changes=["cidr"]),
            resource(SUBNET, "new", {"cidr": "10.8.0.0/24", "password": SECRET}, secret_paths=["password"]),
        ],
        {"clusters": {"core": {"version": "1.34"}}, "kubeconfigs": SECRET},
    )
    return before, after


#: What a reviewer reads for that scenario, line by line (rename, update, replace with its line diff,
#: create, protected and plain deletes, a changed output, the summary; the unchanged secret output
#: and the secret input of the new subnet never shown).
EVERY_KIND_TEXT = """\
Offline diff of stack test:

 >  openstack:compute/instance:Instance  core-cp-1  rename
        (was urn:pulumi:test::meridian::openstack:compute/instance:Instance::core-server-1 (matched by alias))
 ~  openstack:compute/instance:Instance  core-server-0  update
        ~ flavorName: "eo1.large" => "eo1.xlarge"
        + labels: {"meridian.io/pool": "cpu"}
 +- openstack:networking/subnet:Subnet  net  replace
        ~ cidr: "10.0.0.0/24" => "10.0.1.0/24"
        ~ description:
            @@ -1,2 +1,2 @@
             a
            -b
            +B
        (replace_on_changes: cidr)
 +  openstack:networking/subnet:Subnet  new  create
 -  aws:kms/key:Key  secrets-key  delete
        (protected: `pulumi up` refuses to delete it until it is unprotected)
 -  openstack:networking/subnet:Subnet  old  delete

Outputs:
    ~ clusters.core.version: "1.33" => "1.34"

Resources:
    > 1 renamed by alias (same resource)
    ~ 1 to update
    +- 1 to replace
    + 1 to create
    - 2 to delete
    0 unchanged"""


def test_the_whole_report_of_every_kind_of_change() -> None:
    assert render(diff_plans(*_every_kind_of_change())) == EVERY_KIND_TEXT


def test_the_whole_json_of_every_kind_of_change() -> None:
    urn = "urn:pulumi:test::meridian::"
    assert diff_plans(*_every_kind_of_change()).to_json() == {
        "changes": [
            {
                "changes": [],
                "name": "core-cp-1",
                "notes": [
                    "was urn:pulumi:test::meridian::openstack:compute/instance:Instance::core-server-1 "
                    "(matched by alias)"
                ],
                "old_urn": urn + "openstack:compute/instance:Instance::core-server-1",
                "operation": "rename",
                "type": "openstack:compute/instance:Instance",
                "urn": urn + "openstack:compute/instance:Instance::core-cp-1",
            },
            {
                "changes": [
                    {"kind": "update", "new": "eo1.xlarge", "old": "eo1.large", "path": "flavorName"},
                    {"kind": "add", "new": {"meridian.io/pool": "cpu"}, "old": None, "path": "labels"},
                ],
                "name": "core-server-0",
                "notes": [],
                "old_urn": None,
                "operation": "update",
                "type": "openstack:compute/instance:Instance",
                "urn": urn + "openstack:compute/instance:Instance::core-server-0",
            },
            {
                "changes": [
                    {"kind": "update", "new": "10.0.1.0/24", "old": "10.0.0.0/24", "path": "cidr"},
                    {"kind": "update", "new": "a\nB\n", "old": "a\nb\n", "path": "description"},
                ],
                "name": "net",
                "notes": ["replace_on_changes: cidr"],
                "old_urn": None,
                "operation": "replace",
                "type": "openstack:networking/subnet:Subnet",
                "urn": urn + "openstack:networking/subnet:Subnet::net",
            },
            {
                "changes": [],
                "name": "new",
                "notes": [],
                "old_urn": None,
                "operation": "create",
                "type": "openstack:networking/subnet:Subnet",
                "urn": urn + "openstack:networking/subnet:Subnet::new",
            },
            {
                "changes": [],
                "name": "secrets-key",
                "notes": ["protected: `pulumi up` refuses to delete it until it is unprotected"],
                "old_urn": None,
                "operation": "delete",
                "type": "aws:kms/key:Key",
                "urn": urn + "aws:kms/key:Key::secrets-key",
            },
            {
                "changes": [],
                "name": "old",
                "notes": [],
                "old_urn": None,
                "operation": "delete",
                "type": "openstack:networking/subnet:Subnet",
                "urn": urn + "openstack:networking/subnet:Subnet::old",
            },
        ],
        "outputs": [{"kind": "update", "new": "1.34", "old": "1.33", "path": "clusters.core.version"}],
        "ignored": [],
        "stack": "test",
        "summary": {
            "create": 1,
            "delete": 2,
            "rename": 1,
            "replace": 1,
            "same": 0,
            "same_with_secrets": 0,
            "update": 1,
        },
        "verdict": "Changes",
    }


# -- lists, as the engine diffs them ----------------------------------------------------------------------


def test_a_shorter_list_deletes_its_tail_element_by_element() -> None:
    # sdk/go/common/resource/properties_diff.go (PropertyValue.diff): an index past the new
    # array's end is a delete of that element; a value that is no longer (or not yet) an array
    # is one update of the whole value.
    assert compare({"ports": [1, 2, 3]}, {"ports": [1]}) == [
        PropertyChange("ports[1]", 2, None, "delete"),
        PropertyChange("ports[2]", 3, None, "delete"),
    ]
    assert compare({"ports": [1]}, {"ports": None}) == [PropertyChange("ports", [1], None, "update")]
    assert compare({"ports": "1"}, {"ports": [1]}) == [PropertyChange("ports", "1", [1], "update")]


# -- aliases: every URN pulumi/pkg/resource/deploy/step_generator.go generateAliases tries ---------------

STACK_URN = "urn:pulumi:test::meridian::pulumi:pulumi:Stack::meridian-test"
PLATFORM = "meridian:index:Platform"
POOL = "meridian:clusters:NodePool"
OLD_BALANCER = "openstack:loadbalancer/loadBalancer:LoadBalancer"
BALANCER = "openstack:loadbalancer/v2:LoadBalancer"
CHAIN = "urn:pulumi:test::meridian::meridian:index:Platform$meridian:clusters:KubernetesCluster"
NEW_CLUSTER = "meridian:clusters:Cluster"
ADDONS = "meridian:clusters:Addons"
NEW_CHAIN = "urn:pulumi:test::meridian::meridian:index:Platform$meridian:clusters:Cluster"


def _moves(base: Plan, head: Plan) -> list[tuple[str, str, str | None]]:
    return [(c.operation, c.name, c.old_urn) for c in diff_plans(base, head).changes]


def test_urn_aliases_are_tried_in_order_until_one_matches() -> None:
    """An alias may be a whole URN (pulumi docs, resource option `aliases`); the engine tries each in turn."""
    before = resource(SUBNET, "old-net", {"cidr": "10.0.0.0/24"})
    after = resource(
        SUBNET,
        "net",
        {"cidr": "10.0.0.0/24"},
        aliases=[
            "urn:pulumi:test::meridian::openstack:networking/subnet:Subnet::never-existed",
            "urn:pulumi:test::meridian::openstack:networking/subnet:Subnet::old-net",
        ],
    )
    assert _moves(plan(before), plan(after)) == [
        ("rename", "net", "urn:pulumi:test::meridian::openstack:networking/subnet:Subnet::old-net")
    ]


def test_a_spec_alias_of_a_top_level_resource_ignores_the_root_stack_parent() -> None:
    """Top-level resources have the root stack as parent; collapseAliasToUrn drops it (parentIsRootStack)."""
    stack = resource("pulumi:pulumi:Stack", "meridian-test", {}, custom=False, provider=None)
    before = [
        stack,
        resource(SUBNET, "old-net", {}, parent=STACK_URN),
        resource(SUBNET, "old-dmz", {}, parent=STACK_URN),
    ]
    after = [
        stack,
        resource(SUBNET, "net", {}, parent=STACK_URN, aliases=[{"name": "old-net"}]),
        resource(SUBNET, "dmz", {}, parent=STACK_URN, aliases=[{"name": "old-dmz", "parent": STACK_URN}]),
    ]
    subnet = "urn:pulumi:test::meridian::openstack:networking/subnet:Subnet::"
    assert _moves(plan(*before), plan(*after)) == [
        ("rename", "dmz", subnet + "old-dmz"),
        ("rename", "net", subnet + "old-net"),
    ]


def test_an_alias_stack_or_project_counts_only_for_a_resource_without_a_parent() -> None:
    """collapseAliasToUrn: without a parent the URN takes the alias's stack and project; under one,
    resource.CreateURN (sdk/go/common/resource/alias.go) keeps the parent's, whatever the alias says.
    (A base holding another project's URN is synthetic: it pins the URN the engine looks up.)"""
    top = resource(SUBNET, "a", {}) | {"urn": "urn:pulumi:old::legacy::openstack:networking/subnet:Subnet::a"}
    child = _under(PLATFORM_URN, SUBNET, "old-b", {})
    moved_top = resource(SUBNET, "a", {}, aliases=[{"stack": "old", "project": "legacy"}])
    moved_child = _under(
        PLATFORM_URN, SUBNET, "b", {}, aliases=[{"name": "old-b", "stack": "old", "project": "legacy"}]
    )
    assert _moves(plan(top, child), plan(moved_top, moved_child)) == [
        ("rename", "a", "urn:pulumi:old::legacy::openstack:networking/subnet:Subnet::a"),
        ("rename", "b", "urn:pulumi:test::meridian::meridian:index:Platform$openstack:networking/subnet:Subnet::old-b"),
    ]


def test_an_alias_naming_the_old_parent_follows_a_resource_into_another_component() -> None:
    """The pulumi docs' example of aliases: a resource moved under a new parent names the old one."""
    core = _under(PLATFORM_URN, CLUSTER, "core", {}, custom=False)
    burst = _under(PLATFORM_URN, POOL, "burst", {}, custom=False)
    before = _under(core["urn"], SUBNET, "net", {"cidr": "10.0.0.0/24"})
    after = _under(burst["urn"], SUBNET, "net", {"cidr": "10.0.0.0/24"}, aliases=[{"parent": core["urn"]}])
    assert _moves(plan(core, burst, before), plan(core, burst, after)) == [
        ("rename", "net", f"{CHAIN}$openstack:networking/subnet:Subnet::net")
    ]


def test_an_alias_naming_a_parent_that_moved_itself_means_that_parents_old_urn() -> None:
    """collapseAliasToUrn: "If the parent used an alias then use it's old URN here". The SDK awaits
    the URNs of a parent and of an alias's parent before registering a resource, so the engine has
    matched both before it, even where they sort after it (Addons < Cluster here). The component
    changes type, or its children's URNs would not change (a URN holds the parents' types only)."""
    platform = resource(PLATFORM, "eo4eu", {}, custom=False, provider=None)
    main = _under(PLATFORM_URN, ADDONS, "main", {}, custom=False)
    core = _under(PLATFORM_URN, CLUSTER, "core", {}, custom=False)
    core_pool = _under(core["urn"], POOL, "core-pool", {}, custom=False)
    before = _under(core_pool["urn"], SUBNET, "x", {"cidr": "10.0.0.0/24"})
    zeta = _under(PLATFORM_URN, NEW_CLUSTER, "zeta", {}, custom=False, aliases=[{"name": "core", "type": CLUSTER}])
    zeta_pool = _under(zeta["urn"], POOL, "zeta-pool", {}, custom=False)
    after = _under(main["urn"], SUBNET, "x", {"cidr": "10.0.0.0/24"}, aliases=[{"parent": zeta_pool["urn"]}])
    base, head = plan(platform, main, core, core_pool, before), plan(platform, main, after, zeta, zeta_pool)
    assert _moves(base, head) == [
        ("rename", "x", f"{CHAIN}$meridian:clusters:NodePool$openstack:networking/subnet:Subnet::x"),
        ("rename", "zeta", f"{CHAIN}::core"),
        ("rename", "zeta-pool", f"{CHAIN}$meridian:clusters:NodePool::core-pool"),
    ]


def test_children_of_a_renamed_component_try_each_of_their_aliases_under_its_old_urn() -> None:
    """generateAliases multiplies a child's own aliases (URNs too) by its parent's old URN, and
    inheritedChildAlias swaps a leading parent name in each name, an alias's explicit one included;
    a name without that prefix is kept. (The component's type changes too, so every child's URN does.)"""
    core = _under(PLATFORM_URN, CLUSTER, "core", {}, custom=False)
    main = _under(PLATFORM_URN, NEW_CLUSTER, "main", {}, custom=False, aliases=[{"name": "core", "type": CLUSTER}])
    old = [
        _under(core["urn"], SERVER, "core-database", {}),
        _under(core["urn"], SERVER, "bastion", {}),
        _under(core["urn"], OLD_BALANCER, "core-api", {}),
    ]
    new = [
        _under(main["urn"], SERVER, "main-db", {}, aliases=[{"name": "main-database"}]),
        _under(main["urn"], SERVER, "bastion", {}),
        _under(main["urn"], BALANCER, "main-api", {}, aliases=[f"{NEW_CHAIN}${OLD_BALANCER}::main-api"]),
    ]
    platform = resource(PLATFORM, "eo4eu", {}, custom=False, provider=None)
    assert _moves(plan(platform, core, *old), plan(platform, main, *new)) == [
        ("rename", "main", f"{CHAIN}::core"),
        ("rename", "bastion", f"{CHAIN}${SERVER}::bastion"),
        ("rename", "main-db", f"{CHAIN}${SERVER}::core-database"),
        ("rename", "main-api", f"{CHAIN}${OLD_BALANCER}::core-api"),
    ]


def test_a_childs_own_aliases_are_tried_before_the_ones_it_inherits() -> None:
    """generateAliases lists the resource's own aliases first; the engine takes the first that exists."""
    core = _under(PLATFORM_URN, CLUSTER, "core", {}, custom=False)
    inherited = _under(core["urn"], SERVER, "core-a", {})
    top_level = resource(SERVER, "main-a", {})
    main = _under(PLATFORM_URN, CLUSTER, "main", {}, custom=False, aliases=[{"name": "core"}])
    child = _under(main["urn"], SERVER, "main-a", {}, aliases=[{"no_parent": True}])
    assert _moves(plan(core, inherited, top_level), plan(main, child)) == [
        ("rename", "main", f"{CHAIN}::core"),
        ("rename", "main-a", "urn:pulumi:test::meridian::openstack:compute/instance:Instance::main-a"),
        ("delete", "core-a", None),
    ]


def test_a_parent_name_holding_the_name_separator_is_swapped_whole() -> None:
    """A name may contain `::` (sdk/go/common/resource/urn/urn.go Name: all after the third `::`)."""
    core = _under(PLATFORM_URN, CLUSTER, "core::eu", {}, custom=False)
    old_server = _under(core["urn"], SERVER, "core::eu-server", {})
    main = _under(PLATFORM_URN, CLUSTER, "main::eu", {}, custom=False, aliases=[{"name": "core::eu"}])
    new_server = _under(main["urn"], SERVER, "main::eu-server", {})
    assert _moves(plan(core, old_server), plan(main, new_server)) == [
        ("rename", "main::eu", f"{CHAIN}::core::eu"),
        ("rename", "main::eu-server", f"{CHAIN}${SERVER}::core::eu-server"),
    ]


def test_the_refusal_names_both_claimants() -> None:
    """step_generator.go getOldResource: an old resource claimed twice, by URN or alias, is an error."""
    before = resource(SUBNET, "net", {})
    thief = resource(SUBNET, "a-net", {}, aliases=[{"name": "net"}])  # sorts before the owner
    other = resource(SUBNET, "b-net", {}, aliases=[{"name": "net"}])
    subnet = "urn:pulumi:test::meridian::openstack:networking/subnet:Subnet::"
    with pytest.raises(DiffError) as owned:
        diff_plans(plan(before), plan(resource(SUBNET, "net", {}), thief))
    assert str(owned.value) == (
        f"{subnet}a-net and {subnet}net both claim {subnet}net (by URN or alias): "
        "`pulumi preview` fails on such a program"
    )
    with pytest.raises(DiffError) as aliased:
        diff_plans(plan(before), plan(thief, other))
    assert str(aliased.value).startswith(f"{subnet}b-net and {subnet}a-net both claim {subnet}net ")


# -- providers --------------------------------------------------------------------------------------------

OTHER_PROVIDER_URN = "urn:pulumi:test::meridian::pulumi:providers:aws::other"


def test_a_provider_renamed_by_alias_is_the_same_provider_for_its_resources() -> None:
    """step_generator.go providerChanged: a provider whose old URN the new one claimed by alias is
    not a change, whatever its ID (the mocks derive a provider's ID from its name). The provider
    sorts after the subnet here, but the engine registers it before the resources using it."""
    old_provider = provider_resource()
    new_provider = provider_resource(name="site") | {"aliases": [{"name": "site-provider"}]}
    before = resource(SUBNET, "net", {"cidr": "10.0.0.0/24"})
    after = resource(SUBNET, "net", {"cidr": "10.0.0.0/24"}) | {
        "provider": "urn:pulumi:test::meridian::pulumi:providers:aws::site::9f8e7d6c"
    }
    result = diff_plans(plan(old_provider, before), plan(new_provider, after))
    assert [(c.operation, c.name, c.old_urn) for c in result.changes] == [("rename", "site", PROVIDER_URN)]
    assert result.unchanged == 1


def test_a_provider_set_or_swapped_is_a_provider_change() -> None:
    before = [resource(SUBNET, "a", {}, provider=None), resource(SUBNET, "b", {})]
    after = [resource(SUBNET, "a", {}), resource(SUBNET, "b", {}, provider=OTHER_PROVIDER_URN)]
    assert [c.changes for c in diff_plans(plan(*before), plan(*after)).changes] == [
        [PropertyChange("(provider)", None, f"{PROVIDER_URN}::0a1b2c3d", "update")],
        [PropertyChange("(provider)", f"{PROVIDER_URN}::0a1b2c3d", f"{OTHER_PROVIDER_URN}::0a1b2c3d", "update")],
    ]


# -- secrets, notes and counts ----------------------------------------------------------------------------


def test_secrets_on_both_sides_are_noted_as_not_compared() -> None:
    before = resource(
        SUBNET,
        "net",
        {"cidr": "a", "key": "k", "password": SECRET, "token": SECRET},
        secret_paths=["password", "token"],
    )
    after = resource(
        SUBNET,
        "net",
        {"cidr": "b", "key": SECRET, "password": SECRET, "token": SECRET},
        secret_paths=["key", "password", "token"],
    )
    [change] = diff_plans(plan(before), plan(after)).changes
    assert change.changes == [
        PropertyChange("cidr", "a", "b", "update"),
        PropertyChange("key", SECRET, SECRET, "update"),
    ]
    # `key` became secret: its change shows (masked); the other two may hide one.
    assert change.notes == ["secret, not compared: password, token"]


def test_a_secret_added_or_removed_keeps_its_missing_side() -> None:
    before = resource(SUBNET, "net", {"password": SECRET, "description": "x"}, secret_paths=["password"])
    after = resource(SUBNET, "net", {"token": SECRET, "description": SECRET}, secret_paths=["description", "token"])
    result = diff_plans(plan(before), plan(after))
    assert result.changes[0].changes == [
        PropertyChange("description", SECRET, SECRET, "update"),
        PropertyChange("password", SECRET, None, "delete"),
        PropertyChange("token", None, SECRET, "add"),
    ]
    assert render(result).splitlines()[3:6] == [
        "        ~ description: [secret] => [secret]",
        "        - password: [secret]",
        "        + token: [secret]",
    ]


def test_every_replace_on_changes_path_is_named() -> None:
    before = resource(SUBNET, "net", {"cidr": "10.0.0.0/24", "name": "a"}, replace_on_changes=["cidr", "name"])
    after = resource(SUBNET, "net", {"cidr": "10.0.1.0/24", "name": "b"}, replace_on_changes=["cidr", "name"])
    [change] = diff_plans(plan(before), plan(after)).changes
    assert change.notes == ["replace_on_changes: cidr, name"]


def test_a_create_does_not_stop_the_resources_after_it() -> None:
    before = resource(SUBNET, "net", {"cidr": "10.0.0.0/24"})
    after = resource(SUBNET, "net", {"cidr": "10.0.1.0/24"})
    result = diff_plans(plan(before), plan(resource(SUBNET, "a-new", {}), after))
    assert [(c.operation, c.name) for c in result.changes] == [("create", "a-new"), ("update", "net")]


def test_unchanged_resources_are_counted_with_those_holding_secrets() -> None:
    same = [server(), server("core-server-1"), resource(SUBNET, "net", {})]
    result = diff_plans(plan(*same), plan(*same))
    assert (result.unchanged, result.unchanged_with_secrets) == (3, 2)
    assert render(result) == (
        "Offline diff of stack test:\n\n No changes\n\nResources:\n    3 unchanged\n"
        "    (2 of them hold secrets; plans redact secret values, so a changed secret does not show here)"
    )


def test_deleting_a_retained_resource_says_it_stays_in_the_cloud() -> None:
    # pulumi docs, resource option `retainOnDelete`: the delete drops it from the state only.
    key = resource(KEY, "secrets-key", {}, protect=True, retain_on_delete=True)
    [change] = diff_plans(plan(key), plan()).changes
    assert change.notes == [
        "protected: `pulumi up` refuses to delete it until it is unprotected",
        "retain_on_delete: removed from the stack, left in the cloud",
    ]


def test_secret_stack_outputs_hide_both_values() -> None:
    base = Plan("meridian", "test", [], outputs={"kubeconfig": SECRET, "password": "plain"})
    head = Plan("meridian", "test", [], outputs={"password": SECRET, "token": SECRET})
    result = diff_plans(base, head)
    assert result.outputs == [
        PropertyChange("kubeconfig", SECRET, None, "delete"),
        PropertyChange("password", SECRET, SECRET, "update"),
        PropertyChange("token", None, SECRET, "add"),
    ]
    assert render(result).splitlines()[2:8] == [
        " No changes",
        "",
        "Outputs:",
        "    - kubeconfig: [secret]",
        "    ~ password: [secret] => [secret]",
        "    + token: [secret]",
    ]


# -- rendering --------------------------------------------------------------------------------------------


def test_each_kind_of_property_change_renders_as_pinned() -> None:
    before = resource(
        SUBNET,
        "net",
        {
            "count": 1,
            "description": "a\nb\nc\nd\ne",
            "labels": {"z": "1", "a": "2"},
            "notes": "x\ny",
            "userData": "#cloud-config",
        },
    )
    after = resource(
        SUBNET,
        "net",
        {
            "count": "one\ntwo",
            "description": "a\nb\nC\nd\ne",
            "notes": "x",
            "tags": {"b": 1, "a": "two\nlines"},
            "userData": "#cloud-config\nruncmd: []",
            "zone": "nova",
        },
    )
    assert render(diff_plans(plan(before), plan(after))).splitlines()[2:-4] == [
        " ~  openstack:networking/subnet:Subnet  net  update",
        '        ~ count: 1 => "one\\ntwo"',
        "        ~ description:",
        "            @@ -2,3 +2,3 @@",
        "             b",
        "            -c",
        "            +C",
        "             d",
        '        - labels: {"a": "2", "z": "1"}',
        "        ~ notes:",
        "            @@ -1,2 +1 @@",
        "             x",
        "            -y",
        '        + tags: {"a": "two\\nlines", "b": 1}',
        "        ~ userData:",
        "            @@ -1 +1,2 @@",
        "             #cloud-config",
        "            +runcmd: []",
        '        + zone: "nova"',
    ]
