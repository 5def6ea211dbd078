"""`meridian ci changed-stacks BASE`: the stacks a change affects, so pipelines fan out per stack.

A change affects a stack when it touches the stack's own file (`stacks/Pulumi.<stack>.yaml`),
and every stack when it touches anything the program, the policy pack or the offline engine is
made of (components, policies, scripts, `__main__.py`, `Pulumi.yaml`, the dependency locks, the
spec's schema). Files that no plan depends on (documentation, tests) affect none. The pipeline
definitions and their scripts (`PIPELINE`) affect every stack in a review, so that a change to
how stacks are reviewed runs, and is seen to work, on each of them; in a deploy they affect none
(a stack whose plan did not change has nothing to apply, and each deploy waits for an approval).
A file this module does not know counts as shared: a stack is planned once too often rather
than once too few.

The change is everything between the merge base of BASE and HEAD, and the working tree (as
`git diff --merge-base BASE` shows it): what a pull request adds, committed or not.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from .harness import REPO, bundled_stacks

#: Files no stack's plan depends on (fnmatch patterns over repository paths).
NO_STACK = (
    "*.md",
    "docs/*",
    "tests/*",
    ".gitignore",
    "LICENSE",
)
#: The pipelines and the scripts their jobs run: every stack in a review, none in a deploy.
PIPELINE = (".github/*", ".gitlab-ci.yml", ".gitlab/*", ".ci/*")
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


def stacks_of(files: list[str], stacks: list[str], *, deploy: bool = False) -> list[str]:
    """The stacks (of `stacks`, those that exist now) that a change of `files` affects, in a review or a deploy."""
    affected: set[str] = set()
    ignored = NO_STACK + PIPELINE if deploy else NO_STACK
    for path in files:
        if fnmatch.fnmatch(path, STACK_FILE):
            name = path.removeprefix("stacks/Pulumi.").removesuffix(".yaml")
            if name in stacks:  # a deleted stack has nothing left to plan
                affected.add(name)
        elif not any(fnmatch.fnmatch(path, pattern) for pattern in ignored):
            return sorted(stacks)
    return sorted(affected)


def changed_stacks(base: str, repo: Path = REPO, *, deploy: bool = False) -> list[str]:
    """The stacks of `repo` the change since `base` affects (module docstring)."""
    return stacks_of(changed_files(base, repo), bundled_stacks(repo / "stacks"), deploy=deploy)


#: What git reports as the commit before a branch's first push (GitHub `before`, GitLab
#: CI_COMMIT_BEFORE_SHA on a new branch, a manual or an API pipeline).
NO_COMMIT = "0" * 40


def stacks_since(base: str, repo: Path = REPO, *, fallback_all: bool = False, deploy: bool = False) -> list[str]:
    """`changed_stacks`, or with `fallback_all` every stack when `base` names no commit this clone has.

    A deploy pipeline compares with the push's previous commit, which a force-push or a first
    push does not leave: deploying every stack (each behind its approval) is then the safe side.
    """
    try:
        if base == NO_COMMIT:
            raise ChangedStacksError(f"{base} names no commit")
        return changed_stacks(base, repo, deploy=deploy)
    except ChangedStacksError as error:
        if not fallback_all:
            raise
        print(f"warning: {error}: every stack is affected", file=sys.stderr)
        return bundled_stacks(repo / "stacks")


#: The GitLab job templates the generated child pipeline extends (.gitlab/stack-jobs.yml).
GITLAB_TEMPLATES = ".gitlab/stack-jobs.yml"
GITLAB_MODES = {"review": (".review", ".preview"), "deploy": (".deploy",)}


def gitlab_jobs(mode: str, stacks: list[str], variables: Mapping[str, str]) -> str:
    """The child pipeline of one GitLab pipeline: the `mode`'s jobs for each affected stack.

    GitLab fans out per stack only through a pipeline generated at run time (a static matrix
    would make a job, and for deploys an environment deployment, for every stack). Predefined
    merge request variables do not reach a child pipeline, so the ones the jobs need are
    written into it (`variables`). With no stack affected, one job says so (a pipeline needs one).
    """
    document: dict[str, object] = {
        "include": [{"local": GITLAB_TEMPLATES}],
        "variables": dict(variables),
    }
    for stack in stacks:
        for template in GITLAB_MODES[mode]:
            document[f"{template.lstrip('.')}:{stack}"] = {"extends": template, "variables": {"STACK": stack}}
    if not stacks:
        document["no stack affected"] = {
            "image": "alpine:3.22",
            "script": ["echo 'no stack is affected by this change'"],
        }
    header = f"# Generated by `meridian ci gitlab-jobs {mode}` (scripts/ci.py): {mode} jobs per affected stack.\n"
    return header + yaml.safe_dump(document, sort_keys=False)
