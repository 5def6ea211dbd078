#!/usr/bin/env bash
# The base branch's plan of one stack, made by the base's own code in its own venv, so the diff
# compares what main deploys with what the change would (README, "Preview diffs for pull requests").
# Usage: .ci/base-plan.sh STACK BASE_REVISION OUTPUT_JSON
set -euo pipefail
stack=$1
base=$2
out=$3
worktree="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/meridian-base"
rm -rf "$worktree"
git worktree prune
git worktree add --detach "$worktree" "$base" >/dev/null
trap 'git worktree remove --force "$worktree"' EXIT
if [[ -f "$worktree/stacks/Pulumi.$stack.yaml" ]]; then
  make -C "$worktree" .venv/.meridian-installed >/dev/null
  (cd "$worktree" && .venv/bin/meridian plan "$stack" --json "$out" >/dev/null)
else
  # A stack the base does not have: everything in it is a create.
  printf '{"project": "meridian", "stack": "%s", "resources": [], "outputs": {}}\n' "$stack" >"$out"
fi
