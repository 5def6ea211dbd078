"""Shared fixtures: every test evaluates the real program through the one offline harness."""

from __future__ import annotations

import contextlib
import copy
import http.server
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.harness import Plan, bundled_stacks, evaluate

SPECS = Path(__file__).parent / "specs"
#: Set by `make mutation`: generated tests draw fewer examples per mutant (the full counts run in
#: `make test`; a mutant the property tests would catch is caught by their first examples or by
#: the explicit cases beside them).
MUTATION_RUN = bool(os.environ.get("MERIDIAN_MUTATION"))


#: mutmut's own runs (its stats, the forced failure, the listing), not a mutant's.
_NOT_A_MUTANT = ("", "stats", "fail", "list_all_tests", "mutant_generation")

if MUTATION_RUN:
    # mutmut forks every mutant's run from a process that has collected the tests: importing the
    # provider SDKs here (what the program imports on its first plan, ~1.3 s) spares every mutant that.
    from scripts.sdk import load_packages

    load_packages()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a mutant's run, the likeliest killers first (scripts/mutation.py `test_order`)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    stats = Path("mutmut-stats.json")
    if not MUTATION_RUN or mutant in _NOT_A_MUTANT or not stats.exists():
        return
    import json

    from scripts import mutation

    durations: dict[str, float] = json.loads(stats.read_text()).get("duration_by_test", {})
    kills = mutation.read_kills(Path(mutation.KILLS))
    order = mutation.test_order([item.nodeid for item in items], durations, kills, mutation.function_of(mutant))
    rank = {test: n for n, test in enumerate(order)}
    items.sort(key=lambda item: rank[item.nodeid])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In a mutant's run, record the test that killed it (its first failure), for `test_order`."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if MUTATION_RUN and report.failed and mutant not in _NOT_A_MUTANT:
        from scripts import mutation

        mutation.record_kill(Path(mutation.KILLS), mutant, report.nodeid)


class PlanCache(dict[str, Any]):
    """A per-process cache of evaluated plans, emptied before every test of mutmut's stats run.

    mutmut credits a function to the tests during which it ran; a plan evaluated once and
    reused would credit every component only to the first test that asked for it, and a
    mutant would never meet the tests that check its output. Within one mutant's run the
    mutant does not change, so the cache stays.
    """

    registry: list[PlanCache] = []

    def __init__(self) -> None:
        super().__init__()
        PlanCache.registry.append(self)


@pytest.fixture(autouse=True)
def _fresh_plans_in_mutation_runs() -> None:
    if MUTATION_RUN and os.environ.get("MUTANT_UNDER_TEST") == "stats":
        for cache in PlanCache.registry:
            cache.clear()


