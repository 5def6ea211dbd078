"""The gate speaks the Analyzer protocol to the real pack process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BUNDLED
from google.protobuf import empty_pb2, json_format
from policy_support import PROVIDER_URN, plan_of_resources, policies_hit, provider_resource, resource, violations
from pulumi.runtime.proto import analyzer_pb2

from scripts.gate import (
    IN_PROCESS,
    PACK_DIR,
    Analyzer,
    GateError,
    GateReport,
    Violation,
    _diagnostics,
    _drain,
    _options,
    _struct,
    _wire,
    _wire_resources,
    gate,
    pack_version,
    render,
)
from scripts.harness import Plan


def test_pack_declares_policies_with_metadata(analyzer: Analyzer) -> None:
    policies = analyzer.policies()
    assert policies, "the pack declares no policies"
    for name, meta in policies.items():
        assert meta["description"], name
        assert meta["remediation"], name
        assert meta["severity"], name
        assert meta["level"] in {"advisory", "mandatory"}, name


def test_default_provider_is_reported_for_the_analyzed_resource(analyzer: Analyzer) -> None:
    bad = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, provider=None)
    report = violations(analyzer, plan_of_resources(bad))
    hits = [v for v in report.violations if v.policy == "explicit-provider"]
    assert [v.urn for v in hits] == [bad["urn"]]
    good = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    assert "explicit-provider" not in policies_hit(violations(analyzer, plan_of_resources(good)))


def test_report_version_comes_from_pulumipolicy_yaml(analyzer: Analyzer) -> None:
    assert violations(analyzer, plan_of_resources()).version == pack_version(analyzer.pack_dir) == "0.1.0"


@pytest.mark.cli
def test_cli_gate_exit_codes_and_json(tmp_path: Path) -> None:
    meridian = [sys.executable, "-m", "scripts.cli"]
    result = subprocess.run([*meridian, "gate", "eo4eu", "--json"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["pack"] == "meridian" and report["mandatory"] == 0
    missing = subprocess.run(
        [*meridian, "gate", "--plan", str(tmp_path / "nope.json")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.parametrize("stack", BUNDLED)
def test_bundled_stacks_pass_the_whole_pack(
    analyzer: Analyzer, bundled_plan: Callable[[str], Plan], stack: str
) -> None:
    """Every bundled stack passes every policy, advisory ones included, with every resource analyzed."""
    plan = bundled_plan(stack)
    report = violations(analyzer, plan)
    assert report.resources == len(plan.resources) > 0
    assert [(v.policy, v.level, v.urn, v.message) for v in report.violations] == []


def test_the_in_process_analyzer_answers_like_the_pack_process(
    analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make mutation` serves the pack's analyzer in the test process (scripts/gate.py IN_PROCESS) so
    # mutmut sees which tests reach each policy; it must answer exactly as the pack process does.
    from scripts.gate import IN_PROCESS, gate
    from scripts.harness import load_plan

    fixtures = Path(__file__).parent / "fixtures" / "violations"
    plan = load_plan(fixtures / "violations.plan.json")
    config = json.loads((fixtures / "policy-config.json").read_text())
    expected = gate(plan, config, analyzer=analyzer)
    assert expected.violations
    monkeypatch.setenv(IN_PROCESS, "1")
    inside = Analyzer()
    try:
        assert inside.process is None and inside.server is not None
        assert inside.info == analyzer.info
        assert (inside.info.version, inside.info.description) == ("0.0.1", "Meridian guardrails for research platforms")
        assert inside.policies() == analyzer.policies()
        assert gate(plan, config, analyzer=inside) == expected
    finally:
        inside.close()


# -- the wire form: what the analyzer receives -------------------------------------------------------

#: Pulumi's wire sentinels (sdk/go/common/resource/sig, plugin/rpc.go), spelled out.
SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
STACK_URN = "urn:pulumi:test::meridian::pulumi:pulumi:Stack::meridian-test"
GROUP_URN = "urn:pulumi:test::meridian::meridian:test:Group::group"
SUBNET_URN = "urn:pulumi:test::meridian::meridian:test:Group$aws:ec2/subnet:Subnet::subnet"


def _secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET_SIG, "value": value}


def _wire_plan() -> Plan:
    """The root stack, an explicit provider, a component and, under it, a resource using every option."""
    stack = {**resource("pulumi:pulumi:Stack", "meridian-test", {}, provider=None, custom=False), "urn": STACK_URN}
    provider = {**provider_resource(region="eu-west-1"), "parent": STACK_URN}
    group = resource("meridian:test:Group", "group", {"size": 2}, parent=STACK_URN, provider=None, custom=False)
    subnet = resource(
        "aws:ec2/subnet:Subnet",
        "subnet",
        {
            "cidrBlock": "10.0.1.0/24",
            "password": "[secret]",
            "meridian.io/token": "[secret]",
            "tags": {"meridian.io/pool": "[secret]", "Name": "[unknown]", "site": "fra"},
            "subnets": ["a", "[secret]"],
        },
        parent=GROUP_URN,
        secret_paths=["password", '["meridian.io/token"]', 'tags["meridian.io/pool"]', "subnets[1]"],
        protect=True,
        ignore_changes=["tags"],
        depends_on=[GROUP_URN, PROVIDER_URN],
        aliases=["urn:pulumi:test::meridian::aws:ec2/subnet:Subnet::old", {"name": "older"}],
    )
    subnet.update(urn=SUBNET_URN, delete_before_replace=True, additional_secret_outputs=["arn"])
    return Plan(project="meridian", stack="test", resources=[stack, provider, group, subnet])


#: The AnalyzeRequest fields the engine sends for each resource of _wire_plan() (step_generator.go
#: and plugin/analyzer_plugin.go): inputs with secrets wrapped and unknowns as the sentinel, options
#: (no aliases: a first preview found no old state through one; custom timeouts always present),
#: the provider's own inputs.
WIRE_REQUESTS: list[dict[str, Any]] = [
    {
        "type": "pulumi:pulumi:Stack",
        "urn": STACK_URN,
        "name": "meridian-test",
        "properties": {},
        "options": {"customTimeouts": {}},
    },
    {
        "type": "pulumi:providers:aws",
        "urn": PROVIDER_URN,
        "name": "site-provider",
        "properties": {"region": "eu-west-1"},
        "options": {"customTimeouts": {}, "parent": STACK_URN},
    },
    {
        "type": "meridian:test:Group",
        "urn": GROUP_URN,
        "name": "group",
        "properties": {"size": 2},
        "options": {"customTimeouts": {}, "parent": STACK_URN},
    },
    {
        "type": "aws:ec2/subnet:Subnet",
        "urn": SUBNET_URN,
        "name": "subnet",
        "properties": {
            "cidrBlock": "10.0.1.0/24",
            "password": _secret("[secret]"),
            "meridian.io/token": _secret("[secret]"),
            "tags": {"meridian.io/pool": _secret("[secret]"), "Name": UNKNOWN_WIRE, "site": "fra"},
            "subnets": ["a", _secret("[secret]")],
        },
        "options": {
            "protect": True,
            "ignoreChanges": ["tags"],
            "deleteBeforeReplace": True,
            "deleteBeforeReplaceDefined": True,
            "additionalSecretOutputs": ["arn"],
            "customTimeouts": {},
            "parent": GROUP_URN,
        },
        "provider": {
            "type": "pulumi:providers:aws",
            "urn": PROVIDER_URN,
            "name": "site-provider",
            "properties": {"region": "eu-west-1"},
        },
    },
]
#: AnalyzeStack adds each resource's parent and dependencies.
WIRE_STACK: list[dict[str, Any]] = [
    {**WIRE_REQUESTS[0]},
    {**WIRE_REQUESTS[1], "parent": STACK_URN},
    {**WIRE_REQUESTS[2], "parent": STACK_URN},
    {**WIRE_REQUESTS[3], "parent": GROUP_URN, "dependencies": [GROUP_URN, PROVIDER_URN]},
]


class Recorder:
    """Stands in for an analyzer's stub: keeps every request, then passes it on."""

    def __init__(self, stub: Any) -> None:
        self.stub = stub
        self.sent: list[tuple[str, Any]] = []

    def __getattr__(self, method: str) -> Callable[[Any], Any]:
        def call(request: Any) -> Any:
            self.sent.append((method, request))
            return getattr(self.stub, method)(request) if self.stub is not None else empty_pb2.Empty()

        return call


