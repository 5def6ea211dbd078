"""The offline engine: evaluate the real `__main__.py` under the Pulumi SDK's mock monitor and record a plan.

The program runs exactly as the Python language host runs it for `pulumi preview`
(`run_in_stack` on a fresh event loop, in a fresh context, config and secret keys set
the way the CLI sets them); only the resource monitor is the SDK's mock one. A
subclass records every registration in full - type, name, parent, provider, options
and the serialized inputs with their secret markers - which is the plan that `plan`,
`gate`, `diff`, `bench` and the tests all consume.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import hashlib
import json
import logging
import runpy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockEngine, MockMonitor, Mocks
from pulumi.runtime.settings import ROOT, Settings, configure
from pulumi.runtime.stack import run_in_stack

from components.secrets import VAULT_READER
from components.spec.load import STACK_FILE, STRICT

from .mocks import MeridianMocks
from .paths import property_path
from .stackfile import PROJECT, StackConfig, StackFileError, read_stack_file

REPO = Path(__file__).resolve().parent.parent
PROGRAM = REPO / "__main__.py"
STACKS = REPO / "stacks"
SECRET = "[secret]"
UNKNOWN = "[unknown]"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Plan:
    """Everything `pulumi preview` would be asked to do, as recorded offline."""

    project: str
    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Inputs with secrets in clear, by URN: only when evaluated with reveal_secrets=True
    #: (tests that parse cloud-init or kubeconfigs); never part of the plan document.
    revealed: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: Data-source calls (token, args with secrets redacted, provider reference), in call
    #: order; what the preview would ask the providers, not part of the plan document.
    invokes: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: Existing resources the program reads (`Resource.get`: a capi cluster's kubeconfig Secret), in
    #: read order: urn, type, name, id, parent, provider, depends_on. `pulumi preview` shows them as
    #: reads; they are no registration of the plan document.
    reads: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: Outputs each component registered (`pulumi stack` shows them), by URN, secrets redacted.
    component_outputs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: The program's warnings (`pulumi.log.warn`), as `pulumi preview` would show them; not part of the plan document.
    warnings: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The plan document written by `meridian plan --json`."""
        return {"project": self.project, "stack": self.stack, "resources": self.resources, "outputs": self.outputs}

    def by_type(self, token: str) -> list[dict[str, Any]]:
        """Resources of one type token."""
        return [r for r in self.resources if r["type"] == token]

    def one(self, token: str, name: str | None = None) -> dict[str, Any]:
        """The one resource of `token` (named `name`, if given); KeyError unless there is exactly one.

        Type and name need not be unique in a plan (URNs include the parent chain), so an
        ambiguous lookup is an error rather than the first match.
        """
        found = [r for r in self.by_type(token) if name is None or r["name"] == name]
        if len(found) != 1:
            raise KeyError(f"expected one {token} {name or ''}, found {sorted(r['name'] for r in found)}")
        return found[0]

    def within(self, urn: str) -> Plan:
        """The plan of everything nested under the resource with `urn` (lookups scoped to it)."""
        return Plan(self.project, self.stack, self.descendants(urn))

    def urns(self) -> list[str]:
        """Every URN of the plan, sorted: the identity contract golden files pin."""
        return sorted(r["urn"] for r in self.resources)

    def descendants(self, urn: str) -> list[dict[str, Any]]:
        """Every resource nested (at any depth) under the resource with `urn`."""
        by_urn = {r["urn"]: r for r in self.resources}

        def inside(resource: dict[str, Any]) -> bool:
            parent = resource["parent"]
            while parent:
                if parent == urn:
                    return True
                parent = by_urn[parent]["parent"] if parent in by_urn else None
            return False

        return [r for r in self.resources if inside(r)]

    def children(self, urn: str) -> list[dict[str, Any]]:
        """Direct children of the resource with `urn`."""
        return [r for r in self.resources if r["parent"] == urn]


def redact(value: Any, path: str, secret_paths: list[str], *, reveal: bool = False) -> Any:
    """Turn serialized property values into plain JSON: secrets become "[secret]", unknowns "[unknown]".

    With `reveal`, secret values are unwrapped instead (for tests; never for a plan document).
    """
    if isinstance(value, dict):
        signature = value.get(rpc._special_sig_key)
        if signature == rpc._special_secret_sig:
            secret_paths.append(path)
            return redact(value.get("value"), path, [], reveal=True) if reveal else SECRET
        if signature == rpc._special_resource_sig:
            return {"urn": value.get("urn"), "id": redact(value.get("id"), path, secret_paths)}
        if signature == rpc._special_output_value_sig:
            if value.get("secret"):
                secret_paths.append(path)
                return SECRET
            return redact(value["value"], path, secret_paths) if "value" in value else UNKNOWN
        if signature in (rpc._special_asset_sig, rpc._special_archive_sig):
            return {k: v for k, v in value.items() if k != rpc._special_sig_key}
        return {k: redact(v, property_path(path, k), secret_paths, reveal=reveal) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, property_path(path, i), secret_paths, reveal=reveal) for i, v in enumerate(value)]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    return value


