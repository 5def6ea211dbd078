"""The mutation report (scripts/mutation.py): kill rates per area from mutmut's statuses."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from scripts import mutation


def found(area: str, **statuses: int) -> list[tuple[str, str, str]]:
    names = {"no_tests": "no tests", "not_run": "not checked"}
    return [
        (area, f"m.x_f__mutmut_{area}_{status}_{n}", names.get(status, status))
        for status, count in statuses.items()
        for n in range(count)
    ]


@pytest.fixture(autouse=True)
def _no_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies and samples under .mutation/ are this test's own (none unless it writes them)."""
    monkeypatch.setattr(mutation, "WORK", tmp_path)


def test_the_rate_counts_run_mutants_and_the_table_says_how_many_were_not_run() -> None:
    results = found("secrets", killed=85, timeout=5, survived=6, no_tests=4, not_run=50) + found("gitops", killed=9)
    table, rates = mutation.report(results)
    # Timeouts are kills; "no tests" counts against; mutants not run are left out of the rate.
    assert rates == {"secrets": 0.9, "gitops": 1.0}
    rows = table.splitlines()
    assert rows[0] == "| area | mutants | killed | survived | no tests | not run | kill rate |"
    # Rows follow AREAS' order, whatever order the results come in.
    assert rows[2:] == [
        "| secrets | 100 | 90 | 6 | 4 | 50 | 90.0% |",
        "| gitops | 9 | 9 | 0 | 0 | 0 | 100.0% |",
        "| **all** | 109 | 99 | 6 | 4 | 50 | 90.8% |",
    ]