def test_wire_values_wrap_secrets_at_their_paths_and_send_unknowns_as_the_sentinel() -> None:
    value = {"a": {"b.c": ["x", "[unknown]", {"d": "[secret]"}]}, "e": "[secret]", "f": 1}
    secrets = {'a["b.c"][2].d', "e", 'a["b.c"][0]'}
    assert _wire(value, "", secrets) == {
        "a": {"b.c": [_secret("x"), UNKNOWN_WIRE, {"d": _secret("[secret]")}]},
        "e": _secret("[secret]"),
        "f": 1,
    }
    # A secret holding a structure is wrapped whole, and secrets inside it stay wrapped too.
    assert _wire({"g": {"h": "[secret]", "i": "[unknown]"}}, "", {"g", "g.h"}) == {
        "g": _secret({"h": _secret("[secret]"), "i": UNKNOWN_WIRE})
    }
    assert _wire(["[unknown]"], "top", {"top"}) == _secret([UNKNOWN_WIRE])


def test_each_resource_goes_on_the_wire_as_the_engine_sends_it() -> None:
    plan = _wire_plan()
    wired = _wire_resources(plan)
    assert [r for r, _ in wired] == plan.resources
    assert [analyzer_pb2.AnalyzeRequest(**fields) for _, fields in wired] == [
        json_format.ParseDict(expected, analyzer_pb2.AnalyzeRequest()) for expected in WIRE_REQUESTS
    ]
    subnet = plan.resources[3]
    assert json_format.MessageToDict(_struct(subnet)) == WIRE_REQUESTS[3]["properties"]
    assert _options(subnet) == json_format.ParseDict(
        WIRE_REQUESTS[3]["options"], analyzer_pb2.AnalyzerResourceOptions()
    )
    # A resource recorded without options (a rendered Kubernetes object) still sends custom timeouts.
    assert _options({}) == analyzer_pb2.AnalyzerResourceOptions(
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts()
    )
    assert json_format.MessageToDict(_struct({"inputs": None, "secret_paths": None})) == {}