def _struct(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True) if message is not None else {}


def make_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """A URN as the engine makes it (resource.NewURN): the parent's whole type chain, minus the root stack.

    The SDK's mock monitor keeps only the parent's last type segment and prefixes the
    stack's type, so its URNs would never match a real stack's; aliases and golden URN
    lists must be built from the real form.
    """
    if parent:
        qualified = parent.split("::")[2]
        if qualified != STACK_TYPE:
            type_ = f"{qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class PlanRecorder(MockMonitor):
    """The SDK's mock monitor, recording each registration as the engine would receive it."""

    def __init__(self, mocks: Mocks, *, reveal_secrets: bool = False) -> None:
        super().__init__(mocks)
        self.reveal_secrets = reveal_secrets
        self.revealed: dict[str, dict[str, Any]] = {}
        self._stack = ""
        self._project = PROJECT
        #: Event loops the SDK's mock monitor creates in engine worker threads (_ensure_event_loop);
        #: closed after the run, or the GC finalizes them later and raises from __del__.
        self.worker_loops: set[asyncio.AbstractEventLoop] = set()
        self.records: list[dict[str, Any]] = []
        self.invokes: list[dict[str, Any]] = []
        self.reads: list[dict[str, Any]] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}
        #: Packages whose default provider the stack disables (`pulumi:disable-default-providers`).
        self.disabled_default_providers: frozenset[str] = frozenset()
        self.stack_outputs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """Override of the mock monitor's URN maker, so the SDK is handed engine-form URNs (`make_urn`)."""
        return make_urn(self._stack, self._project, parent, type_, name)

    def _refuse_default_provider(self, token: str, what: str, prefix: str = "") -> None:
        # The engine's check (pkg/resource/deploy/default_providers.go shouldDenyRequest, the
        # DenyDefaultProvider reference; message: sdk/go/common/diag/errors.go, code 2015).
        package = token.split(":", 1)[0]
        if package != "pulumi" and (
            package in self.disabled_default_providers or "*" in self.disabled_default_providers
        ):
            raise DefaultProviderError(
                f"{prefix}Default provider for '{package}' disabled. '{what}' must use an explicit provider."
            )

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Record the registration, then let the mock monitor answer it."""
        # source_eval.go: custom resources other than providers, and remote (multi-language)
        # components, which the engine names by their type.
        if request.custom and not request.type.startswith("pulumi:providers:") and not request.provider:
            self._refuse_default_provider(request.type, self.make_urn(request.parent, request.type, request.name))
        elif request.remote and not request.provider:
            self._refuse_default_provider(request.type, request.type)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self._keep_worker_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        secret_paths: list[str] = []
        inputs = redact(_struct(request.object), "", secret_paths)
        record = {
            "urn": urn,
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            "custom": bool(request.custom),
            "inputs": inputs,
            "secret_paths": sorted(secret_paths),
            "protect": bool(request.protect) if request.HasField("protect") else False,
            "provider": request.provider or None,
            "depends_on": sorted(request.dependencies),
            "aliases": [_alias(a) for a in request.aliases],
            "ignore_changes": list(request.ignoreChanges),
            "replace_on_changes": list(request.replaceOnChanges),
            "additional_secret_outputs": list(request.additionalSecretOutputs),
            "delete_before_replace": bool(request.deleteBeforeReplace),
            "retain_on_delete": bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
            "version": request.version or None,
        }
        if self.reveal_secrets:
            self.revealed[urn] = redact(_struct(request.object), "", [], reveal=True)
        if request.type.startswith("pulumi:providers:") and isinstance(self.mocks, MeridianMocks):
            self.mocks.providers[urn] = inputs
        with self._lock:
            self.records.append(record)
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Record a read of an existing resource, then let the mock monitor answer it."""
        if not request.provider:
            self._refuse_default_provider(request.type, self.make_urn(request.parent, request.type, request.name))
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self._keep_worker_loop()
        with self._lock:
            self.reads.append(
                {
                    "urn": self.make_urn(request.parent, request.type, request.name),
                    "type": request.type,
                    "name": request.name,
                    "id": request.id,
                    "parent": request.parent or None,
                    "provider": request.provider or None,
                    "depends_on": sorted(request.dependencies),
                }
            )
        return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Record a data-source call and answer it through the mocks.

        Default providers the stack disables are refused, as the engine refuses them: a lookup
        without an explicit provider would ask whatever cloud the ambient credentials name.
        """
        if not request.provider:
            self._refuse_default_provider(request.tok, request.tok, "Invoke: ")
        with self._lock:
            self.invokes.append(
                {
                    "token": request.tok,
                    "args": redact(_struct(request.args), "", []),
                    "provider": request.provider or None,
                }
            )
        response = super().Invoke(request)  # type: ignore[no-untyped-call]
        self._keep_worker_loop()
        return response

    def _keep_worker_loop(self) -> None:
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_event_loop_policy().get_event_loop()
            with self._lock:
                self.worker_loops.add(loop)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Keep the root stack's and every component's outputs (secrets redacted)."""
        outputs = redact(_struct(request.outputs), "", [])
        if request.urn.split("::")[2] == STACK_TYPE:
            self.stack_outputs = outputs
        else:
            with self._lock:
                self.component_outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def _alias(alias: Any) -> dict[str, Any] | str:
    if alias.HasField("urn"):
        return str(alias.urn)
    spec = alias.spec
    return {
        key: value
        for key, value in {
            "name": spec.name,
            "type": spec.type,
            "stack": spec.stack,
            "project": spec.project,
            "parent": spec.parentUrn or None,
            "no_parent": spec.noParent or None,
        }.items()
        if value
    }


