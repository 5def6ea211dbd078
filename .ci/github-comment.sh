#!/usr/bin/env bash
# Create or update the pull request's one Meridian comment for a stack, found by the report's
# first line (`<!-- meridian-diff:<stack> -->`, scripts/diffreport.py). Needs `gh` and GH_TOKEN
# (the workflow's own token, `pull-requests: write`).
# Usage: .ci/github-comment.sh REPORT_MD OWNER/REPO PR_NUMBER
set -euo pipefail
report=$1
repo=$2
pr=$3
marker=$(head -n 1 "$report")
# GitHub takes at most 65536 characters per comment: a longer report is cut at a line, its open
# blocks closed, pointing at the job summary (scripts/diffreport.py `fit`).
body="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/comment.md"
.venv/bin/meridian ci fit-comment "$report" --max-chars 65536 >"$body"
ids=$(gh api --paginate "repos/$repo/issues/$pr/comments" \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id")
id=${ids%%$'\n'*}
if [[ -n "$id" ]]; then
  gh api --method PATCH "repos/$repo/issues/comments/$id" -F "body=@$body" >/dev/null
else
  gh api --method POST "repos/$repo/issues/$pr/comments" -F "body=@$body" >/dev/null
fi