def test_analyze_sends_every_resource_but_the_root_stack_then_the_whole_stack(
    analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(analyzer.stub)
    monkeypatch.setattr(analyzer, "stub", recorder)
    analyzer.analyze(_wire_plan())
    assert [method for method, _ in recorder.sent] == ["Analyze", "Analyze", "Analyze", "AnalyzeStack"]
    assert [request for _, request in recorder.sent[:3]] == [
        json_format.ParseDict(expected, analyzer_pb2.AnalyzeRequest()) for expected in WIRE_REQUESTS[1:]
    ]
    assert recorder.sent[3][1] == json_format.ParseDict({"resources": WIRE_STACK}, analyzer_pb2.AnalyzeStackRequest())


# -- what the gate makes of the pack's answers ------------------------------------------------------


def _bare_analyzer(info: analyzer_pb2.AnalyzerInfo) -> tuple[Analyzer, Recorder]:
    """An Analyzer holding `info` and a stub that only records (no pack behind it)."""
    bare = Analyzer.__new__(Analyzer)
    bare.info = info
    recorder = Recorder(None)
    bare.stub = recorder  # type: ignore[assignment]
    return bare, recorder


def _schema(**properties: Any) -> analyzer_pb2.PolicyConfigSchema:
    schema = analyzer_pb2.PolicyConfigSchema()
    schema.properties.update(properties)
    return schema


def _config(level: int, **properties: Any) -> analyzer_pb2.PolicyConfig:
    config = analyzer_pb2.PolicyConfig(enforcementLevel=level)  # type: ignore[arg-type]
    config.properties.update(properties)
    return config


FAKE_INFO = analyzer_pb2.AnalyzerInfo(
    name="fake",
    policies=[
        analyzer_pb2.PolicyInfo(
            name="limits",
            description="caps",
            enforcementLevel=analyzer_pb2.MANDATORY,
            severity=analyzer_pb2.POLICY_SEVERITY_HIGH,
            remediation_steps="lower it",
            configSchema=_schema(limit={"type": "number", "default": 4}, names={"type": "array"}),
        ),
        analyzer_pb2.PolicyInfo(
            name="tags",
            enforcementLevel=analyzer_pb2.ADVISORY,
            configSchema=_schema(required={"type": "array", "default": ["owner"]}),
        ),
        analyzer_pb2.PolicyInfo(name="quiet", enforcementLevel=analyzer_pb2.MANDATORY),
        analyzer_pb2.PolicyInfo(name="loud", enforcementLevel=analyzer_pb2.REMEDIATE),
        analyzer_pb2.PolicyInfo(name="off", enforcementLevel=analyzer_pb2.DISABLED),
    ],
    initialConfig={
        "tags": _config(analyzer_pb2.MANDATORY, required=["owner", "site"]),
        # No level from the pack: on the wire that is ADVISORY, and the engine applies it.
        "quiet": _config(analyzer_pb2.ADVISORY, note="initial"),
    },
)


def test_policies_are_read_from_the_analyzer_info() -> None:
    bare, _ = _bare_analyzer(FAKE_INFO)
    assert bare.policies() == {
        "limits": {
            "description": "caps",
            "level": "mandatory",
            "severity": "POLICY_SEVERITY_HIGH",
            "remediation": "lower it",
            "schema": {"limit": {"type": "number", "default": 4.0}, "names": {"type": "array"}},
        },
        "tags": {
            "description": "",
            "level": "advisory",
            "severity": "",
            "remediation": "",
            "schema": {"required": {"type": "array", "default": ["owner"]}},
        },
        "quiet": {"description": "", "level": "mandatory", "severity": "", "remediation": "", "schema": {}},
        "loud": {"description": "", "level": "remediate", "severity": "", "remediation": "", "schema": {}},
        "off": {"description": "", "level": "disabled", "severity": "", "remediation": "", "schema": {}},
    }


def test_configure_layers_schema_defaults_initial_config_and_the_given_config() -> None:
    bare, recorder = _bare_analyzer(FAKE_INFO)
    bare.configure(
        {
            "all": "disabled",
            "limits": {"enforcementLevel": "advisory", "limit": 8},
            "tags": "remediate",
            "quiet": {"extra": True},
        }
    )
    expected = {
        "policyConfig": {
            "limits": {"enforcementLevel": "ADVISORY", "properties": {"limit": 8}},
            "tags": {"enforcementLevel": "REMEDIATE", "properties": {"required": ["owner", "site"]}},
            "quiet": {"enforcementLevel": "ADVISORY", "properties": {"note": "initial", "extra": True}},
            "loud": {"enforcementLevel": "DISABLED", "properties": {}},
            "off": {"enforcementLevel": "DISABLED", "properties": {}},
        }
    }
    assert recorder.sent == [("Configure", json_format.ParseDict(expected, analyzer_pb2.ConfigureAnalyzerRequest()))]
    bare.configure()
    assert recorder.sent[1] == (
        "Configure",
        json_format.ParseDict(
            {
                "policyConfig": {
                    "limits": {"enforcementLevel": "MANDATORY", "properties": {"limit": 4}},
                    "tags": {"enforcementLevel": "MANDATORY", "properties": {"required": ["owner", "site"]}},
                    "quiet": {"enforcementLevel": "ADVISORY", "properties": {"note": "initial"}},
                    "loud": {"enforcementLevel": "REMEDIATE", "properties": {}},
                    "off": {"enforcementLevel": "DISABLED", "properties": {}},
                }
            },
            analyzer_pb2.ConfigureAnalyzerRequest(),
        ),
    )


def test_diagnostics_become_violations() -> None:
    response = analyzer_pb2.AnalyzeResponse(
        diagnostics=[
            analyzer_pb2.AnalyzeDiagnostic(
                policyName="p",
                message="too big",
                description="caps sizes",
                enforcementLevel=analyzer_pb2.MANDATORY,
                severity=analyzer_pb2.POLICY_SEVERITY_CRITICAL,
            ),
            analyzer_pb2.AnalyzeDiagnostic(policyName="q", message="hm", urn=GROUP_URN),
        ]
    )
    assert _diagnostics(response) == [
        Violation("p", "mandatory", "too big", "", "caps sizes", "POLICY_SEVERITY_CRITICAL"),
        Violation("q", "advisory", "hm", GROUP_URN),
    ]
    # Analyze: the engine credits the resource analyzed, whatever URN a diagnostic names.
    assert [v.urn for v in _diagnostics(response, urn=SUBNET_URN)] == [SUBNET_URN, SUBNET_URN]


def test_report_json_and_rendering() -> None:
    plan = _wire_plan()
    report = GateReport(
        pack="meridian",
        version="0.1.0",
        resources=4,
        violations=[
            Violation("zz-advisory", "advisory", "look here", SUBNET_URN),
            Violation("b-policy", "mandatory", "  first line\nsecond line\n", SUBNET_URN, "d", "POLICY_SEVERITY_LOW"),
            Violation("b-policy", "mandatory", "stack-wide", ""),
            Violation("a-policy", "advisory", "somewhere else", "urn:pulumi:test::meridian::x:y:Z::gone"),
            Violation("a-policy", "mandatory", "the group", GROUP_URN),
        ],
    )
    assert report.to_json() == {
        "pack": "meridian",
        "version": "0.1.0",
        "resources": 4,
        "mandatory": 3,
        "violations": [
            {
                "policy": "zz-advisory",
                "level": "advisory",
                "message": "look here",
                "urn": SUBNET_URN,
                "description": "",
                "severity": "",
            },
            {
                "policy": "b-policy",
                "level": "mandatory",
                "message": "  first line\nsecond line\n",
                "urn": SUBNET_URN,
                "description": "d",
                "severity": "POLICY_SEVERITY_LOW",
            },
            {
                "policy": "b-policy",
                "level": "mandatory",
                "message": "stack-wide",
                "urn": "",
                "description": "",
                "severity": "",
            },
            {
                "policy": "a-policy",
                "level": "advisory",
                "message": "somewhere else",
                "urn": "urn:pulumi:test::meridian::x:y:Z::gone",
                "description": "",
                "severity": "",
            },
            {
                "policy": "a-policy",
                "level": "mandatory",
                "message": "the group",
                "urn": GROUP_URN,
                "description": "",
                "severity": "",
            },
        ],
    }
    assert render(report, plan) == (
        "Policies:\n"
        "    ❌ meridian@v0.1.0 (local: policies)\n"
        "        - [mandatory]  a-policy  (meridian:test:Group: group)\n"
        "          the group\n"
        "        - [mandatory]  b-policy\n"
        "          stack-wide\n"
        "        - [mandatory]  b-policy  (aws:ec2/subnet:Subnet: subnet)\n"
        "          first line\n"
        "          second line\n"
        "        - [advisory]  a-policy\n"
        "          somewhere else\n"
        "        - [advisory]  zz-advisory  (aws:ec2/subnet:Subnet: subnet)\n"
        "          look here\n"
        "\n"
        "4 resources analyzed: 3 mandatory, 2 advisory violations"
    )
    advisory = GateReport("meridian", "0.1.0", [Violation("p", "advisory", "m", STACK_URN)], 1)
    assert render(advisory, plan) == (
        "Policies:\n"
        "    ⚠️  meridian@v0.1.0 (local: policies)\n"
        "        - [advisory]  p  (pulumi:pulumi:Stack: meridian-test)\n"
        "          m\n"
        "\n"
        "1 resources analyzed: 0 mandatory, 1 advisory violations"
    )
    assert render(GateReport("meridian", "0.1.0", [], 0), plan) == (
        "Policies:\n    ✅ meridian@v0.1.0 (local: policies)\n\n"
        "0 resources analyzed: 0 mandatory, 0 advisory violations"
    )


def test_gate_uses_the_analyzer_it_is_given() -> None:
    plan = plan_of_resources()
    answer = GateReport("given", "9.9.9")
    calls: list[tuple[str, Any]] = []

    class Given:
        def configure(self, config: Any) -> None:
            calls.append(("configure", config))

        def analyze(self, given_plan: Plan) -> GateReport:
            calls.append(("analyze", given_plan))
            return answer

    config = {"all": "advisory"}
    assert gate(plan, config, analyzer=Given()) is answer  # type: ignore[arg-type]
    assert calls == [("configure", config), ("analyze", plan)]


def test_gate_starts_and_configures_a_pack_when_given_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(IN_PROCESS, "1")
    bad = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, provider=None)
    plan = plan_of_resources(bad)
    report = gate(plan)
    assert (report.pack, report.version, report.resources) == ("meridian", "0.1.0", 2)
    assert ("explicit-provider", "advisory", bad["urn"]) in [(v.policy, v.level, v.urn) for v in report.violations]
    assert gate(plan, {"all": "disabled"}).violations == []