@pytest.mark.parametrize(
    ("results", "status"),
    [
        # Every area run to the end and at the target.
        ([r for area in mutation.AREAS for r in found(area, killed=9, survived=1)], 0),
        # One area under it.
        ([r for area in mutation.AREAS for r in found(area, killed=9 if area != "mlops" else 8, survived=1)], 1),
        # One area not run at all.
        ([r for area in mutation.AREAS if area != "policies" for r in found(area, killed=10)], 1),
        # One area stopped before its end, at 100 % of what ran.
        ([r for area in mutation.AREAS for r in found(area, killed=10, not_run=1 if area == "gitops" else 0)], 1),
    ],
)
def test_check_fails_unless_every_area_ran_to_the_end_at_the_target(
    results: list[tuple[str, str, str]],
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(mutation, "results", lambda areas: results)
    assert mutation.main(["report", "--check"]) == status
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith("target 90% per area (a full run, else a complete sample); below: ")
    # Without --check the report only reports.
    assert mutation.main(["report"]) == 0


def test_the_summary_names_the_areas_below_missing_and_partial(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = found("mlops", killed=8, survived=2) + found("gitops", killed=10, not_run=3)
    monkeypatch.setattr(mutation, "results", lambda areas: results)
    mutation.main(["report"])
    summary = capsys.readouterr().out.splitlines()[-1]
    missing = ", ".join(area for area in mutation.AREAS if area not in ("mlops", "gitops"))
    assert summary == (
        f"target 90% per area (a full run, else a complete sample); below: mlops; not run: {missing}; "
        "stopped and not sampled: gitops"
    )


def test_a_mutants_tests_run_likeliest_killer_per_second_first(tmp_path: Path) -> None:
    kills_file = tmp_path / mutation.KILLS
    durations = {"fast": 1.0, "slow": 10.0, "review": 5.0, "other": 2.0}
    tests = ["slow", "review", "fast", "other"]
    # Nothing killed yet: fastest first (unknown durations count as the minimum).
    assert mutation.test_order([*tests, "new"], durations, [], "m.x_f") == ["new", "fast", "other", "review", "slow"]
    # The review test killed three of f's mutants, `other` one of g's: for f it goes first,
    # (3.5/4)/5 s against (0.5/4)/1 s; g's kill does not count for f.
    for _ in range(3):
        mutation.record_kill(kills_file, "m.x_f__mutmut_7", "review")
    mutation.record_kill(kills_file, "m.x_g__mutmut_1", "other")
    # A worker killed mid-write leaves a torn line: skipped, the rest still read.
    with kills_file.open("a", encoding="utf-8") as torn:
        torn.write('{"function": "m.x_f", "te')
    kills = mutation.read_kills(kills_file)
    assert kills == [("m.x_f", "review")] * 3 + [("m.x_g", "other")]
    assert mutation.test_order(tests, durations, kills, "m.x_f") == ["review", "fast", "other", "slow"]
    assert mutation.test_order(tests, durations, kills, "m.x_g") == ["other", "fast", "review", "slow"]
    assert mutation.read_kills(tmp_path / "none.jsonl") == []


def test_a_mutants_function_is_its_name_without_the_mutant_number() -> None:
    name = "components.gitops.xǁGitOpsǁ__init__"
    assert mutation.function_of(f"{name}__mutmut_100") == name


def test_a_function_whose_text_alone_changed_is_run_again(tmp_path: Path) -> None:
    """mutmut keeps results while a function's syntax tree is unchanged; a pragma comment is not in the
    tree, yet it removes mutants and renumbers the others: such a function's hash is cleared so mutmut
    runs it again (mutmut 3.8.1 mutation/file_mutation.py compute_function_hashes, __main__.py)."""
    before = (
        "def f(a):\n    return a + 1\n\n\n"
        "def g(a):\n    return a * 2\n\n\n"
        "class C:\n    @staticmethod\n    def m(a):\n        return a - 1\n\n\n"
        "def h(a):\n    return a\n"
    )
    after = (
        before.replace("return a + 1", "return a + 1  # pragma: no mutate - reason")
        .replace("return a - 1", "return a - 2")
        .replace("def h(a):\n    return a\n", "")
    )
    meta = tmp_path / "m.py.meta"
    hashes = {"x_f": "f1", "x_g": "g1", "xǁCǁm": "m1", "x_h": "h1"}
    meta.write_text(json.dumps({"exit_code_by_key": {"m.x_f__mutmut_1": 1}, "hash_by_function_name": hashes}))
    # f: a comment only; m: code; h: gone (mutmut drops it itself); g: unchanged.
    assert mutation.clear_retexted(meta, before, after) == ["x_f", "x_h", "xǁCǁm"]
    saved = json.loads(meta.read_text())
    assert saved["hash_by_function_name"] == {"x_f": "", "x_g": "g1", "xǁCǁm": "", "x_h": ""}
    assert saved["exit_code_by_key"] == {"m.x_f__mutmut_1": 1}
    # Nothing changed: the file is left as it is.
    meta.write_text(json.dumps({"hash_by_function_name": {"x_g": "g1"}}))
    assert mutation.clear_retexted(meta, before, before) == []
    assert json.loads(meta.read_text()) == {"hash_by_function_name": {"x_g": "g1"}}
    # Decorators belong to the function's text.
    assert mutation.function_texts("@cache\ndef k():\n    pass\n") == {"x_k": "@cache\ndef k():\n    pass"}


# -- random samples of an area's mutants ------------------------------------------------------------


def test_a_draw_is_a_reproducible_sample_without_replacement() -> None:
    names = [f"m.x_f__mutmut_{n}" for n in range(1, 1001)]
    drawn = mutation.draw(list(reversed(names)), 150, "2026-12-02/mlops")
    assert len(drawn) == len(set(drawn)) == 150
    assert set(drawn) <= set(names)
    assert drawn == sorted(drawn)
    # The same seed draws the same mutants whatever order they are listed in; another seed others.
    assert drawn == mutation.draw(names, 150, "2026-12-02/mlops")
    assert drawn != mutation.draw(names, 150, "2026-12-03/mlops")
    # Fewer mutants than the size: all of them.
    assert mutation.draw(names[:3], 150, "s") == sorted(names[:3])
    # A change elsewhere in the area (mutants gone, new ones) leaves the rest of the draw as it was.
    changed = [name for name in names if name not in drawn[:2]] + ["m.x_g__mutmut_1", "m.x_g__mutmut_2"]
    redrawn = mutation.draw(changed, 150, "2026-12-02/mlops")
    assert len(set(redrawn) & set(drawn)) >= 146
    # Every mutant is as likely to be drawn: over 2,000 seeds, each of 20 lands in a draw of 5
    # about a quarter of the time (500, standard deviation 19).
    few = names[:20]
    counts = Counter(name for seed in range(2000) for name in mutation.draw(few, 5, str(seed)))
    assert all(400 < counts[name] < 600 for name in few)


def test_the_interval_is_wilsons() -> None:
    # Wilson's score interval holds the rates p the observed rate is within z standard errors of,
    # the standard error taken at p: its bounds solve (k/n - p)^2 = z^2 p (1 - p) / n.
    z = 1.959963984540054  # the normal distribution's 97.5 % quantile
    for killed, counted in ((95, 100), (140, 150), (1, 7)):
        observed = killed / counted
        bounds = mutation.wilson(killed, counted)
        for bound in bounds:
            assert (observed - bound) ** 2 == pytest.approx(z * z * bound * (1 - bound) / counted)
        assert bounds[0] < observed < bounds[1]
    assert tuple(round(bound, 3) for bound in mutation.wilson(95, 100)) == (0.888, 0.978)
    # All killed: the upper bound is 1, the lower is not.
    low, high = mutation.wilson(30, 30)
    assert (round(low, 3), high) == (0.886, 1.0)
    assert mutation.wilson(0, 0) == (0.0, 1.0)


def write_sample(work: Path, area: str, names: list[str], population: int) -> None:
    record = {"seed": "s", "population": population, "mutants": names}
    (work / f"{area.replace(' ', '-')}.sample.json").write_text(json.dumps(record), encoding="utf-8")


def test_a_samples_row_counts_its_drawn_mutants_only(tmp_path: Path) -> None:
    everything = found("mlops", killed=50, timeout=3, survived=5, not_run=400)
    drawn = [name for _, name, _ in everything[:40] + everything[53:55] + everything[58:60]] + ["m.x_gone__mutmut_1"]
    write_sample(tmp_path, "mlops", drawn, 458)
    table, rates = mutation.sample_report(everything, mutation.samples(list(mutation.AREAS)))
    # 40 killed, 2 survived; 2 drawn but not run and one whose function changed since the draw.
    assert table.splitlines()[2] == "| mlops | 45 | 458 | 40 | 2 | 0 | 3 | 95.2% | 84.2% to 98.7% |"
    # An incomplete sample has no rate.
    assert rates == {}
    write_sample(tmp_path, "mlops", drawn[:42], 458)
    assert mutation.sample_report(everything, mutation.samples(["mlops"]))[1] == {"mlops": 40 / 42}


@pytest.mark.parametrize(
    ("killed", "survived", "not_run", "status"),
    [
        # The stopped area's complete sample is at the target.
        (19, 1, 0, 0),
        # Under it.
        (17, 3, 0, 1),
        # Not complete.
        (19, 0, 1, 1),
    ],
)
def test_a_complete_sample_measures_an_area_its_run_did_not_finish(
    killed: int, survived: int, not_run: int, status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    others = [r for area in mutation.AREAS if area != "observability" for r in found(area, killed=10)]
    # The full run stopped early, and its mutants so far all died: that is not a measure.
    stopped = found("observability", killed=10, not_run=1000)
    statuses = ["killed"] * killed + ["survived"] * survived + ["not checked"] * not_run
    drawn = [("observability", f"m.x_g__mutmut_{n}", status) for n, status in enumerate(statuses, 1)]
    write_sample(tmp_path, "observability", [name for _, name, _ in drawn], 1010)
    monkeypatch.setattr(mutation, "results", lambda areas: others + stopped + drawn)
    assert mutation.main(["report", "--check"]) == status


def test_mutmut_writes_the_mutants_without_running_them(tmp_path: Path) -> None:
    """`generate` drives mutmut 3.8.1's own steps (the version pyproject pins) on a small project."""
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (project / "pkg" / "m.py").write_text("def f(a):\n    return a + 1\n", encoding="utf-8")
    (project / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["pkg/"]\n', encoding="utf-8")
    names = mutation.generate("gitops", project)
    assert names == mutation.mutant_names(project / "mutants")
    assert names and all(name.startswith("pkg.m.x_f__mutmut_") for name in names)
    # None has run: their results are empty.
    meta = json.loads((project / "mutants" / "pkg" / "m.py.meta").read_text(encoding="utf-8"))
    assert set(meta["exit_code_by_key"]) == set(names)
    assert set(meta["exit_code_by_key"].values()) == {None}
    # The log is the area's.
    assert (tmp_path / "gitops.log").is_file()


def test_a_sample_runs_its_drawn_mutants_not_killed_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"m.x_f__mutmut_{n}" for n in range(1, 41)]
    earlier = [("mlops", name, "killed" if n % 2 else "survived") for n, name in enumerate(names[:20])]
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(mutation, "refresh", lambda area: tmp_path / "copy")
    monkeypatch.setattr(mutation, "generate", lambda area, work: names)
    monkeypatch.setattr(mutation, "results", lambda areas: earlier)
    monkeypatch.setattr(mutation, "_mutmut", lambda area, work, *chosen: ran.append(chosen))
    mutation.main(["sample", "mlops", "--size", "30", "--seed", "s"])
    record = json.loads((tmp_path / "mlops.sample.json").read_text(encoding="utf-8"))
    assert record == {"seed": "s", "population": 40, "mutants": mutation.draw(names, 30, "s/mlops")}
    killed = {name for _, name, status in earlier if status == "killed"}
    assert ran == [tuple(name for name in record["mutants"] if name not in killed)]
    assert killed & set(record["mutants"]) and len(ran[0]) < 30
    with pytest.raises(SystemExit):
        mutation.main(["sample", "mlops", "--size", "0"])


def test_the_same_seed_measures_the_same_sample_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"m.x_f__mutmut_{n}" for n in range(1, 41)]
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(mutation, "refresh", lambda area: tmp_path / "copy")
    monkeypatch.setattr(mutation, "generate", lambda area, work: names)
    monkeypatch.setattr(mutation, "results", lambda areas: [])
    monkeypatch.setattr(mutation, "_mutmut", lambda area, work, *chosen: ran.append(chosen))
    recorded = sorted(names[:10])  # drawn some other way, say before the draw changed
    write_sample(tmp_path, "mlops", recorded, 40)
    mutation.main(["sample", "mlops", "--size", "10", "--seed", "s"])
    assert ran == [tuple(recorded)]
    # A recorded mutant gone: the rest kept, the next of the draw's order instead.
    names.remove(recorded[3])
    mutation.main(["sample", "mlops", "--size", "10", "--seed", "s"])
    (added,) = set(ran[-1]) - set(recorded)
    assert set(ran[-1]) - {added} == set(recorded) - {recorded[3]}
    assert added == next(n for n in mutation.draw(names, 40, "s/mlops", ranked=True) if n not in recorded)
    # Another seed: a new draw.
    mutation.main(["sample", "mlops", "--size", "10", "--seed", "t"])
    assert list(ran[-1]) == mutation.draw(names, 10, "t/mlops")
