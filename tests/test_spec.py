"""Bad stack input gets one clear error naming the stack file and the key path, and registers nothing.

Every `tests/specs/<name>.error.<words>.yaml` is a whole stack file with one thing
broken. Its `# where:` comment line says what must follow the file name in the message:
the full key path for spec errors, the YAML position or the rule for stack-file errors.
Its file name carries the words (split on `.` and `-`) that the rest of the message must
contain.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path, PosixPath
from typing import Any

import pytest
import yaml
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from components.spec import QUALIFIED_KEY, PlatformSpec, SpecError, aws_subnet_layout, parse_platform
from components.spec.limits import MAX_STACK_FILE_BYTES
from components.spec.sites import aws_partition
from scripts.harness import STACK_TYPE, PlanRecorder, display_path, evaluate
from scripts.mocks import MeridianMocks
from scripts.stackfile import OFFLINE_SECRET, StackFileError, read_stack_file, stack_name_of

SPECS = Path(__file__).parent / "specs"
ERROR_FIXTURES = sorted(SPECS.glob("*.error.*.yaml"))
HAPPY_FIXTURES = sorted(SPECS.glob("*.happy.yaml"))
FIXTURE_NAME = re.compile(r"^[a-z0-9-]+\.error\.[a-z0-9_.-]+\.yaml$")
SOURCE = "stacks/Pulumi.unit.yaml"
BASE_PLATFORM: dict[str, Any] = yaml.safe_load((SPECS / "minimal.happy.yaml").read_text())["config"][
    "meridian:platform"
]

#: Fixtures (by short name) whose current error is known to be unclear or to name too
#: coarse a key path, with the reason. Each becomes a strict xfail, so the mark must go
#: as soon as components/ is fixed.
KNOWN_PROBLEMS: dict[str, str] = {}


def short_name(fixture: Path) -> str:
    return fixture.name.split(".error.", 1)[0]


def expected_words(fixture: Path) -> list[str]:
    words = fixture.name.split(".error.", 1)[1].removesuffix(".yaml")
    return [word for word in re.split(r"[.-]", words) if word]


def declared_where(fixture: Path) -> str:
    for line in fixture.read_text().splitlines():
        if line.startswith("# where: "):
            return line.removeprefix("# where: ")
    raise AssertionError(f"{fixture.name} has no '# where: ' line")


def _error_param(fixture: Path) -> Any:
    name = short_name(fixture)
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_PROBLEMS[name])] if name in KNOWN_PROBLEMS else []
    return pytest.param(fixture, id=name, marks=marks)


# -- fixture files ----------------------------------------------------------------------------


def test_error_fixtures_are_not_lost() -> None:
    assert len(ERROR_FIXTURES) >= 15
    names = [short_name(f) for f in ERROR_FIXTURES]
    assert len(set(names)) == len(names), "short names must be unique (they are the test ids)"
    assert set(KNOWN_PROBLEMS) <= set(names), "a known problem refers to a fixture that no longer exists"


@pytest.mark.parametrize("fixture", ERROR_FIXTURES, ids=short_name)
def test_error_fixture_is_well_formed(fixture: Path) -> None:
    assert FIXTURE_NAME.match(fixture.name), "use <short-name>.error.<lowercase words>.yaml"
    assert expected_words(fixture)
    assert declared_where(fixture)


@pytest.mark.parametrize("fixture", [_error_param(f) for f in ERROR_FIXTURES])
def test_error_fixture_gets_one_clear_error(fixture: Path) -> None:
    recorder = PlanRecorder(MeridianMocks())
    with pytest.raises((SpecError, StackFileError)) as caught:
        evaluate(fixture, recorder=recorder)
    error = caught.value
    message = str(error)
    shown = display_path(fixture)
    assert shown == f"tests/specs/{fixture.name}"

    # The message starts with the stack file, then says where: the full key path or the YAML position.
    assert message.startswith(f"{shown}: "), message
    rest = message.removeprefix(f"{shown}: ")
    where = declared_where(fixture)
    assert rest.startswith(where), message
    if isinstance(error, SpecError):
        assert where == QUALIFIED_KEY or where.startswith(f"{QUALIFIED_KEY}."), where
        assert [path for path, _ in error.problems] == [where], "exactly one problem, at the declared key path"
        assert rest[len(where)] == ":", "the declared path is the whole key path, not a prefix of it"
    # The words are the rule's: checked in what follows the file name and the key path (both contain words too).
    said = rest.removeprefix(where).lower()
    missing = [word for word in expected_words(fixture) if word.lower() not in said]
    assert not missing, f"{missing} not in: {message}"
    assert "Traceback" not in message

    # Nothing but the root stack (registered by the runtime before the program runs).
    assert {record["type"] for record in recorder.records} <= {STACK_TYPE}
    if isinstance(error, StackFileError):
        assert recorder.records == [], "a stack file that cannot be read never starts the program"


#: Fixtures whose message is pinned in full (after the file name): the wording a user acts on.
WHOLE_MESSAGES: dict[str, str] = {
    "api-cidr-other-site": "meridian:platform.clusters.lab.api_cidrs[0]: 10.20.0.0/16 is inside site 'aws-b' "
    "(10.20.0.0/16), whose private network does not reach site 'os-a': name the site (site:aws-b) to allow its "
    "egress addresses, or declare an interconnect between the two",
    "bad-cidr": "meridian:platform.sites.aws-b.cidr: not a valid CIDR (expected e.g. 10.40.0.0/16)",
    "bad-ssh-key": "meridian:platform.sites.os-a.openstack.ssh_public_key: not an OpenSSH public key "
    "(expected e.g. 'ssh-ed25519 AAAA... comment')",
    "cost-centre-int": "meridian:platform.project.cost_centre: must be a string: quote the value in YAML",
    "duplicate-key": "line 10, column 7: invalid YAML: found duplicate key 'cost_centre' (first defined on line 9)",
    "empty-admin-cidrs": "meridian:platform.sites.aws-b.admin_cidrs: must not be empty",
    "empty-cost-centre": "meridian:platform.project.cost_centre: must not be empty",
    "host-bits": "meridian:platform.sites.aws-b.cidr: not a valid CIDR: it has host bits set (use the network address)",
    "missing-platform": "meridian:platform: required key is missing from the stack's config",
    "nameserver": "meridian:platform.sites.os-a.dns.nameservers[0]: not a valid IPv4 address",
    "plain-string": "meridian:platform: must be a YAML mapping, not a plain string",
    "secure-inside": "meridian:platform: must not hold secure values: put each secret in its own config key and "
    "refer to it",
    "yaml-syntax": "line 11, column 22: invalid YAML: expected ',' or '}', but got ':'",
}


@pytest.mark.parametrize(("name", "rest"), sorted(WHOLE_MESSAGES.items()), ids=sorted(WHOLE_MESSAGES))
def test_error_fixture_message_in_full(name: str, rest: str) -> None:
    (fixture,) = [f for f in ERROR_FIXTURES if short_name(f) == name]
    with pytest.raises((SpecError, StackFileError)) as caught:
        evaluate(fixture, recorder=PlanRecorder(MeridianMocks()))
    assert str(caught.value) == f"{display_path(fixture)}: {rest}"


@pytest.mark.parametrize("fixture", HAPPY_FIXTURES, ids=lambda f: f.name.removesuffix(".happy.yaml"))
def test_happy_fixture_plans(fixture: Path) -> None:
    plan = evaluate(fixture)
    platform = yaml.safe_load(fixture.read_text())["config"]["meridian:platform"]
    assert plan.one("meridian:index:Platform", platform["project"]["name"])
    assert plan.outputs["project"] == platform["project"]["name"]
    assert set(plan.outputs["sites"]) == set(platform["sites"])


# -- parse_platform directly: cross-field rules, all problems at once, no echoed values ------


def _platform(**changes: Any) -> dict[str, Any]:
    platform = copy.deepcopy(BASE_PLATFORM)
    platform.update(changes)
    return platform


def _cluster(site: str, backend: str = "rke2") -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "site": site,
        "backend": backend,
        "version": "1.33",
        "node_pools": {"w": {"flavor": "m1.large"}},
    }
    if backend in ("rke2", "magnum"):
        cluster["control_plane"] = {"flavor": "m1.large"}
    return cluster


def _problems(raw: object) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_platform(raw, SOURCE)
    assert caught.value.source == SOURCE
    return caught.value


def test_minimal_platform_parses() -> None:
    spec = parse_platform(copy.deepcopy(BASE_PLATFORM), SOURCE)
    assert {name: site.kind for name, site in spec.sites.items()} == {"os-a": "openstack", "aws-b": "aws"}


def test_cross_reference_problems_are_reported_together() -> None:
    platform = _platform(
        clusters={"lost": _cluster("nowhere"), "wrong": _cluster("os-a", "eks"), "fine": _cluster("aws-b", "eks")}
    )
    platform["sites"]["aws-b"]["cidr"] = "10.10.0.0/20"  # inside os-a's 10.10.0.0/16
    error = _problems(platform)
    assert error.problems == [
        ("meridian:platform.sites.aws-b.cidr", "10.10.0.0/20 overlaps site 'os-a' (10.10.0.0/16)"),
        ("meridian:platform.clusters.lost.site", "unknown site 'nowhere' (known: aws-b, os-a)"),
        ("meridian:platform.clusters.wrong.backend", "backend 'eks' cannot run on openstack site 'os-a'"),
    ]
    lines = str(error).splitlines()
    assert lines[0] == f"{SOURCE}: 3 problems in the stack's spec:"
    assert lines[1:] == [f"  {path}: {message}" for path, message in error.problems]


def test_field_problems_are_reported_together_each_at_its_path() -> None:
    platform = _platform(regions=["eu"])
    platform["sites"]["bad_name"] = copy.deepcopy(platform["sites"]["aws-b"])
    platform["sites"]["bad_name"]["cidr"] = "10.30.0.0/16"
    del platform["project"]["owner"]
    platform["sites"]["os-a"]["admin_cidrs"] = ["192.0.2.0/24", "0.0.0.0/0"]
    platform["sites"]["aws-b"]["aws"]["nat"] = "double"
    error = _problems(platform)
    paths = {path for path, _ in error.problems}
    assert paths == {
        "meridian:platform.regions",
        "meridian:platform.project.owner",
        "meridian:platform.sites.os-a.admin_cidrs[1]",
        "meridian:platform.sites.aws-b.aws.nat",
        "meridian:platform.sites.bad_name",
    }
    assert str(error).startswith(f"{SOURCE}: 5 problems in the stack's spec:\n")
    for path, _ in error.problems:
        assert f"\n  {path}: " in str(error)


def test_case_twins_in_sites_and_clusters_are_reported_together() -> None:
    platform = _platform(clusters={"k8s": _cluster("os-a"), "K8S": _cluster("os-a")})
    platform["sites"]["OS-A"] = copy.deepcopy(platform["sites"]["os-a"])
    error = _problems(platform)
    assert error.problems == [
        ("meridian:platform.sites.OS-A", "name differs only in case from 'os-a'"),
        ("meridian:platform.clusters.K8S", "name differs only in case from 'k8s'"),
    ]


def test_node_pool_size_rules() -> None:
    platform = _platform(clusters={"main": _cluster("os-a")})
    platform["clusters"]["main"]["node_pools"]["w"].update(min_size=2, max_size=4, desired_size=5)
    error = _problems(platform)
    assert error.problems == [
        (
            "meridian:platform.clusters.main.node_pools.w",
            "desired_size (5) must lie between min_size (2) and max_size (4)",
        )
    ]


def test_empty_values_are_called_empty() -> None:
    # pydantic's string_too_short (min_length), too_short (lists) and pattern mismatches alike.
    cluster = _cluster("os-a")
    cluster["node_pools"]["w"]["flavor"] = ""
    platform = _platform(clusters={"main": cluster})
    platform["sites"]["aws-b"]["admin_cidrs"] = []
    platform["project"]["owner"] = ""
    assert _problems(platform).problems == [
        ("meridian:platform.project.owner", "must not be empty"),
        ("meridian:platform.sites.aws-b.admin_cidrs", "must not be empty"),
        ("meridian:platform.clusters.main.node_pools.w.flavor", "must not be empty"),
    ]


def test_site_networks_are_ipv4() -> None:
    platform = _platform()
    platform["sites"]["aws-b"]["cidr"] = "2001:db8::/32"
    assert _problems(platform).problems == [
        ("meridian:platform.sites.aws-b.cidr", "only IPv4 CIDRs are supported for site networks")
    ]


def test_every_allow_list_entry_is_checked_after_a_site_reference() -> None:
    cluster = {**_cluster("os-a"), "api_cidrs": ["site:aws-b", "10.20.8.0/24", "site:os-b"]}
    assert _problems(_platform(clusters={"lab": cluster})).problems == [
        (
            "meridian:platform.clusters.lab.api_cidrs[1]",
            "10.20.8.0/24 is inside site 'aws-b' (10.20.0.0/16), whose private network does not reach site 'os-a': "
            "name the site (site:aws-b) to allow its egress addresses, or declare an interconnect between the two",
        ),
        ("meridian:platform.clusters.lab.api_cidrs[2]", "unknown site 'os-b' (known: aws-b, os-a)"),
    ]


def test_aws_subnet_layout_takes_fixed_blocks_per_zone() -> None:
    # A /16 in 16 blocks of /20: private subnets in blocks 0, 1, 2; public ones in blocks 8, 9, 10.
    assert aws_subnet_layout("10.20.0.0/16", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]) == {
        "eu-west-1a": {"private": "10.20.0.0/20", "public": "10.20.128.0/20"},
        "eu-west-1b": {"private": "10.20.16.0/20", "public": "10.20.144.0/20"},
        "eu-west-1c": {"private": "10.20.32.0/20", "public": "10.20.160.0/20"},
    }


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-east-1", "aws"),
        ("eu-central-1", "aws"),
    ],
)
def test_aws_partition_follows_the_region(region: str, partition: str) -> None:
    # ARNs in the Beijing/Ningxia and GovCloud regions name their own partitions.
    assert aws_partition(region) == partition


SECRET = "sk-live/Sup3rS3cret+T0kenValue9=="


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(("project",), id="project-mapping"),
        pytest.param(("project", "owner"), id="owner-pattern"),
        pytest.param(("project", "labels", "data-classification"), id="label-value"),
        pytest.param(("sites", "os-a", "admin_cidrs"), id="admin-cidrs-list"),
        pytest.param(("sites", "os-a", "openstack", "ssh_public_key"), id="ssh-key"),
        pytest.param(("sites", "os-a", "dns", "nameservers", 0), id="nameserver"),
        pytest.param(("sites", "aws-b", "aws", "account_id"), id="account-id"),
        pytest.param(("sites", "aws-b", "aws", "nat"), id="nat-literal"),
        pytest.param(("sites", "aws-b", "aws", "availability_zones", 0), id="az"),
        pytest.param(("clusters", "main", "node_pools", "w", "max_size"), id="int"),
        pytest.param(("clusters", "main", "addons", "ingress", "enabled"), id="bool"),
        pytest.param(("clusters", "main", "control_plane", "count"), id="count-literal"),
        pytest.param(("sites", "aws-b", "cidr"), id="site-cidr"),
        pytest.param(("sites", "os-a", "admin_cidrs", 0), id="admin-cidr"),
    ],
)
def test_errors_never_echo_input_values(path: tuple[str | int, ...]) -> None:
    cluster = {
        **_cluster("os-a"),
        "control_plane": {"count": 3, "flavor": "m1.large"},
        "addons": {"ingress": {"enabled": True}},
    }
    platform = _platform(clusters={"main": cluster})
    node: Any = platform
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = SECRET
    error = _problems(platform)
    assert len(error.problems) == 1
    assert SECRET not in str(error)
    assert SECRET[4:12] not in str(error)


# -- property: any mutation of a valid platform parses or gets a SpecError naming its key ----

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
KeyPath = tuple[str | int, ...]


def _paths(node: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _at(root: Any, path: KeyPath) -> Any:
    for part in path:
        root = root[part]
    return root


def _mutate(platform: Any, draw: Callable[..., Any]) -> Any:
    kind = draw(st.sampled_from(["replace", "delete", "add"]), label="mutation")
    paths = _paths(platform)
    if kind == "replace":
        path = draw(st.sampled_from(paths), label="replace at")
        old = _at(platform, path)
        new = draw(_JSON.filter(lambda value: type(value) is not type(old)), label="new value")
        if not path:
            return new
        _at(platform, path[:-1])[path[-1]] = new
    elif kind == "delete" and len(paths) > 1:
        path = draw(st.sampled_from(paths[1:]), label="delete at")
        del _at(platform, path[:-1])[path[-1]]
    elif kind == "add":
        mappings = [path for path in paths if isinstance(_at(platform, path), dict)]
        if mappings:
            node = _at(platform, draw(st.sampled_from(mappings), label="add under"))
            key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in node), label="new key")
            node[key] = draw(_JSON, label="added value")
    return platform


@settings(max_examples=examples(150), deadline=None)
@given(st.data())
def test_any_mutation_parses_or_names_a_key_path(data: st.DataObject) -> None:
    platform: Any = copy.deepcopy(BASE_PLATFORM)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        platform = _mutate(platform, data.draw)
    # The program reads the value JSON-encoded (as the CLI passes structured config).
    platform = json.loads(json.dumps(platform))
    try:
        spec = parse_platform(platform, SOURCE)
    except SpecError as error:
        text = str(error)
        assert text.startswith(f"{SOURCE}: ")
        assert error.problems
        for path, message in error.problems:
            assert path == QUALIFIED_KEY or path.startswith(f"{QUALIFIED_KEY}."), path
            assert message
            assert f"{path}: {message}" in text
    else:
        assert isinstance(spec, PlatformSpec)


# -- stack-file YAML: read as the Pulumi CLI (go-yaml v3) reads it, never a traceback ----------

_MINIMAL = (SPECS / "minimal.happy.yaml").read_bytes()
_LABELS = b"labels: {data-classification: internal}"
_AWS_DNS = b"        dns: {domain: b.example.org}"


@pytest.mark.parametrize(
    ("content", "planned"),
    [
        pytest.param(_MINIMAL.replace(b"cloud: os-a", b"cloud: !!binary b3MtYQ=="), False, id="binary-value"),
        pytest.param(_MINIMAL + b"  ? [a, b]\n  : 1\n", False, id="complex-key"),
        pytest.param(b"\xff\xfeconfig: {}\n", False, id="not-utf8"),
        pytest.param(_MINIMAL + b"---\nconfig: {}\n", False, id="two-documents"),
        pytest.param(_MINIMAL + b"  x:y: !!python/object/apply:os.system [ls]\n", False, id="python-tag"),
        pytest.param(b"config:\n\tmeridian:platform: {}\n", False, id="tab-indent"),
        pytest.param(b"config:\n  meridian:platform:\n", False, id="null-platform"),
        pytest.param(b"- config\n", False, id="document-list"),
        pytest.param(b"", False, id="empty-file"),
        pytest.param(_MINIMAL.replace(_LABELS, _LABELS[:-1] + b", review-date: 2025-06-30}"), False, id="date"),
        pytest.param(_MINIMAL.replace(_LABELS, _LABELS[:-1] + b", review-date: '2025-06-30'}"), True, id="quoted-date"),
        pytest.param(
            _MINIMAL.replace(b"admin_cidrs: [192.0.2.0/24", b"admin_cidrs: &admins [192.0.2.0/24").replace(
                b"admin_cidrs: [198.51.100.0/24]", b"admin_cidrs: *admins"
            ),
            True,
            id="anchor-alias",
        ),
        pytest.param(
            _MINIMAL.replace(_AWS_DNS, b"        dns:\n          <<: {domain: b.example.org}"), True, id="merge-key"
        ),
    ],
)
def test_odd_yaml_is_bad_input_or_plans(tmp_path: Path, content: bytes, planned: bool) -> None:
    path = tmp_path / "Pulumi.odd.yaml"
    path.write_bytes(content)
    recorder = PlanRecorder(MeridianMocks())
    if planned:
        assert evaluate(path, recorder=recorder).outputs["project"] == "testproj"
        return
    with pytest.raises((SpecError, StackFileError)) as caught:
        evaluate(path, recorder=recorder)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)
    assert {record["type"] for record in recorder.records} <= {STACK_TYPE}


def _aws_dns(content: bytes, tmp_path: Path) -> Any:
    path = tmp_path / "Pulumi.yaml-read.yaml"
    path.write_bytes(content)
    return json.loads(read_stack_file(path).config["meridian:platform"])["sites"]["aws-b"]["dns"]


@pytest.mark.parametrize(
    "literal",
    [
        "2025-06-30",
        "2025-6-3",
        "2025-06-30T10:00:00Z",
        "2025-06-30 10:00:00.5",
        "2025-06-30T23:59:59Z",
        "2025-06-30t23:59:59+02:00",
        "2025-06-30 23:59:59",
    ],
)
def test_unquoted_dates_are_refused(tmp_path: Path, literal: str) -> None:
    # go-yaml v3 decodes them into Go times (decode_test.go "implicit timestamp tag into
    # interface"), which reach the program rendered by Go, not as written: quoting says which.
    path = tmp_path / "Pulumi.date.yaml"
    path.write_text(f"config:\n  meridian:platform: {{expires: {literal}}}\n")
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    assert str(caught.value) == (
        f"{path}: line 2, column 32: refused: a date or time: quote it (the Pulumi CLI would not pass it on as written)"
    )
    path.write_text(f"config:\n  meridian:platform: {{expires: '{literal}', also: !!str {literal}}}\n")
    assert json.loads(read_stack_file(path).config["meridian:platform"]) == {"expires": literal, "also": literal}


def test_merge_keys_are_resolved(tmp_path: Path) -> None:
    merged = b"        dns:\n          <<: {domain: b.example.org, nameservers: [10.20.0.2]}"
    assert _aws_dns(_MINIMAL.replace(_AWS_DNS, merged), tmp_path) == {
        "domain": "b.example.org",
        "nameservers": ["10.20.0.2"],
    }


def test_explicit_keys_override_merged_ones(tmp_path: Path) -> None:
    merged = (
        b"        dns:\n          <<: {domain: a.example.org, nameservers: [10.20.0.2]}\n"
        b"          domain: b.example.org"
    )
    assert _aws_dns(_MINIMAL.replace(_AWS_DNS, merged), tmp_path) == {
        "domain": "b.example.org",
        "nameservers": ["10.20.0.2"],
    }


def test_config_keys_without_a_namespace_are_the_projects(tmp_path: Path) -> None:
    # loaders.go stackConfigNamespacedWithProject: `platform` is `meridian:platform`.
    path = tmp_path / "Pulumi.bare.yaml"
    path.write_bytes(b"config:\n  platform: {a: 1}\n  aws:region: eu-west-1\n")
    assert read_stack_file(path).config == {"meridian:platform": '{"a": 1}', "aws:region": "eu-west-1"}
    path.write_bytes(_MINIMAL + b"  platform: {}\n")
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    assert str(caught.value) == f"{path}: config.platform: names the same key as another entry (meridian:platform)"
    for bad in (b":x", b"aws:"):
        path.write_bytes(b"config:\n  '" + bad + b"': 1\n")
        with pytest.raises(StackFileError) as caught:
            read_stack_file(path)
        assert str(caught.value) == (
            f"{path}: config.{bad.decode()}: config keys are <namespace>:<name>, e.g. meridian:name"
        )


@pytest.mark.parametrize(
    ("content", "where"),
    [
        # `  meridian:platform: ` is 21 characters: a value starts in column 22, the first inside `{x: ` in 26.
        pytest.param(
            b"config:\n  meridian:platform:\n    a: 1\n    a: 2\n",
            "line 4, column 5: invalid YAML: found duplicate key 'a' (first defined on line 3)",
            id="duplicate-key",
        ),
        pytest.param(
            # A key after a merge is checked against the other keys written in the mapping.
            b"config:\n  meridian:platform: {<<: {a: 1}, b: 1, b: 2}\n",
            "line 2, column 41: invalid YAML: found duplicate key 'b' (first defined on line 2)",
            id="duplicate-after-merge",
        ),
        pytest.param(
            b"config:\n  meridian:platform:\n    ? [a, b]\n    : 1\n",
            "line 3, column 7: invalid YAML: found a complex mapping key",
            id="complex-key",
        ),
        pytest.param(
            # PyYAML fills lists after the mappings around them: the duplicate key is met first.
            b"config:\n  meridian:platform: {a: [.inf], b: {c: 1, c: 2}}\n",
            "line 2, column 44: invalid YAML: found duplicate key 'c' (first defined on line 2)",
            id="first-problem-met",
        ),
        # A value its tag cannot read is invalid YAML (go-yaml: "cannot decode ... as a !!int"), not a crash.
        pytest.param(
            b"config:\n  meridian:platform: {x: !!int abc}\n",
            "line 2, column 26: invalid YAML: the value is not a valid !!int",
            id="tagged-int",
        ),
        pytest.param(
            b"config:\n  meridian:platform: {x: !!float abc}\n",
            "line 2, column 26: invalid YAML: the value is not a valid !!float",
            id="tagged-float",
        ),
        pytest.param(
            b"config:\n  meridian:platform:\n    flag: !!bool maybe\n",
            "line 3, column 11: invalid YAML: the value is not a valid !!bool",
            id="tagged-bool",
        ),
        pytest.param(
            b"config:\n  meridian:platform: [!!timestamp 2025-13-45]\n",
            "line 2, column 23: invalid YAML: the value is not a valid !!timestamp",
            id="tagged-timestamp",
        ),
        pytest.param(
            b"config:\n  meridian:platform: !!map [a]\n",
            "line 2, column 22: invalid YAML: the value is not a valid !!map",
            id="tagged-map",
        ),
        pytest.param(
            b"config:\n  1: x\n",
            "config: keys must be non-empty strings",
            id="number-key",
        ),
        pytest.param(
            b"config:\n  '': x\n",
            "config: keys must be non-empty strings",
            id="empty-key",
        ),
        pytest.param(
            # The CLI (sdk/go/common/resource/config/key.go ParseKey) refuses keys with more colons
            # unless the middle part is the legacy `config` module.
            b"config:\n  meridian:platform:extra: {}\n",
            "config.meridian:platform:extra: config keys are <namespace>:<name> (or <namespace>:config:<name>)",
            id="two-colons",
        ),
        pytest.param(
            b"config:\n  meridian:config:a:b: x\n",
            "config.meridian:config:a:b: config keys are <namespace>:<name> (or <namespace>:config:<name>)",
            id="three-colons",
        ),
    ],
)
def test_stack_file_problems_are_named_in_full(tmp_path: Path, content: bytes, where: str) -> None:
    path = tmp_path / "Pulumi.odd.yaml"
    path.write_bytes(content)
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    assert str(caught.value) == f"{path}: {where}"


def test_a_key_named_twice_through_the_legacy_form_is_refused(tmp_path: Path) -> None:
    # Both entries become meridian:platform; which one the CLI keeps is not defined.
    path = tmp_path / "Pulumi.twice.yaml"
    path.write_bytes(b"config:\n  meridian:platform: {a: 1}\n  meridian:config:platform: {a: 2}\n")
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    assert str(caught.value) == (
        f"{path}: config.meridian:config:platform: names the same key as another entry (meridian:platform)"
    )


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        # go-yaml v3 resolve.go: only true/false spellings are booleans; YAML 1.1's yes/no/on/off are strings.
        ("yes", "yes"),
        ("on", "on"),
        ("n", "n"),
        ("True", True),
        ("FALSE", False),
        # Integers: decimal, 0b, 0o, 0x and a leading 0 (ParseInt base 0), underscores dropped; no base 60.
        ("1:20", "1:20"),
        ("0o17", 15),
        ("0755", 493),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        # Prefixes in either case; every `_` removed before parsing; `08` is no octal but a float.
        ("0X1F", 31),
        ("0B11", 3),
        ("0O17", 15),
        ("-0o17", -15),
        ("+12", 12),
        ("0_x1F", 31),
        ("+_1", 1),
        ("0b_", "0b_"),
        ("08", 8),
        ("00", 0),
        ("0", 0),
        ("-0", 0),
        ("07", 7),
        ("-0755", -493),
        # Only a sign or a digit first makes a scalar a number candidate (resolve.go's hint):
        # `_1` stays a string although it is `1` once its underscores are dropped.
        ("_1", "_1"),
        # Floats need no dot (yamlStyleFloat); after the CLI's YAML round trip an integral float
        # is an integer (Go writes 1.0 as 1), below 1e21.
        ("1e3", 1000),
        ("1.0", 1),
        ("1.", 1),
        ("1e21", 1e21),
        ("1_000.5", 1000.5),
        (".5", 0.5),
        (".5_5", 0.55),
        ("._5", "._5"),
        ("-1.5", -1.5),
        ("~", None),
        ("", None),
        ("NULL", None),
        ("2025-13-45", "2025-13-45"),
        # time.Parse refuses hour 24, minute 60 and second 60: not a timestamp, so a string.
        ("2025-06-30T24:00:00Z", "2025-06-30T24:00:00Z"),
        ("2025-06-30 10:60:00", "2025-06-30 10:60:00"),
        ("2025-06-30t10:00:60Z", "2025-06-30t10:00:60Z"),
        ("<<", "<<"),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_resolves_them(tmp_path: Path, literal: str, value: Any) -> None:
    path = tmp_path / "Pulumi.scalar.yaml"
    path.write_text(f"config:\n  meridian:platform: {{x: {literal}}}\n")
    decoded = json.loads(read_stack_file(path).config["meridian:platform"])
    assert decoded == {"x": value} and type(decoded["x"]) is type(value)


def test_an_explicit_float_tag_reads_integers_as_floats(tmp_path: Path) -> None:
    # go-yaml v3 resolve.go: `!!float` on an integer literal gives float64(value), which the CLI's
    # round trip then writes as an integer again (`1.0` as `1`).
    path = tmp_path / "Pulumi.float.yaml"
    path.write_text("config:\n  meridian:platform: {a: !!float 1, b: !!float 0x10, c: !!float -0o17, d: !!float 1.5}\n")
    assert read_stack_file(path).config["meridian:platform"] == '{"a": 1, "b": 16, "c": -15, "d": 1.5}'


def test_keys_that_are_not_strings_are_rendered_as_go_renders_them(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.keys.yaml"
    path.write_text("config:\n  meridian:platform: {1.0: a, ~: b, false: c, 2: d, 1.5: e}\n  meridian:n: 2.0\n")
    config = read_stack_file(path).config
    assert json.loads(config["meridian:platform"]) == {"1": "a", "<nil>": "b", "false": "c", "2": "d", "1.5": "e"}
    assert config["meridian:n"] == "2"


def test_the_legacy_config_module_form_names_the_same_key(tmp_path: Path) -> None:
    # ParseKey reads `<namespace>:config:<name>` as `<namespace>:<name>`, as older stack files spell keys.
    path = tmp_path / "Pulumi.legacy.yaml"
    path.write_bytes(b"config:\n  meridian:config:token: {secure: v1:abc}\n  aws:config:region: eu-west-1\n")
    stack = read_stack_file(path)
    assert stack.config == {"meridian:token": OFFLINE_SECRET.format(key="meridian:token"), "aws:region": "eu-west-1"}
    assert stack.secret_keys == ["meridian:token"]


def test_a_missing_stack_file_is_named() -> None:
    path = SPECS / "Pulumi.absent.yaml"
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    assert str(caught.value) == f"{path}: cannot read the stack file (No such file or directory)"


@pytest.mark.parametrize("content", [b"", b"# nothing set yet\n"], ids=["empty", "comment-only"])
def test_an_empty_stack_file_has_no_config(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "Pulumi.new.yaml"
    path.write_bytes(content)
    stack = read_stack_file(path)
    assert (stack.stack, stack.path, stack.config, stack.secret_keys) == ("new", path, {}, [])


def test_the_clis_own_stack_settings_are_accepted(tmp_path: Path) -> None:
    # The CLI's ProjectStack (sdk/go/common/workspace/project.go): secretsprovider, encryptedkey,
    # encryptionsalt, config and environment.
    path = tmp_path / "Pulumi.settings.yaml"
    path.write_bytes(
        b"secretsprovider: passphrase\nencryptionsalt: v1:c2FsdA==\nencryptedkey: a2V5\n"
        b"environment: [shared/eu]\nconfig:\n  aws:region: eu-west-1\n"
    )
    assert read_stack_file(path).config == {"aws:region": "eu-west-1"}


@pytest.mark.parametrize(
    ("name", "stack"),
    [
        ("Pulumi.eo4eu.yaml", "eo4eu"),
        ("Pulumi.eo4eu.yml", "eo4eu"),
        ("Pulumi.dev.eu.yaml", "dev.eu"),
        ("climres.yaml", "climres"),
        ("Pulumi.plain", "plain"),
        ("my.Pulumi.yaml", "my.Pulumi"),
    ],
)
def test_stack_name_comes_from_the_file_name(tmp_path: Path, name: str, stack: str) -> None:
    assert stack_name_of(Path("stacks") / name) == stack
    path = tmp_path / name
    path.write_bytes(b"config: {}\n")
    assert read_stack_file(path).stack == stack


def test_a_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.big.yaml"
    path.write_bytes(_MINIMAL + b"#" * (MAX_STACK_FILE_BYTES - len(_MINIMAL) - 1) + b"\n")
    assert path.stat().st_size == MAX_STACK_FILE_BYTES
    assert json.loads(read_stack_file(path).config["meridian:platform"]) == BASE_PLATFORM


class _EndlessStream:
    """Bytes without end, counting how many were asked for."""

    def __init__(self) -> None:
        self.asked = 0

    def __enter__(self) -> _EndlessStream:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, "an unbounded read never ends"
        self.asked += size
        return b"#" * size


def test_an_endless_file_is_read_only_past_the_limit(tmp_path: Path) -> None:
    # A device or a pipe may never end: the reader asks for one byte more than the limit, no more.
    stream = _EndlessStream()

    class EndlessPath(PosixPath):
        def open(self, *_: Any, **__: Any) -> _EndlessStream:  # type: ignore[override]
            return stream

    path = EndlessPath(tmp_path / "Pulumi.endless.yaml")
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    assert str(caught.value) == f"{path}: larger than {MAX_STACK_FILE_BYTES} bytes, the limit for a stack file"
    assert stream.asked == MAX_STACK_FILE_BYTES + 1


# -- secure config outside the spec -------------------------------------------------------------


def test_secure_values_inside_lists_are_secret(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.lists.yaml"
    path.write_bytes(
        b"config:\n"
        b"  meridian:tokens: [plain, {secure: v1:abc}]\n"
        b"  meridian:nested: {hosts: [{name: a, key: {secure: v1:def}}]}\n"
        b"  meridian:names: [a, b]\n"
    )
    stack = read_stack_file(path)
    assert stack.secret_keys == ["meridian:tokens", "meridian:nested"]
    assert json.loads(stack.config["meridian:tokens"]) == ["plain", OFFLINE_SECRET.format(key="meridian:tokens")]
    assert json.loads(stack.config["meridian:nested"]) == {
        "hosts": [{"name": "a", "key": OFFLINE_SECRET.format(key="meridian:nested")}]
    }
    assert json.loads(stack.config["meridian:names"]) == ["a", "b"]


def test_secure_config_keys_plan_and_stay_secret(tmp_path: Path, write_stack: Callable[..., Path]) -> None:
    extra = {
        "meridian:dbPassword": {"secure": "v1:abc"},
        "meridian:vaultToken": {"secure": "v1:def"},
        "meridian:creds": {"user": "svc", "password": {"secure": "v1:ghi"}},
        "aws:region": "eu-west-1",
    }
    path = write_stack(copy.deepcopy(BASE_PLATFORM), **extra)

    stack = read_stack_file(path)
    assert sorted(stack.secret_keys) == ["meridian:creds", "meridian:dbPassword", "meridian:vaultToken"]
    placeholder = stack.config["meridian:dbPassword"]
    assert placeholder == OFFLINE_SECRET.format(key="meridian:dbPassword")
    assert "offline placeholder" in placeholder
    assert "offline placeholder" in stack.config["meridian:vaultToken"]
    creds = json.loads(stack.config["meridian:creds"])
    assert creds["user"] == "svc"
    assert "offline placeholder" in creds["password"]
    assert creds["password"] == OFFLINE_SECRET.format(key="meridian:creds")
    assert stack.config["aws:region"] == "eu-west-1"
    assert not any(cipher in json.dumps(stack.config) for cipher in ("v1:abc", "v1:def", "v1:ghi"))

    # The real program plans with the extra keys present, and never sees a ciphertext.
    plan = evaluate(path)
    assert plan.outputs["project"] == "testproj"
    assert "v1:abc" not in json.dumps(plan.to_json())

    # A program reading the key gets it as a secret, as under `pulumi preview`.
    program = tmp_path / "program" / "__main__.py"
    program.parent.mkdir()
    program.write_text(
        "import pulumi\n"
        "pulumi.export('password', pulumi.Config('meridian').require_secret('dbPassword'))\n"
        "pulumi.export('flagged', pulumi.runtime.is_config_secret('meridian:dbPassword'))\n"
        "pulumi.export('plain', pulumi.runtime.is_config_secret('aws:region'))\n"
    )
    outputs = evaluate(path, program=program).outputs
    assert outputs == {"password": "[secret]", "flagged": True, "plain": False}
