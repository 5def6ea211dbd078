"""`meridian gate`: run the policy pack as a real analyzer process and ask it what the engine would.

The pack (`policies/`) is started the way the Pulumi CLI starts a Python policy pack: its
`__main__.py` in the pack directory, which prints the port of its Analyzer gRPC server.
The gate then speaks Pulumi's Analyzer protocol (`pulumi.runtime.proto.analyzer_pb2`):
`GetAnalyzerInfo`, `Configure` with each policy's schema defaults merged with the
user's config (as `--policy-pack-config` does), `Analyze` for every resource (components
included, the root stack not) with its inputs, options and provider, and one
`AnalyzeStack` with every resource, parent and dependency. Input values are sent as
the engine sends them: secret values wrapped in the secret signature (offline they are
the plan's "[secret]" placeholders), unknowns as the unknown sentinel.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from .harness import REPO, UNKNOWN, Plan
from .paths import property_path

PACK_DIR = REPO / "policies"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
_LEVEL_VALUES = {name: value for value, name in LEVELS.items()}


class GateError(Exception):
    """The pack could not be started or answered wrongly (not a policy violation)."""


@dataclass(frozen=True)
class Violation:
    """One diagnostic the pack reported."""

    policy: str
    level: str
    message: str
    urn: str
    description: str = ""
    severity: str = ""


@dataclass
class GateReport:
    """Everything the pack said about a plan."""

    pack: str
    version: str
    violations: list[Violation] = field(default_factory=list)
    resources: int = 0

    @property
    def mandatory(self) -> list[Violation]:
        """Violations that block the change."""
        return [v for v in self.violations if v.level == "mandatory"]

    def to_json(self) -> dict[str, Any]:
        """The `--json` report."""
        return {
            "pack": self.pack,
            "version": self.version,
            "resources": self.resources,
            "mandatory": len(self.mandatory),
            "violations": [asdict(v) for v in self.violations],
        }


def _wire(value: Any, path: str, secrets: set[str]) -> Any:
    """Plan input values back to the engine's wire form (secret paths wrapped, unknowns as the sentinel)."""
    wired: Any
    if isinstance(value, dict):
        wired = {k: _wire(v, property_path(path, k), secrets) for k, v in value.items()}
    elif isinstance(value, list):
        wired = [_wire(v, property_path(path, i), secrets) for i, v in enumerate(value)]
    else:
        wired = rpc.UNKNOWN if value == UNKNOWN else value
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": wired} if path in secrets else wired


def _struct(resource: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_wire(resource.get("inputs") or {}, "", set(resource.get("secret_paths") or [])))
    return struct


def _options(resource: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    """The options the engine sends (pkg/resource/deploy/step_generator.go, marshalResourceOptions).

    No aliases: the engine sends only the alias through which it found the resource's old state
    (`new.GetAliases()`), and the gate has no old state, as in a stack's first preview. Custom
    timeouts are always present; a plan records none (no component sets any), so all are 0.
    """
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(resource.get("protect")),
        ignoreChanges=list(resource.get("ignore_changes") or []),
        deleteBeforeReplace=bool(resource.get("delete_before_replace")),
        deleteBeforeReplaceDefined=bool(resource.get("delete_before_replace")),
        additionalSecretOutputs=list(resource.get("additional_secret_outputs") or []),
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        parent=resource.get("parent") or "",
    )


#: Set (to anything) to serve the pack's analyzer inside this process instead of starting
#: its __main__.py. Only `make mutation` does: mutmut sees which tests reach a policy only
#: in its own process. The analyzer is the same servicer the pack's PolicyPack runs
#: (pulumi_policy's, pinned), spoken to over the same gRPC protocol on 127.0.0.1.
IN_PROCESS = "MERIDIAN_GATE_IN_PROCESS"


