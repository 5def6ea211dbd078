"""`make mutation`: the kill rate of mutmut's last run, per area, against the project's 90 % target.

mutmut (pyproject `[tool.mutmut]`) mutates the code inside functions of the modules where a
mistake is dangerous and runs, for each mutant, the tests that reach the mutated function.
This reads its results (`mutmut results --all true`, run in the repository) and reports:

* killed: a test failed (or timed out) with the mutant in place;
* survived: every test passed with the mutant in place: a gap, unless the line is marked
  `# pragma: no mutate` with the reason it cannot be observed (those never become mutants);
* no tests: no test reaches the function in mutmut's process (counted as not killed).

The kill rate is killed / (killed + survived + no tests). `--check` exits 1 below the target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from .harness import REPO

#: The target kill rate (issue #10: at least 90 % in the dangerous modules).
TARGET = 0.90
#: How modules group into the areas the README reports.
AREAS = (
    ("components.spec.", "spec rules"),
    ("components.cloudrules", "spec rules"),
    ("components.reachability", "cluster backends"),
    ("components.clusters.", "cluster backends"),
    ("components.addons.", "add-on values"),
    ("components.secrets", "secrets"),
    ("policies.meridian_policies.", "policies"),
    ("scripts.gate", "gate"),
    ("scripts.diff", "diff"),
    ("scripts.stackfile", "stack-file reader"),
)
COUNTED = {"killed": "killed", "timeout": "killed", "survived": "survived", "no tests": "no tests"}


def area_of(mutant: str) -> str:
    """The README area a mutant's module belongs to."""
    for prefix, area in AREAS:
        if mutant.startswith(prefix):
            return area
    return "other"


def results(root: Path = REPO) -> list[tuple[str, str]]:
    """(mutant name, status) of every mutant of the last run, from `mutmut results --all true`."""
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    found = []
    for line in done.stdout.splitlines():
        name, _, status = line.strip().partition(": ")
        if "__mutmut_" in name:
            found.append((name, status.strip()))
    return found


def report(found: list[tuple[str, str]]) -> tuple[str, float]:
    """A Markdown table per area and the overall kill rate."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in found:
        counts[area_of(name)][COUNTED.get(status, status)] += 1
    lines = [
        "| area | mutants | killed | survived | no tests | kill rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    total: Counter[str] = Counter()
    for area in sorted(counts):
        row = counts[area]
        total.update(row)
        lines.append(_row(area, row))
    lines.append(_row("**all**", total))
    counted = total["killed"] + total["survived"] + total["no tests"]
    return "\n".join(lines), (total["killed"] / counted if counted else 0.0)


def _row(area: str, row: Counter[str]) -> str:
    counted = row["killed"] + row["survived"] + row["no tests"]
    rate = row["killed"] / counted if counted else 0.0
    return f"| {area} | {sum(row.values())} | {row['killed']} | {row['survived']} | {row['no tests']} | {rate:.1%} |"


def main(argv: list[str] | None = None) -> int:
    """Print the report; with --check, exit 1 below the target."""
    parser = argparse.ArgumentParser(prog="python -m scripts.mutation", description=__doc__)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET:.0%}")
    parser.add_argument("--survivors", action="store_true", help="also list every mutant that was not killed")
    args = parser.parse_args(argv)
    found = results()
    if not found:
        print("no mutation results: run `make mutation`", file=sys.stderr)
        return 2
    table, rate = report(found)
    print(table)
    print(f"\nkill rate {rate:.1%} (target {TARGET:.0%})")
    if args.survivors:
        for name, status in found:
            if COUNTED.get(status, status) != "killed":
                print(f"{status}: {name}")
    return 1 if args.check and rate < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