# -- starting and stopping the pack -----------------------------------------------------------------


def test_the_pack_process_starts_answers_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IN_PROCESS, raising=False)
    started = Analyzer()
    try:
        assert started.server is None and started.process is not None
        # As the CLI starts a Python pack: our interpreter on its __main__.py, in the pack's directory.
        assert started.process.args == [sys.executable, "-u", str(PACK_DIR / "__main__.py")]
        assert Path(f"/proc/{started.process.pid}/cwd").resolve() == PACK_DIR.resolve()
        assert started.info.name == "meridian" and started.info.version == "0.0.1"
        # stderr is drained in the background for as long as the pack runs.
        started._drain.join(timeout=0.2)
        assert started._drain.daemon and started._drain.is_alive()
    finally:
        started.close()
    assert started.process.returncode is not None
    started._drain.join(timeout=10)
    assert not started._drain.is_alive()
    with pytest.raises(ValueError, match="closed channel"):
        started.stub.GetAnalyzerInfo(empty_pb2.Empty())


def test_a_pack_that_does_not_start_is_a_gate_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IN_PROCESS, raising=False)
    noise = "".join(chr(ord("a") + i % 26) for i in range(2500))
    (tmp_path / "__main__.py").write_text(
        f"import sys\nsys.stderr.write({noise!r} + '\\nboom: no analyzer here\\n')\nsys.exit(3)\n"
    )
    with pytest.raises(GateError) as caught:
        Analyzer(tmp_path)
    tail = (noise + "\nboom: no analyzer here")[-2000:]
    assert str(caught.value) == f"the policy pack in {tmp_path} did not start: {tail}"