class Analyzer:
    """A running policy pack and a client for it."""

    def __init__(self, pack_dir: Path = PACK_DIR) -> None:
        """Start the pack in `pack_dir` (as the CLI does: its __main__.py, cwd the pack) and connect."""
        self.pack_dir = pack_dir
        self.process: subprocess.Popen[str] | None = None
        self.server: grpc.Server | None = None
        port = self._serve_in_process(pack_dir) if os.environ.get(IN_PROCESS) else self._start_process(pack_dir)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def policies(self) -> dict[str, dict[str, Any]]:
        """Every policy the pack declares: name -> {description, level, severity, remediation, config schema}."""
        out = {}
        for policy in self.info.policies:
            out[policy.name] = {
                "description": policy.description,
                "level": LEVELS[policy.enforcementLevel],
                "severity": analyzer_pb2.PolicySeverity.Name(policy.severity) if policy.severity else "",
                "remediation": policy.remediation_steps,
                "schema": json_format.MessageToDict(policy.configSchema.properties),
            }
        return out

    def configure(self, config: dict[str, Any] | None = None) -> None:
        """Send each policy's config: schema defaults, then the pack's initial config, then `config` (CLI order)."""
        config = config or {}
        # The engine reads an initial config entry as a level (advisory when the pack gave none)
        # and properties (plugin/analyzer_plugin.go GetAnalyzerInfo).
        initial = {
            name: {"enforcementLevel": LEVELS[value.enforcementLevel], **json_format.MessageToDict(value.properties)}
            for name, value in self.info.initialConfig.items()
        }
        everything = config.get("all")
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, meta in self.policies().items():
            properties = {key: spec["default"] for key, spec in meta["schema"].items() if "default" in spec}
            level = meta["level"]
            for layer in (initial.get(name), config.get(name)):
                if isinstance(layer, str):
                    level = layer
                elif isinstance(layer, dict):
                    level = layer.get("enforcementLevel", level)
                    properties.update({k: v for k, v in layer.items() if k != "enforcementLevel"})
            if isinstance(everything, str) and name not in config:
                level = everything
            struct = struct_pb2.Struct()
            struct.update(properties)
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=_LEVEL_VALUES[level], properties=struct)
            )
        self.stub.Configure(request)

    def analyze(self, plan: Plan) -> GateReport:
        """Analyze every resource (not the root stack), then the whole stack; collect the diagnostics."""
        report = GateReport(pack=self.info.name, version=pack_version(self.pack_dir), resources=len(plan.resources))
        wire = _wire_resources(plan)
        for resource, fields in wire:
            # The engine hands every registered resource to analyzers, components included,
            # but not the root stack.
            if resource["type"] == "pulumi:pulumi:Stack":
                continue
            request = analyzer_pb2.AnalyzeRequest(**fields)
            # The engine credits the resource analyzed with every diagnostic, whatever URN it names.
            report.violations += _diagnostics(self.stub.Analyze(request), urn=resource["urn"])
        stack = analyzer_pb2.AnalyzeStackRequest()
        for resource, fields in wire:
            stack.resources.append(
                analyzer_pb2.AnalyzerResource(
                    **fields,
                    parent=resource.get("parent") or "",
                    dependencies=list(resource.get("depends_on") or []),
                )
            )
        report.violations += _diagnostics(self.stub.AnalyzeStack(stack))
        return report

    def _start_process(self, pack_dir: Path) -> str:
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter running our own pack
            [sys.executable, "-u", str(pack_dir / "__main__.py")],
            cwd=pack_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stdout, stderr = self.process.stdout, self.process.stderr
        assert stdout is not None
        assert stderr is not None
        port = stdout.readline().strip()
        if not port.isdigit():
            self.close()
            errors = stderr.read()
            raise GateError(f"the policy pack in {pack_dir} did not start: {errors.strip()[-2000:]}")
        # Keep draining stderr so a chatty pack never blocks on a full pipe.
        self._drain = threading.Thread(target=_drain, args=(stderr,), daemon=True)
        self._drain.start()
        return port

    def _serve_in_process(self, pack_dir: Path) -> str:
        from concurrent import futures

        from pulumi_policy.policy import _GRPC_CHANNEL_OPTIONS, _PolicyAnalyzerServicer

        # The pack's own arguments (policies/__main__.py), imported by their path from the
        # repository root (`policies.meridian_policies`, a namespace package), which is the module
        # name mutmut gives the pack's mutants.
        if str(pack_dir.parent) not in sys.path:
            sys.path.insert(0, str(pack_dir.parent))
        package = importlib.import_module(f"{pack_dir.name}.meridian_policies")
        pack: dict[str, Any] = package.PACK

        # What PolicyPack.__init__ does (pulumi_policy 1.21.0), without blocking this process.
        servicer = _PolicyAnalyzerServicer(
            pack["name"], "0.0.1", pack["policies"], pack["enforcement_level"], description=pack["description"]
        )
        workers = futures.ThreadPoolExecutor(max_workers=4)  # pragma: no mutate - the gate sends one RPC at a time
        self.server = grpc.server(workers, options=_GRPC_CHANNEL_OPTIONS)
        analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return str(port)

    def close(self) -> None:
        """Stop the pack process (or the in-process server)."""
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.server is not None:
            self.server.stop(0)  # pragma: no mutate - no RPC is in flight when the gate closes: no grace to wait
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)  # pragma: no mutate - the pack exits on SIGTERM at once
            except subprocess.TimeoutExpired:
                self.process.kill()