def examples(count: int) -> int:
    """Hypothesis examples for a property test: `count`, or a tenth of it in mutation runs."""
    return max(10, count // 10) if MUTATION_RUN else count


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with the resolver's one message, when a locked chart or CRD has no source.

    Tests read upstream charts and CRDs only through scripts/upstream.py (a mirror named by
    MERIDIAN_UPSTREAM or beside the repository, the cache, or the chart's repository).
    """
    from components.charts import chart_lock
    from scripts.upstream import UpstreamUnavailableError, chart_dir, chart_reference, crd_file

    try:
        # A chart without a recorded digest is never rendered (its lock entry says why); the files
        # its values are checked against are locked one by one (test_external_secrets.py).
        for name, chart in chart_lock().charts.items():
            if chart.digest is not None:
                chart_dir(name)
            else:
                chart_reference(name)
        for path in chart_lock().crds:
            crd_file(path)
    except UpstreamUnavailableError as error:
        pytest.exit(f"upstream files unavailable: {error}", returncode=pytest.ExitCode.USAGE_ERROR)


BUNDLED = bundled_stacks()


def load_platform(path: Path) -> dict[str, Any]:
    """The `meridian:platform` mapping of a stack file."""
    platform: dict[str, Any] = yaml.safe_load(path.read_text())["config"]["meridian:platform"]
    return platform


def write_edited(directory: Path, stack: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A bundled stack's file with `edit` applied to its platform, written under its own name into `directory`."""
    from scripts.harness import STACKS

    document = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    edit(document["config"]["meridian:platform"])
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def edited_stack(directory: Path, stack: str, edit: Callable[[dict[str, Any]], None], **kwargs: Any) -> Plan:
    """The plan of a bundled stack with `edit` applied to its platform (`evaluate`'s keywords pass through)."""
    return evaluate(write_edited(directory, stack, edit), **kwargs)


@pytest.fixture
def base_platform() -> dict[str, Any]:
    """A fresh, mutable copy of the minimal valid platform (tests/specs/minimal.happy.yaml)."""
    return copy.deepcopy(load_platform(SPECS / "minimal.happy.yaml"))


@pytest.fixture
def write_stack(tmp_path: Path) -> Callable[..., Path]:
    """Write a stack file for a platform mapping (plus any extra config keys) and return its path."""

    def write(platform: dict[str, Any], name: str = "test", **extra: Any) -> Path:
        path = tmp_path / f"Pulumi.{name}.yaml"
        config = {"pulumi:disable-default-providers": ["aws", "openstack", "kubernetes"], "meridian:platform": platform}
        config.update(extra)
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        return path

    return write


@pytest.fixture
def plan_of(write_stack: Callable[..., Path]) -> Callable[..., Plan]:
    """Evaluate a platform mapping with the offline engine (mock monitor, fresh event loop and context)."""

    def run(platform: dict[str, Any], *, reveal_secrets: bool = False, **extra: Any) -> Plan:
        return evaluate(write_stack(platform, **extra), reveal_secrets=reveal_secrets)

    return run


_PLANS: dict[str, Plan] = PlanCache()
_REVEALED: dict[str, Plan] = PlanCache()


def revealed_plan(stack: str) -> Plan:
    """A stack's plan (a bundled stack's name or a stack file's path) with secrets revealed, once per process."""
    if stack not in _REVEALED:
        _REVEALED[stack] = evaluate(stack, reveal_secrets=True)
    return _REVEALED[stack]


def rendered_release(plan: Plan, release: str, where: str = "") -> Any:
    """`helm template` of the plan's release named `release` (its Pulumi name, or its GitOps engine object's),
    through the program's render path.

    Only that release is read from the plan, so others' secret values need not be revealed.
    """
    from scripts.render import CLUSTER_PROFILE, HELMOP, RELEASE, chart_api_versions, releases, render_release
    from scripts.validate import builtin_api_versions

    kinds = (RELEASE, HELMOP, CLUSTER_PROFILE)
    resources = [r for r in plan.resources if r["type"] not in kinds or r["name"] == release]
    (record,) = releases(Plan(plan.project, plan.stack, resources, plan.outputs))
    apis = chart_api_versions(record.chart) | builtin_api_versions(record.kube_version)
    return render_release(record, apis, where or release)


def unordered_namespaced(plan: Plan) -> list[tuple[str, str, str]]:
    """(type, name, namespace) of each Kubernetes object that does not wait for its Namespace.

    An object sent before the Namespace it lives in exists is refused ("namespaces ... not
    found"), so a first `pulumi up` fails; Pulumi orders resources by their dependencies only
    (a parent's dependencies do not order its children). Only Namespaces the stack itself makes
    on the same cluster (provider) count; the chain may be indirect.
    """
    by_urn = {r["urn"]: r for r in plan.resources}
    namespaces = {
        (r["provider"], r["inputs"]["metadata"]["name"]): r["urn"] for r in plan.by_type("kubernetes:core/v1:Namespace")
    }
    found = []
    for resource in plan.resources:
        if not (resource["custom"] and resource["type"].startswith("kubernetes:")):
            continue
        namespace = ((resource["inputs"] or {}).get("metadata") or {}).get("namespace")
        wanted = namespaces.get((resource["provider"], namespace))
        if wanted is None:
            continue
        seen: set[str] = set()
        todo = list(resource["depends_on"])
        while todo and wanted not in seen:
            urn = todo.pop()
            if urn not in seen:
                seen.add(urn)
                todo += by_urn.get(urn, {}).get("depends_on", [])
        if wanted not in seen:
            found.append((str(resource["type"]), str(resource["inputs"]["metadata"].get("name")), str(namespace)))
    return found


def named(plan: Plan, token: str, name: str) -> dict[str, Any]:
    """The one resource of type `token` whose Kubernetes object is called `name`."""
    (found,) = [r for r in plan.by_type(token) if r["inputs"]["metadata"]["name"] == name]
    return found


@pytest.fixture
def bundled_plan() -> Callable[[str], Plan]:
    """The plan of a bundled stack, evaluated once per test process."""

    def get(stack: str) -> Plan:
        if stack not in _PLANS:
            _PLANS[stack] = evaluate(stack)
        return _PLANS[stack]

    return get


@pytest.fixture(scope="session")
def analyzer() -> Any:
    """The policy pack running as an analyzer process (one per test worker), as `meridian gate` starts it."""
    from scripts.gate import running_pack

    with running_pack() as pack:
        yield pack


@contextlib.contextmanager
def local_server(
    handler: type[http.server.BaseHTTPRequestHandler],
    pki: Path | None = None,
    *,
    client_certificates: bool = False,
) -> Iterator[str]:
    """A local server on 127.0.0.1 answering with `handler`: HTTPS with `pki`, else HTTP; yields its URL.

    :param pki: a directory with `server.pem`/`server.key` (for IP 127.0.0.1) and `ca.pem`.
    :param client_certificates: demand a client certificate the CA signed (an API with anonymous auth off).
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if pki is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki / "server.pem", pki / "server.key")
        if client_certificates:
            context.load_verify_locations(pki / "ca.pem")
            context.verify_mode = ssl.CERT_REQUIRED
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if pki is not None else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
