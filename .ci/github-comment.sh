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
id=$(gh api --paginate "repos/$repo/issues/$pr/comments" \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)
if [[ -n "$id" ]]; then
  gh api --method PATCH "repos/$repo/issues/comments/$id" -F "body=@$report" >/dev/null
else
  gh api --method POST "repos/$repo/issues/$pr/comments" -F "body=@$report" >/dev/null
fi