def test_drain_reads_a_stream_to_its_end() -> None:
    stream = io.StringIO("one\ntwo\n")
    _drain(stream)
    assert stream.read() == ""
    _drain(None)


def test_pack_version_defaults_as_a_python_pack_answers(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    assert pack_version(tmp_path) == "0.0.1"
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 2.3.4-é\n", encoding="utf-8")
    assert pack_version(tmp_path) == "2.3.4-é"


# -- the in-process analyzer (mutation runs) -----------------------------------------------------------

TOY_POLICIES = """
from collections.abc import Mapping, Sequence

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

SEEN = {"resources": [], "stack": []}


def _plain(value):
    # Properties as plain values; what pulumi_policy holds as unknown becomes "<unknown>".
    if isinstance(value, str) or not isinstance(value, (Mapping, Sequence)):
        return value
    keys = list(value) if isinstance(value, Mapping) else range(len(value))
    plain = {}
    for key in keys:
        try:
            plain[key] = _plain(value[key])
        except UnknownValueError:
            plain[key] = "<unknown>"
    return plain if isinstance(value, Mapping) else list(plain.values())


def _resource(args, report):
    opts, provider = args.opts, args.provider
    timeouts = opts.custom_timeouts
    SEEN["resources"].append({
        "urn": args.urn,
        "props": _plain(args.props) if args.resource_type != "meridian:test:Blob" else None,
        "protect": opts.protect,
        "ignore_changes": list(opts.ignore_changes),
        "delete_before_replace": opts.delete_before_replace,
        "aliases": list(opts.aliases),
        "custom_timeouts": (timeouts.create_seconds, timeouts.update_seconds, timeouts.delete_seconds),
        "additional_secret_outputs": list(opts.additional_secret_outputs),
        "parent": opts.parent,
        "provider": None if provider is None else (provider.resource_type, provider.urn, provider.name),
    })
    report("seen", "urn:pulumi:test::meridian::x:y:Z::elsewhere")


def _stack(args, report):
    for r in args.resources:
        parent = None if r.parent is None else r.parent.urn
        SEEN["stack"].append((r.urn, parent, [d.urn for d in r.dependencies]))
    report("the whole stack", None)
    report("one of them", args.resources[-1].urn)


PACK = {
    "name": "toy",
    "policies": [
        ResourceValidationPolicy(name="toy-resource", description="sees resources", validate=_resource),
        StackValidationPolicy(name="toy-stack", description="sees the stack", validate=_stack),
    ],
    "enforcement_level": EnforcementLevel.ADVISORY,
    "description": "A toy pack",
}
"""


@pytest.fixture
def toy_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tiny pack served in this process; its policies keep what they see in `meridian_policies.SEEN`."""
    pack_dir = tmp_path / f"toypack_{uuid.uuid4().hex}"
    (pack_dir / "meridian_policies").mkdir(parents=True)
    (pack_dir / "meridian_policies" / "__init__.py").write_text(TOY_POLICIES)
    (pack_dir / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 2.3.4\n")
    monkeypatch.setenv(IN_PROCESS, "1")
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        yield pack_dir
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == pack_dir.name]:
            del sys.modules[name]


def test_the_in_process_pack_is_imported_from_its_directory_and_sees_the_wire(toy_pack: Path) -> None:
    assert str(toy_pack.parent) not in sys.path
    inside = Analyzer(toy_pack)
    again = Analyzer(toy_pack)
    try:
        assert sys.path[0] == str(toy_pack.parent) and sys.path.count(str(toy_pack.parent)) == 1
        assert (inside.info.name, inside.info.version, inside.info.description) == ("toy", "0.0.1", "A toy pack")
        report = gate(_wire_plan(), analyzer=inside)
    finally:
        inside.close()
        again.close()
    seen = sys.modules[f"{toy_pack.name}.meridian_policies"].SEEN
    assert seen["resources"][-1] == {
        "urn": SUBNET_URN,
        "props": {
            "cidrBlock": "10.0.1.0/24",
            "password": "[secret]",
            "meridian.io/token": "[secret]",
            "tags": {"meridian.io/pool": "[secret]", "Name": "<unknown>", "site": "fra"},
            "subnets": ["a", "[secret]"],
        },
        "protect": True,
        "ignore_changes": ["tags"],
        "delete_before_replace": True,
        "aliases": [],
        "custom_timeouts": (0, 0, 0),
        "additional_secret_outputs": ["arn"],
        "parent": GROUP_URN,
        "provider": ("pulumi:providers:aws", PROVIDER_URN, "site-provider"),
    }
    assert seen["resources"][1]["delete_before_replace"] is None
    assert seen["stack"] == [
        (STACK_URN, None, []),
        (PROVIDER_URN, STACK_URN, []),
        (GROUP_URN, STACK_URN, []),
        (SUBNET_URN, GROUP_URN, [GROUP_URN, PROVIDER_URN]),
    ]
    assert (report.pack, report.version) == ("toy", "2.3.4")
    # Each resource policy's diagnostic names another URN: the engine credits the resource analyzed.
    assert [(v.policy, v.message, v.urn) for v in report.violations] == [
        ("toy-resource", "sees resources\nseen", PROVIDER_URN),
        ("toy-resource", "sees resources\nseen", GROUP_URN),
        ("toy-resource", "sees resources\nseen", SUBNET_URN),
        ("toy-stack", "sees the stack\nthe whole stack", ""),
        ("toy-stack", "sees the stack\none of them", SUBNET_URN),
    ]


def test_the_in_process_pack_takes_messages_as_large_as_the_pack_process(toy_pack: Path) -> None:
    # PolicyPack's server accepts messages far over gRPC's default 4 MiB; so must the in-process one.
    blob = resource("meridian:test:Blob", "blob", {"data": "x" * (5 * 1024 * 1024)}, provider=None)
    inside = Analyzer(toy_pack)
    try:
        report = gate(Plan(project="meridian", stack="test", resources=[blob]), analyzer=inside)
    finally:
        inside.close()
    assert [(v.policy, v.urn) for v in report.violations] == [
        ("toy-resource", blob["urn"]),
        ("toy-stack", ""),
        ("toy-stack", blob["urn"]),
    ]
