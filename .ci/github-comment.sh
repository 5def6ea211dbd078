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
# GitHub takes at most 65536 characters per comment: a longer report is cut, pointing at the job summary.
body="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/comment.md"
python3 - "$report" "$body" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
limit = 65000
if len(text) > limit:
    text = text[:limit] + "\n\n_The report is longer than a comment may be: the whole of it is in the job summary._\n"
open(sys.argv[2], "w", encoding="utf-8").write(text)
PY
ids=$(gh api --paginate "repos/$repo/issues/$pr/comments" \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id")
id=${ids%%$'\n'*}
if [[ -n "$id" ]]; then
  gh api --method PATCH "repos/$repo/issues/comments/$id" -F "body=@$body" >/dev/null
else
  gh api --method POST "repos/$repo/issues/$pr/comments" -F "body=@$body" >/dev/null
fi