def tree_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before children, siblings by (type, name): stable whatever order threads registered in."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for record in records:
        children.setdefault(record["parent"], []).append(record)
    ordered: list[dict[str, Any]] = []

    def visit(parent: str | None) -> None:
        for record in sorted(children.get(parent, []), key=lambda r: (r["type"], r["name"])):
            ordered.append(record)
            visit(record["urn"])

    visit(None)
    known = {r["urn"] for r in ordered}
    ordered.extend(r for r in records if r["urn"] not in known)  # orphans (a parent never registered)
    return ordered


def bundled_stacks(directory: Path = STACKS) -> list[str]:
    """The names of the stacks shipped in stacks/ (`eo4eu`, ...), sorted."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))


def resolve_stack(stack: str | Path) -> Path:
    """A bundled stack's name (`eo4eu`) or the path of any stack file."""
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return STACKS / f"Pulumi.{stack}.yaml"


def display_path(path: Path) -> str:
    """How errors name a stack file: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def evaluate(
    stack: str | Path,
    *,
    program: Path = PROGRAM,
    mocks: Mocks | None = None,
    config: StackConfig | None = None,
    recorder: PlanRecorder | None = None,
    reveal_secrets: bool = False,
    vault: bool = False,
    strict: bool = False,
) -> Plan:
    """Run the Pulumi program for `stack` offline and return its plan.

    The program's warnings (`pulumi.log.warn`: what `pulumi up` shows as warnings) are the plan's
    `warnings`; with `strict`, the program makes its spec warnings errors (components/spec/load.py).

    `vault:` references read marked placeholders, unless `vault` is true: then they are read from
    the real Vault at VAULT_ADDR, as `pulumi up` reads them (`meridian plan --vault`).

    Raises `StackFileError` for an unreadable stack file and whatever the program raises
    (a `SpecError` for an invalid spec) after the run has been cleaned up. Pass a
    `recorder` to inspect what was registered even when the run fails.
    """
    path = resolve_stack(stack)
    shown = display_path(path)
    stack_config = config or read_stack_file(path, shown)
    recorder = recorder or PlanRecorder(mocks or MeridianMocks(), reveal_secrets=reveal_secrets)
    recorder._stack = stack_config.stack
    recorder.disabled_default_providers = disabled_default_providers(stack_config, shown)
    context = contextvars.copy_context()
    # The program raises the collector's thresholds for the rest of its process
    # (components/program.py); here many programs share one process, so each gets its own.
    thresholds = gc.get_threshold()
    warned = _Warnings()
    engine_log = logging.getLogger("meridian.engine")
    engine_log.addHandler(warned)
    try:
        context.run(_run, program, stack_config, shown, recorder, vault, strict)
        return Plan(
            project=PROJECT,
            stack=stack_config.stack,
            resources=tree_order(recorder.records),
            outputs=recorder.stack_outputs,
            revealed=recorder.revealed,
            invokes=recorder.invokes,
            reads=recorder.reads,
            component_outputs=recorder.component_outputs,
            warnings=list(warned.messages),
        )
    finally:
        engine_log.removeHandler(warned)
        gc.set_threshold(*thresholds)


class _Warnings(logging.Handler):
    """The warnings the program logs through the mock engine (`pulumi.log.warn`), in order."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run(
    program: Path, stack_config: StackConfig, shown: str, recorder: PlanRecorder, vault: bool, strict: bool
) -> None:
    # Mirrors pulumi.automation._server (itself derived from pulumi-language-python-exec):
    # reset the runtime, set config, run the program in a stack on a new event loop.
    from pulumi.runtime.config import set_all_config

    ROOT.set(None)
    configure(
        Settings(
            project=PROJECT,
            stack=stack_config.stack,
            monitor=recorder,
            engine=MockEngine(logging.getLogger("meridian.engine")),
            dry_run=True,
            organization="organization",
            root_directory=str(program.parent),
        )
    )
    set_all_config(dict(stack_config.config), list(stack_config.secret_keys))
    STACK_FILE.set(shown)
    STRICT.set(strict)
    if not vault:
        VAULT_READER.set(offline_vault_field)
    loop = asyncio.new_event_loop()
    # Once the program has failed, the SDK's outstanding registrations fail with it; their
    # "exception never retrieved" reports would bury the one error that matters.
    loop.set_exception_handler(lambda _loop, _context: None)
    asyncio.set_event_loop(loop)
    try:

        def program_main() -> None:
            runpy.run_path(str(program), run_name="__main__")

        loop.run_until_complete(run_in_stack(program_main))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                loop.run_until_complete(task)
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
        for worker_loop in recorder.worker_loops:
            if worker_loop is not loop and not worker_loop.is_running():
                worker_loop.close()


