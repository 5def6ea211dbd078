"""`make mutation`: mutmut per area, and the kill rate of its results against the project's 90 % target.

mutmut (pyproject `[tool.mutmut]`) mutates the code inside functions and runs, for each
mutant, the tests that reach the mutated function. Run over the whole tree at once, a
function that every plan passes through (the stack-file reader, a backend's `build`) is
reached by hundreds of tests, and every mutant of it that survives runs them all. So
`run` goes area by area (`AREAS`): each area mutates its own modules in a copy of the
tree under `.mutation/<area>/` and runs only the tests about it (which can only lower the
kill rate: fewer tests to kill a mutant). `sample` runs a seeded random sample of each area's
mutants instead, when a full run does not fit the time at hand. `report` reads every area's results:

* killed: a test failed (or timed out) with the mutant in place;
* survived: every test passed with the mutant in place: a gap, unless the line is marked
  `# pragma: no mutate` with the reason it cannot be observed (those never become mutants);
* no tests: no test reaches the function in mutmut's process (counted as not killed).

The kill rate is killed / (killed + survived + no tests), per area. Mutants mutmut has not run
yet ("not checked", after an interrupted run) are not in the rate; the table says how many there
are; a sampled area's rate comes with its 95 % interval. `--check` exits 1 when an area is below
the target, has no results, or neither ran to the end nor has a complete sample.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist

from .harness import REPO
from .upstream import cache_root, mirror_root

#: The target kill rate (issue #10: at least 90 % in the dangerous modules).
TARGET = 0.90
#: area -> (modules it mutates, the tests about them). Tests marked `cli` (subprocesses) are left
#: out everywhere: mutmut attributes tests to functions only within its own process.
AREAS: dict[str, tuple[list[str], list[str]]] = {
    "spec rules": (
        ["components/spec/*", "components/cloudrules.py", "scripts/stackfile.py"],
        # test_jupyterhub.py: the hub's profile and quota rules (JupyterHubSpec.pool_problems, profile_resource).
        ["test_spec.py", "test_stackfile_limits.py", "test_cluster_spec.py", "test_gpu_spec.py",
         "test_cloudrules.py", "test_reachability.py", "test_jupyterhub.py", "test_observability.py"],
    ),
    "cluster backends": (
        ["components/clusters/*", "components/reachability.py", "components/octavia.py"],
        ["test_cluster_rke2.py", "test_cluster_magnum.py", "test_cluster_eks.py", "test_cluster_attached.py",
         "test_cluster_capi.py", "test_readiness.py", "test_reachability.py", "test_sites.py", "test_golden.py",
         "test_provider_contract.py"],
    ),
    # The add-on layer in two areas, so that each runs in an evening: the per-cluster add-ons, and
    # the observability layer (collector, central stack, logs, Thanos, probes, alerts, dashboards).
    "add-on values": (
        ["components/addons/__init__.py", "components/addons/base.py", "components/addons/cinder_csi.py",
         "components/addons/cluster_api.py", "components/addons/dns.py", "components/addons/gpu_operator.py",
         "components/addons/ingress.py", "components/addons/jupyterhub.py", "components/addons/storage.py"],
        ["test_gpu_operator.py", "test_ingress.py", "test_jupyterhub.py", "test_storage.py", "test_golden.py",
         "test_render.py", "test_cluster_capi.py"],
    ),
    "observability": (
        ["components/addons/alerts.py", "components/addons/central.py", "components/addons/dashboards.py",
         "components/addons/logs.py", "components/addons/metrics_catalog.py", "components/addons/objectstore.py",
         "components/addons/observability.py", "components/addons/probes.py", "components/addons/thanos.py"],
        ["test_observability.py", "test_push_endpoints.py", "test_alerts.py", "test_dashboards.py",
         "test_ingress.py", "test_golden.py", "test_render.py"],
    ),
    # Reading Vault, and what `pulumi up` writes there: the provider, the clusters' policy and their
    # side of Vault (external_secrets.py), write-back.
    "secrets": (
        ["components/secrets.py", "components/vault.py", "components/vaultside.py", "components/writeback.py",
         "components/addons/external_secrets.py"],
        ["test_secrets.py", "test_vault.py", "test_writeback.py", "test_external_secrets.py"],
    ),
    # The MLOps services: MLflow and its database, Argo Workflows, the model services, their login.
    "mlops": (
        ["components/addons/mlflow.py", "components/addons/workflows.py", "components/addons/models.py",
         "components/addons/login.py"],
        ["test_mlflow.py", "test_workflows.py", "test_models.py", "test_ingress.py"],
    ),
    # GitOps: the engine, the clusters' registration, delivery by the engine and its wait.
    "gitops": (
        ["components/gitops.py", "components/delivered.py"],
        # With the capi test where Sveltos delivers to a cluster it finds by itself (no registration).
        ["test_gitops.py", "test_delivered.py", "test_cluster_capi.py::test_sveltos_finds_the_capi_cluster_by_itself"],
    ),
    "policies": (
        ["policies/meridian_policies/*"],
        # The policies' own tests; the whole-stack runs (test_gate's bundled stacks, test_render's
        # gate over rendered objects) check the pack end to end but would run for every surviving
        # mutant of a shared helper: fewer tests can only lower the score.
        ["test_policies_security.py", "test_policies_kubernetes.py", "test_policies_gpu.py",
         "test_policies_governance.py", "test_cloudrules.py"],
    ),
    "gate and diff": (
        ["scripts/gate.py", "scripts/diff.py"],
        ["test_gate.py", "test_diff.py", "test_policies_governance.py"],
    ),
}  # fmt: skip
WORK = REPO / ".mutation"
COUNTED = {"killed": "killed", "timeout": "killed", "survived": "survived", "no tests": "no tests"}
#: mutmut's status of a mutant it has not run (yet).
NOT_RUN = "not checked"
#: In mutmut's working copy (`mutants/`): the test that killed each mutant, a JSON line per kill,
#: written by the tests' conftest and read to order the tests of later mutants (`test_order`).
KILLS = "mutmut-kills.jsonl"
#: Mutants per area that `sample` draws: about ±5 points at a 95 % confidence around a 90 % rate.
SAMPLE_SIZE = 150


def function_of(mutant: str) -> str:
    """The mutated function's name in mutmut's tables: a mutant's name without `__mutmut_<n>`."""
    return mutant.rpartition("__mutmut_")[0]


