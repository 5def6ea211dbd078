"""`meridian ci changed-stacks BASE`: which stacks a change affects, over a real git repository.

The repository is made by the test (git init, commits, edits), laid out like this one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import BAD_INPUT, meridian

from scripts.ci import ChangedStacksError, changed_stacks, stacks_of

STACKS = ["climres", "eo4eu", "meditwin"]


def git(repo: Path, *args: str) -> str:
    binary = shutil.which("git") or "/usr/bin/git"
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    done = subprocess.run([binary, *identity, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in STACKS:
        (tmp_path / "stacks").mkdir(exist_ok=True)
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "platform.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("# r\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    git(tmp_path, "checkout", "-qb", "change")
    return tmp_path


def test_a_stack_file_affects_its_stack_only(repo: Path) -> None:
    (repo / "stacks" / "Pulumi.eo4eu.yaml").write_text("config: {a: 1}\n")
    git(repo, "commit", "-qam", "edit eo4eu")
    (repo / "stacks" / "Pulumi.meditwin.yaml").write_text("config: {b: 2}\n")  # uncommitted counts too
    assert changed_stacks("main", repo) == ["eo4eu", "meditwin"]


def test_shared_code_affects_every_stack_and_documentation_none(repo: Path) -> None:
    (repo / "README.md").write_text("# more\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_x.py").write_text("")  # a new, untracked file
    assert changed_stacks("main", repo) == []
    (repo / "components" / "new_addon.py").write_text("")
    assert changed_stacks("main", repo) == STACKS


def test_changes_on_the_base_after_the_branch_point_are_not_the_changes(repo: Path) -> None:
    (repo / "stacks" / "Pulumi.climres.yaml").write_text("config: {c: 3}\n")
    git(repo, "commit", "-qam", "edit climres")
    git(repo, "checkout", "-q", "main")
    (repo / "components" / "platform.py").write_text("x = 2\n")
    git(repo, "commit", "-qam", "main moves on")
    git(repo, "checkout", "-q", "change")
    assert changed_stacks("main", repo) == ["climres"]


def test_a_deleted_stack_or_an_unknown_file_is_handled_safely() -> None:
    # The deleted stack has nothing to plan; a file of no known kind counts as shared.
    assert stacks_of(["stacks/Pulumi.gone.yaml"], STACKS) == []
    assert stacks_of(["stacks/Pulumi.eo4eu.yaml", "Makefile"], STACKS) == STACKS
    assert stacks_of(["docs/review.md", "tests/test_ci.py", "README.md"], STACKS) == []


@pytest.mark.parametrize(
    "path", [".github/workflows/review.yml", ".gitlab-ci.yml", ".gitlab/stack-jobs.yml", ".ci/x.sh"]
)
def test_a_pipeline_change_is_reviewed_on_every_stack_and_deploys_none(path: str) -> None:
    # The review jobs it defines must run to be seen working; a deploy of unchanged plans applies nothing.
    assert stacks_of([path, "docs/review.md"], STACKS) == STACKS
    assert stacks_of([path, "docs/review.md"], STACKS, deploy=True) == []
    assert stacks_of([path, "stacks/Pulumi.eo4eu.yaml"], STACKS, deploy=True) == ["eo4eu"]


def test_an_unknown_base_is_one_clear_error(repo: Path) -> None:
    with pytest.raises(ChangedStacksError, match="merge-base nosuch HEAD"):
        changed_stacks("nosuch", repo)


@pytest.mark.cli
def test_the_command_lists_one_stack_per_line() -> None:
    done = meridian("ci", "changed-stacks", "HEAD", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("[")
    bad = meridian("ci", "changed-stacks", "no-such-revision")
    assert bad.returncode == BAD_INPUT and "error: git merge-base" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.cli
def test_fit_comment_cuts_a_long_report_and_refuses_a_missing_one(tmp_path: Path) -> None:
    from scripts.diffreport import CUT_NOTE

    report = tmp_path / "report.md"
    lines = ["<!-- meridian-diff:s -->", "## Meridian: stack `s`", "", "```diff", *(f"+ line {i}" for i in range(900))]
    report.write_text("\n".join([*lines, "```", ""]), encoding="utf-8")
    done = meridian("ci", "fit-comment", str(report), "--max-chars", "3000")
    assert done.returncode == 0, done.stderr
    # One code block too long to fit: cut before it, never inside.
    assert len(done.stdout) <= 3000 and done.stdout == "\n".join(lines[:3]) + f"\n\n{CUT_NOTE}\n"
    tiny = meridian("ci", "fit-comment", str(report), "--max-chars", "40", "--note", "see the artifact")
    assert tiny.returncode == BAD_INPUT and "cannot hold" in tiny.stderr
    whole = meridian("ci", "fit-comment", str(report), "--max-chars", "1000000")
    assert whole.stdout == report.read_text(encoding="utf-8")
    missing = meridian("ci", "fit-comment", str(tmp_path / "none.md"), "--max-chars", "3000")
    assert missing.returncode == BAD_INPUT and "none.md" in missing.stderr and "Traceback" not in missing.stderr