def offline_vault_field(mount: str, path: str, field: str) -> str:
    """What a Vault reference reads offline: a marked placeholder (no Vault is reachable here).

    Distinct per reference, and short enough for every consumer a real secret meets: bcrypt reads
    at most 72 bytes (the central observability endpoints' password, components/addons/central.py).
    """
    digest = hashlib.sha256(f"{mount}/{path}#{field}".encode()).hexdigest()[:16]
    return f"[offline placeholder for vault {digest}]"


def write_plan(plan: Plan, path: Path) -> None:
    """Write the plan as stable, diffable JSON."""
    path.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


class PlanFileError(ValueError):
    """A plan file that is not a plan `meridian plan --json` wrote (named with its path)."""


#: What every resource of a plan document carries (`PlanRecorder.RegisterResource`).
RESOURCE_KEYS = frozenset(
    {"urn", "type", "name", "parent", "custom", "inputs", "secret_paths", "protect", "provider", "aliases"}
    | {"ignore_changes", "replace_on_changes", "retain_on_delete", "delete_before_replace", "version"}
)


def load_plan(path: Path) -> Plan:
    """A plan written by `meridian plan --json` (or `write_plan`); PlanFileError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PlanFileError(f"{path}: cannot read a plan: {error}") from None
    if not isinstance(data, dict) or not {"project", "stack", "resources", "outputs"} <= data.keys():
        raise PlanFileError(f"{path}: not a plan (needs project, stack, resources and outputs)")
    for index, resource in enumerate(data["resources"] if isinstance(data["resources"], list) else [None]):
        missing = RESOURCE_KEYS - resource.keys() if isinstance(resource, dict) else RESOURCE_KEYS
        if missing:
            raise PlanFileError(f"{path}: resources[{index}] lacks {', '.join(sorted(missing))}")
    return Plan(project=data["project"], stack=data["stack"], resources=data["resources"], outputs=data["outputs"])


class DefaultProviderError(RuntimeError):
    """A resource or data source without an explicit provider (the engine refuses default ones)."""


#: The stack config key that makes the engine refuse default providers (pulumi/pulumi#8829).
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"


def disabled_default_providers(stack_config: StackConfig, shown: str) -> frozenset[str]:
    """The packages `pulumi:disable-default-providers` names ("*": all), as the engine reads it."""
    # pkg/resource/deploy/default_providers.go shouldDenyRequest: unset, empty or null denies
    # nothing; otherwise a JSON list whose entries are compared trimmed.
    raw = stack_config.config.get(DISABLE_DEFAULT_PROVIDERS, "")
    try:
        packages = json.loads(raw) if raw else None
    except ValueError:
        packages = False
    if packages is None:
        return frozenset()
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise StackFileError(f"{shown}: config.{DISABLE_DEFAULT_PROVIDERS}: must be a list of package names (or '*')")
    return frozenset(p.strip() for p in packages)