def pack_version(pack_dir: Path) -> str:
    """The pack's version as the CLI takes it: from PulumiPolicy.yaml (a Python pack always answers 0.0.1)."""
    import yaml

    document = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_bytes())
    return str(document.get("version", "0.0.1"))


def _drain(stream: IO[str] | None) -> None:
    if stream is not None:
        for _ in stream:
            pass


def _wire_resources(plan: Plan) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each resource with the fields Analyze and AnalyzeStack share, each serialized once."""
    structs = {r["urn"]: _struct(r) for r in plan.resources}
    by_urn = {r["urn"]: r for r in plan.resources}
    out = []
    for resource in plan.resources:
        fields: dict[str, Any] = {
            "type": resource["type"],
            "properties": structs[resource["urn"]],
            "urn": resource["urn"],
            "name": resource["name"],
            "options": _options(resource),
        }
        # A provider reference is "<provider URN>::<provider ID>".
        reference = resource.get("provider")
        provider = by_urn.get(reference.rsplit("::", 1)[0]) if reference else None
        if provider is not None:
            fields["provider"] = analyzer_pb2.AnalyzerProviderResource(
                type=provider["type"], properties=structs[provider["urn"]], urn=provider["urn"], name=provider["name"]
            )
        out.append((resource, fields))
    return out


def _diagnostics(response: analyzer_pb2.AnalyzeResponse, urn: str | None = None) -> list[Violation]:
    """The diagnostics as violations, each credited to `urn` when given, else to the URN it names."""
    return [
        Violation(
            policy=d.policyName,
            level=LEVELS[d.enforcementLevel],
            message=d.message,
            urn=d.urn if urn is None else urn,
            description=d.description,
            severity=analyzer_pb2.PolicySeverity.Name(d.severity) if d.severity else "",
        )
        for d in response.diagnostics
    ]


@contextmanager
def running_pack(pack_dir: Path = PACK_DIR) -> Iterator[Analyzer]:
    """A started pack, stopped afterwards."""
    analyzer = Analyzer(pack_dir)
    try:
        yield analyzer
    finally:
        analyzer.close()


def gate(plan: Plan, config: dict[str, Any] | None = None, analyzer: Analyzer | None = None) -> GateReport:
    """Run the pack over a plan (starting it unless an analyzer is given) and return the report."""
    if analyzer is not None:
        analyzer.configure(config)
        return analyzer.analyze(plan)
    with running_pack() as started:
        started.configure(config)
        return started.analyze(plan)


def render(report: GateReport, plan: Plan) -> str:
    """Violations grouped the way `pulumi preview` prints policy results."""
    where = {r["urn"]: f"  ({r['type']}: {r['name']})" for r in plan.resources}
    lines = ["Policies:"]
    mark = "❌" if report.mandatory else ("⚠️ " if report.violations else "✅")
    lines.append(f"    {mark} {report.pack}@v{report.version} (local: policies)")
    for violation in sorted(report.violations, key=lambda v: (v.level != "mandatory", v.policy, v.urn)):
        lines.append(f"        - [{violation.level}]  {violation.policy}{where.get(violation.urn, '')}")
        for text in violation.message.strip().splitlines():
            lines.append(f"          {text}")
    mandatory, advisory = len(report.mandatory), len(report.violations) - len(report.mandatory)
    lines.append(f"\n{report.resources} resources analyzed: {mandatory} mandatory, {advisory} advisory violations")
    return "\n".join(lines)
