"""The mutation report (scripts/mutation.py): kill rates per area from mutmut's statuses."""

from __future__ import annotations

import json
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
    assert summary.startswith("target 90% per area; below: ")
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
    assert summary == f"target 90% per area; below: mlops; not run: {missing}; not run to the end: gitops"


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
