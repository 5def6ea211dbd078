"""`meridian diff`: changes between two plans, matched by URN and alias as the engine matches them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_support import resource
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
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
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
    assert "no changes" in same.stdout
    other = meridian("diff", str(base), "climres")
    assert other.returncode == BAD_INPUT
    assert "different stacks" in other.stderr
    assert "Traceback" not in other.stderr


def test_a_type_renamed_with_its_alias_in_a_bundled_stack_is_matched(bundled_plan: Any) -> None:
    """The rke2 API load balancer carries an alias to the provider's old type token."""
    head = bundled_plan("eo4eu")
    [balancer] = [r for r in head.resources if r["aliases"]]
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
    }