def record_kill(path: Path, mutant: str, test: str) -> None:
    """Append that `test` failed with `mutant` in place (one short line: appends from two workers do not interleave)."""
    with path.open("a", encoding="utf-8") as kills:
        kills.write(json.dumps({"function": function_of(mutant), "test": test}) + "\n")


def read_kills(path: Path) -> list[tuple[str, str]]:
    """(function, test) of every kill recorded at `path`; a torn last line (a worker killed mid-write) is skipped."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        found.append((record["function"], record["test"]))
    return found


def test_order(
    tests: list[str], durations: Mapping[str, float], kills: Iterable[tuple[str, str]], function: str
) -> list[str]:
    """The order to run a mutant's `tests` in: the likeliest to kill it per second first.

    A mutant's run stops at its first failing test (`-x`), so a killed mutant costs the tests
    before its killer. Of one function's mutants, the tests that killed earlier ones are the
    likeliest to kill the next: a test's chance is estimated as (its kills of this function +
    1/2) / (the function's kills + 1), and tests run by chance over duration, highest first.
    With no kills recorded yet that is fastest first. Survivors run every test whatever the order.
    """
    by_test = Counter(test for killed, test in kills if killed == function)
    total = sum(by_test.values())

    def rate(test: str) -> float:
        return (by_test[test] + 0.5) / (total + 1) / max(durations.get(test, 0.0), MIN_DURATION)

    return sorted(tests, key=rate, reverse=True)


#: Tests faster than this count as this fast in `test_order` (mutmut records 0 for some).
MIN_DURATION = 0.01


def _slug(area: str) -> str:
    return area.replace(" ", "-")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value)


def _listed() -> list[str]:
    """The working tree's files (tracked and new, not ignored), relative to it."""
    git = shutil.which("git") or "/usr/bin/git"
    return subprocess.run(  # noqa: S603 - git listing this repository's files
        [git, "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def _copy_tree(work: Path, *, keep: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> None:
    """Copy the working tree's files (tracked and new, not ignored) into `work`, except `keep`.

    :param skip: glob patterns (fnmatch, as `only_mutate` writes them) of files not to copy.
    """
    for name in _listed():
        source = REPO / name
        if source.is_file() and name not in keep and not any(fnmatch.fnmatch(name, p) for p in skip):
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def prepare(area: str) -> Path:
    """A copy of the working tree under .mutation/<area>/ whose [tool.mutmut] mutates only `area`."""
    work = WORK / _slug(area)
    shutil.rmtree(work, ignore_errors=True)
    _copy_tree(work)
    _configure(area, work)
    return work


def _configure(area: str, work: Path) -> None:
    """Write the copy's pyproject.toml: the tree's, with [tool.mutmut] narrowed to `area` (AREAS)."""
    modules, tests = AREAS[area]
    pyproject = work / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    settings = dict(tomllib.loads(text)["tool"]["mutmut"])
    settings["only_mutate"] = modules
    settings["pytest_add_cli_args_test_selection"] = [f"tests/{test}" for test in tests]
    head = text[: text.index("\n[tool.mutmut]\n") + 1]
    body = "".join(f"{key} = {_toml(value)}\n" for key, value in settings.items())
    pyproject.write_text(f"{head}[tool.mutmut]\n{body}", encoding="utf-8")


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "MERIDIAN_GATE_IN_PROCESS": "1",
        "MERIDIAN_MUTATION": "1",
        # The copies find the mirror and the chart cache where this tree finds them.
        "MERIDIAN_UPSTREAM": str(mirror_root().resolve()),
        "MERIDIAN_CHART_CACHE": str(cache_root().resolve()),
        # Mermaid's parser (`make tools`, 170 MB of node_modules the copies leave out).
        "MERIDIAN_MERMAID": str(REPO / "scripts" / "mermaid"),
    }


def _mutmut(area: str, work: Path, *names: str) -> None:
    with (WORK / f"{_slug(area)}.log").open("a", encoding="utf-8") as log:
        done = subprocess.run(  # noqa: S603 - this interpreter's mutmut
            [sys.executable, "-m", "mutmut", "run", "--max-children", "2", *names], cwd=work, env=_env(),
            stdout=log, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed for {area}: see {WORK / (_slug(area) + '.log')}")


def run(areas: list[str]) -> None:
    """Run mutmut over each area in its own copy of the tree (sequentially, two workers each)."""
    for area in areas:
        (WORK / f"{_slug(area)}.log").unlink(missing_ok=True)
        work = prepare(area)
        print(f"mutation: {area} ({', '.join(AREAS[area][0])})", flush=True)
        _mutmut(area, work)


def function_texts(source: str) -> dict[str, str]:
    """Each function's text, comments included, by mutmut's mangled name (`x_f`, `xǁClassǁmethod`)."""
    from mutmut.mutation.trampoline_templates import mangle_function_name

    lines = source.splitlines()
    found: dict[str, str] = {}

    def visit(statements: list[ast.stmt], owner: str) -> None:
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                name = mangle_function_name(name=node.name, class_name=owner or None)
                found[name] = "\n".join(lines[first - 1 : node.end_lineno])
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{owner}.{node.name}" if owner else node.name)

    visit(ast.parse(source).body, "")
    return found


def retext_results(work: Path, modules: list[str]) -> list[str]:
    """Make mutmut run again every function of `modules` whose text changed, not only its syntax tree.

    mutmut keeps a function's results while a hash of its syntax tree is unchanged
    (mutation/file_mutation.py compute_function_hashes), and a comment is not in the tree. But a
    `# pragma: no mutate` comment removes mutants and so renumbers the function's others: the kept
    results would then be other mutants' (a kill standing for a mutant never run). Before the copy
    under `work` takes the tree's files, each such function's recorded hash in mutmut's `.meta`
    is cleared, so mutmut sees it as changed. Returns the functions, `<module path>:<name>`.
    """
    cleared = []
    for name in sorted(_listed()):
        if not name.endswith(".py") or not any(fnmatch.fnmatch(name, pattern) for pattern in modules):
            continue
        old, meta = work / name, work / "mutants" / f"{name}.meta"
        if old.is_file() and meta.is_file() and (REPO / name).is_file():
            before, after = old.read_text(encoding="utf-8"), (REPO / name).read_text(encoding="utf-8")
            cleared += [f"{name}:{function}" for function in clear_retexted(meta, before, after)]
    return cleared


def clear_retexted(meta: Path, before: str, after: str) -> list[str]:
    """Clear the recorded hash of each function whose text differs between `before` and `after`.

    :param meta: mutmut's `.meta` of the module (under `mutants/`).
    :returns: those functions' mangled names.
    """
    old, new = function_texts(before), function_texts(after)
    data = json.loads(meta.read_text(encoding="utf-8"))
    hashes = data.get("hash_by_function_name", {})
    changed = sorted(name for name in hashes if name in old and old[name] != new.get(name))
    for name in changed:
        hashes[name] = ""
    if changed:
        meta.write_text(json.dumps(data), encoding="utf-8")
    return changed


def refresh(area: str) -> Path:
    """Bring the area's copy up to date with the tree (a fresh copy if it has none); returns the copy.

    Functions whose text changed lose their recorded hash first (`retext_results`). The map of
    which tests reach which function is forgotten, to be collected afresh (tests change too).
    """
    work = WORK / _slug(area)
    if not (work / "pyproject.toml").is_file():
        return prepare(area)
    retexted = retext_results(work, AREAS[area][0])
    if retexted:
        print(f"mutation: {area}: run again (text changed, syntax tree not): {', '.join(retexted)}", flush=True)
    _copy_tree(work, keep=("pyproject.toml",))
    # The area's test list may have grown since the copy was made (AREAS).
    _configure(area, work)
    if (work / "mutants").is_dir():
        # mutmut runs the tests inside mutants/, a copy it makes once: refresh every file it
        # does not mutate there too (a changed chart lock or component would otherwise be
        # stale); the mutated modules it regenerates itself from the changed sources.
        _copy_tree(work / "mutants", keep=("pyproject.toml",), skip=tuple(AREAS[area][0]))
        # mutmut maps tests to the functions they reach once and afterwards only adds tests it
        # has not seen: a test that changed since would still be credited with what it reached
        # before, and survivors would never meet it. Forget the map so it is collected again.
        (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    return work


def rerun(areas: list[str]) -> None:
    """Bring each area's copy up to date with the tree and run again only the mutants not yet killed.

    Tests only grow stronger between runs, so a killed mutant stays killed. A plain `mutmut
    run` regenerates the mutants of every function whose source changed (a pragma added, a
    rule rewritten), clears their results and runs just those; the survivors of unchanged
    functions are then named, since mutmut skips mutants that already have a result.
    """
    for area in areas:
        before = {name for _, name, status in results([area]) if COUNTED.get(status, status) != "killed"}
        work = refresh(area)
        print(f"mutation: {area}: changed functions, then {len(before)} mutants not killed before", flush=True)
        _mutmut(area, work)
        pending = [
            name for _, name, status in results([area]) if name in before and COUNTED.get(status, status) != "killed"
        ]
        if pending:
            _mutmut(area, work, *pending)


def generate(area: str, work: Path) -> list[str]:
    """Have mutmut write the area's mutants in `work` without running any; returns every mutant's name.

    The steps of mutmut 3.8.1's `run` up to its first test (`__main__._run`): copy the sources
    under `mutants/`, write each mutated module and its `.meta` (the mutants' names and results,
    a changed function's results cleared). The `run` that follows finds the modules unchanged.
    """
    script = (
        "import os, mutmut.__main__ as m\n"
        "os.makedirs('mutants', exist_ok=True)\n"
        "m.copy_src_dir(); m.copy_also_copy_files(); m.setup_source_paths(); m.store_lines_covered_by_tests()\n"
        "m.create_mutants(2)\n"
    )
    with (WORK / f"{_slug(area)}.log").open("a", encoding="utf-8") as log:
        done = subprocess.run(  # noqa: S603 - this interpreter's mutmut, on the area's copy
            [sys.executable, "-c", script], cwd=work, env=_env(), stdout=log, stderr=subprocess.STDOUT, check=False
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"mutmut could not write the mutants of {area}: see {WORK / (_slug(area) + '.log')}")
    return mutant_names(work / "mutants")


def mutant_names(mutants: Path) -> list[str]:
    """Every mutant's name in mutmut's `.meta` files under `mutants`, sorted."""
    names: list[str] = []
    for meta in sorted(mutants.rglob("*.py.meta")):
        names += json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
    return sorted(names)


def draw(names: list[str], size: int, seed: str, *, ranked: bool = False) -> list[str]:
    """`size` of `names` drawn at random without replacement (all when fewer), reproducibly from `seed`.

    Each name's rank is a hash of the seed and the name, and the `size` lowest are drawn (bottom-k
    sampling: a simple random sample while the hash behaves as a random function). Unlike drawing
    from the list by position, a draw then hardly moves when the area's code changes: a mutant
    added or removed elsewhere leaves every other mutant's rank as it was, so the same seed
    measures the same mutants after a fix. `ranked`: in rank order rather than by name.
    """
    order = sorted(names, key=lambda name: hashlib.sha256(f"{seed}/{name}".encode()).digest())[:size]
    return order if ranked else sorted(order)


def sample(areas: list[str], size: int, seed: str) -> None:
    """Run, per area, a random sample of its mutants against the current tree and tests.

    A full run of the slowest areas takes most of a day on two cores, and mutmut runs the
    mutants its estimate says are cheapest first, so a stopped run's rate is that of its cheap
    functions. A simple random sample of the area's mutants estimates the whole area's kill rate
    without that bias (random mutant sampling); `report` gives the estimate with its 95 %
    interval. The drawn names are written to `.mutation/<area>.sample.json`; each drawn mutant
    not killed before (by an earlier run or sample) is run against the current tests.
    """
    for area in areas:
        work = refresh(area)
        names = generate(area, work)
        drawn = draw(names, size, f"{seed}/{area}")
        # The sample this seed drew before is measured again as it was; a drawn mutant gone since
        # (its function changed) gives way to the next of this draw's order that is not drawn yet.
        before = samples([area]).get(area) or {}
        if before.get("seed") == seed and len(before.get("mutants", [])) == len(drawn):  # type: ignore[arg-type]
            present = set(names)
            kept = [str(name) for name in before["mutants"] if name in present]  # type: ignore[attr-defined]
            order = draw(names, len(names), f"{seed}/{area}", ranked=True)
            drawn = sorted(kept + [name for name in order if name not in kept][: len(drawn) - len(kept)])
        record = {"seed": seed, "population": len(names), "mutants": drawn}
        _sample_file(area).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        # As in `rerun`: a mutant killed before stays killed (a changed function's results were
        # cleared when its mutants were written again).
        killed = {name for _, name, status in results([area]) if COUNTED.get(status, status) == "killed"}
        pending = [name for name in drawn if name not in killed]
        print(
            f"mutation: {area}: a sample of {len(drawn)} of {len(names)} mutants (seed {seed!r}), "
            f"{len(drawn) - len(pending)} killed before",
            flush=True,
        )
        if pending:
            _mutmut(area, work, *pending)


def _sample_file(area: str) -> Path:
    return WORK / f"{_slug(area)}.sample.json"


def samples(areas: list[str]) -> dict[str, dict[str, object]]:
    """Each area's last drawn sample (`sample`), by area; areas never sampled are left out."""
    found = {}
    for area in areas:
        path = _sample_file(area)
        if path.is_file():
            found[area] = json.loads(path.read_text(encoding="utf-8"))
    return found


def wilson(killed: int, counted: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a kill rate of `killed` in `counted` (95 % by default)."""
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    if not counted:
        return (0.0, 1.0)
    rate, n = killed / counted, counted
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def sample_report(
    found: list[tuple[str, str, str]], drawn: Mapping[str, Mapping[str, object]]
) -> tuple[str, dict[str, float]]:
    """A Markdown table of each sampled area's sample, and each complete sample's kill rate.

    A drawn mutant with no result (the run stopped) counts as not run; one whose name is gone
    (its function changed and its mutants were renumbered since the draw) too.
    """
    status_of = {(area, name): status for area, name, status in found}
    lines = [
        "| area | drawn | of | killed | survived | no tests | not run | kill rate | 95 % interval |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rates = {}
    for area in [a for a in AREAS if a in drawn]:
        names = [str(name) for name in drawn[area]["mutants"]]  # type: ignore[attr-defined]
        row = Counter(COUNTED.get(status, status) for status in (status_of.get((area, n), NOT_RUN) for n in names))
        counted = row["killed"] + row["survived"] + row["no tests"]
        low, high = wilson(row["killed"], counted)
        lines.append(
            f"| {area} | {len(names)} | {drawn[area]['population']} | {row['killed']} | {row['survived']} "
            f"| {row['no tests']} | {len(names) - counted} | {_rate(row):.1%} | {low:.1%} to {high:.1%} |"
        )
        if counted == len(names):
            rates[area] = _rate(row)
    return "\n".join(lines), rates


def results(areas: list[str]) -> list[tuple[str, str, str]]:
    """(area, mutant name, status) of every mutant of each area's last run."""
    found = []
    for area in areas:
        work = WORK / _slug(area)
        if not (work / "mutants").exists():
            continue
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "results", "--all", "true"],
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stdout.splitlines():
            name, _, status = line.strip().partition(": ")
            if "__mutmut_" in name:
                found.append((area, name, status.strip()))
    return found


def report(found: list[tuple[str, str, str]]) -> tuple[str, dict[str, float]]:
    """A Markdown table (a row per area, then all) and each area's kill rate.

    "mutants" counts those run; "not run" those an interrupted run left.
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for area, _, status in found:
        counts[area][COUNTED.get(status, status)] += 1
    lines = [
        "| area | mutants | killed | survived | no tests | not run | kill rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total: Counter[str] = Counter()
    rates = {}
    for area in [a for a in AREAS if a in counts]:
        row = counts[area]
        total.update(row)
        lines.append(_row(area, row))
        rates[area] = _rate(row)
    lines.append(_row("**all**", total))
    return "\n".join(lines), rates


def _rate(row: Counter[str]) -> float:
    counted = row["killed"] + row["survived"] + row["no tests"]
    return row["killed"] / counted if counted else 0.0


def _row(area: str, row: Counter[str]) -> str:
    counted = row["killed"] + row["survived"] + row["no tests"]
    return (
        f"| {area} | {counted} | {row['killed']} | {row['survived']} | {row['no tests']} | {row[NOT_RUN]} "
        f"| {_rate(row):.1%} |"
    )


def main(argv: list[str] | None = None) -> int:
    """`run|rerun|sample [AREA...]` mutates; `report [--check] [--survivors]` prints the kill rates."""
    parser = argparse.ArgumentParser(prog="python -m scripts.mutation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run mutmut per area")
    run_parser.add_argument("areas", nargs="*", metavar="AREA", help=f"default: all of {', '.join(AREAS)}")
    rerun_parser = sub.add_parser("rerun", help="update each area's copy and run its mutants not yet killed")
    rerun_parser.add_argument("areas", nargs="*", metavar="AREA", help="default: all")
    sample_parser = sub.add_parser("sample", help="update each area's copy and run a random sample of its mutants")
    sample_parser.add_argument("areas", nargs="*", metavar="AREA", help="default: all")
    sample_parser.add_argument(
        "--size", type=int, default=SAMPLE_SIZE, help=f"mutants per area (default {SAMPLE_SIZE})"
    )
    sample_parser.add_argument("--seed", default=None, help="the draw's seed (default: today's date, UTC)")
    report_parser = sub.add_parser("report", help="kill rates of the last runs")
    report_parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET:.0%}")
    report_parser.add_argument("--survivors", action="store_true", help="list every mutant not killed")
    args = parser.parse_args(argv)
    if args.command in ("run", "rerun", "sample"):
        unknown = [area for area in args.areas if area not in AREAS]
        if unknown:
            parser.error(f"unknown area(s) {unknown}; known: {', '.join(AREAS)}")
        areas = list(args.areas) or list(AREAS)
        if args.command == "sample":
            if args.size < 1:
                parser.error("--size must be at least 1")
            sample(areas, args.size, args.seed or datetime.now(UTC).date().isoformat())
        else:
            (run if args.command == "run" else rerun)(areas)
        return 0
    found = results(list(AREAS))
    if not found:
        print("no mutation results: run `make mutation`", file=sys.stderr)
        return 2
    table, rates = report(found)
    print(table)
    drawn = samples(list(AREAS))
    sampled: dict[str, float] = {}
    if drawn:
        sample_table, sampled = sample_report(found, drawn)
        print(f"\nsamples (`sample`):\n\n{sample_table}")
    partial = {area for area, _, status in found if status == NOT_RUN}
    # An area is measured by its full run when that ran to the end, else by a complete sample.
    measured = {area: rate for area, rate in rates.items() if area not in partial}
    measured |= {area: rate for area, rate in sampled.items() if area not in measured}
    below = [area for area in AREAS if area in measured and measured[area] < TARGET]
    missing = [area for area in AREAS if area not in rates and area not in measured]
    stopped = [area for area in AREAS if area in partial and area not in measured]
    print(f"\ntarget {TARGET:.0%} per area (a full run, else a complete sample)", end="; ")
    print(f"below: {', '.join(below) or 'none'}", end="; ")
    print(f"not run: {', '.join(missing) or 'none'}; stopped and not sampled: {', '.join(stopped) or 'none'}")
    if args.survivors:
        for area, name, status in found:
            if COUNTED.get(status, status) != "killed":
                print(f"{area}: {status}: {name}")
    return 1 if args.check and (below or missing or stopped) else 0


if __name__ == "__main__":
    sys.exit(main())
