#!/usr/bin/env bash
# The base branch's plan of one stack, made by the base's own code in its own venv, so the diff
# compares what main deploys with what the change would (README, "Preview diffs for pull requests").
# With a fourth argument, also the base's rendered manifests there (`meridian render --out`), for
# `meridian diff --render --base-manifests` (what the releases' objects change).
# Usage: .ci/base-plan.sh STACK BASE_REVISION OUTPUT_JSON [MANIFEST_DIR]
set -euo pipefail
stack=$1
base=$2
out=$3
manifests=${4:-}
# A directory of its own: concurrent jobs on one shell runner must not share it.
worktree=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/meridian-base.XXXXXX")
rmdir "$worktree"
git worktree prune
git worktree add --detach "$worktree" "$base" >/dev/null
trap 'git worktree remove --force "$worktree"' EXIT
if [[ -f "$worktree/stacks/Pulumi.$stack.yaml" ]]; then
  make -C "$worktree" .venv/.meridian-installed >/dev/null
  (cd "$worktree" && .venv/bin/meridian plan "$stack" --json "$out" >/dev/null)
  if [[ -n "$manifests" ]]; then
    make -C "$worktree" tools >/dev/null
    mkdir -p "$manifests"
    # 1: objects the base renders are invalid (still written, still what main deploys); 2: no render.
    status=0
    (cd "$worktree" && .venv/bin/meridian render "$stack" --out "$manifests" >/dev/null) || status=$?
    if ((status > 1)); then
      exit "$status"
    fi
  fi
else
  # A stack the base does not have: everything in it is a create.
  printf '{"project": "meridian", "stack": "%s", "resources": [], "outputs": {}}\n' "$stack" >"$out"
  if [[ -n "$manifests" ]]; then
    mkdir -p "$manifests"
  fi
fi
