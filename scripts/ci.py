"""`meridian ci changed-stacks BASE`: the stacks a change affects, so pipelines fan out per stack.

A change affects a stack when it touches the stack's own file (`stacks/Pulumi.<stack>.yaml`),
and every stack when it touches anything the program, the policy pack or the offline engine is
made of (components, policies, scripts, `__main__.py`, `Pulumi.yaml`, the dependency locks, the
spec's schema). Files that no plan depends on (documentation, tests, CI definitions) affect
none. A file this module does not know counts as shared: a stack is planned once too often
rather than once too few.

The change is everything between the merge base of BASE and HEAD, and the working tree (as
`git diff --merge-base BASE` shows it): what a pull request adds, committed or not.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

from .harness import REPO, bundled_stacks

#: Files no stack's plan depends on (fnmatch patterns over repository paths).
NO_STACK = (
    "*.md",
    "docs/*",
    "tests/*",
    ".github/*",
    ".gitlab-ci.yml",
    ".gitlab/*",
    ".ci/*",
    ".gitignore",
    "LICENSE",
)
STACK_FILE = "stacks/Pulumi.*.yaml"


class ChangedStacksError(Exception):
    """git could not tell what changed (an unknown BASE, not a repository)."""


def changed_files(base: str, repo: Path = REPO) -> list[str]:
    """Paths changed between the merge base of `base` and HEAD, plus the working tree's changes and new files."""
    git = shutil.which("git") or "/usr/bin/git"

    def run(*args: str) -> list[str]:
        done = subprocess.run([git, *args], cwd=repo, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise ChangedStacksError(f"git {' '.join(args)}: {lines[-1] if lines else 'failed'}")
        return [line for line in done.stdout.splitlines() if line]

    merge_base = run("merge-base", base, "HEAD")[0]
    tracked = run("diff", "--name-only", "--no-renames", merge_base)
    untracked = run("ls-files", "--others", "--exclude-standard")
    return sorted(set(tracked) | set(untracked))


def stacks_of(files: list[str], stacks: list[str]) -> list[str]:
    """The stacks (of `stacks`, those that exist now) that a change of `files` affects."""
    affected: set[str] = set()
    for path in files:
        if fnmatch.fnmatch(path, STACK_FILE):
            name = path.removeprefix("stacks/Pulumi.").removesuffix(".yaml")
            if name in stacks:  # a deleted stack has nothing left to plan
                affected.add(name)
        elif not any(fnmatch.fnmatch(path, pattern) for pattern in NO_STACK):
            return sorted(stacks)
    return sorted(affected)


def changed_stacks(base: str, repo: Path = REPO) -> list[str]:
    """The stacks of `repo` the change since `base` affects (module docstring)."""
    return stacks_of(changed_files(base, repo), bundled_stacks(repo / "stacks"))
