#!/usr/bin/env bash
# Create or update the merge request's one Meridian note for a stack, found by the report's first
# line (scripts/diffreport.py). Needs curl, python3 and GITLAB_REVIEW_TOKEN (a project access
# token with the `api` scope and the Reporter role: it writes notes, it reaches no cloud).
# Usage: .ci/gitlab-note.sh REPORT_MD
set -euo pipefail
report=$1
# In a child pipeline GitLab does not pass the merge request's variables: MR_IID carries its IID.
iid=${CI_MERGE_REQUEST_IID:-${MR_IID:?MR_IID: the merge request IID}}
api="$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$iid/notes"
auth="PRIVATE-TOKEN: $GITLAB_REVIEW_TOKEN"
marker=$(head -n 1 "$report")
# GitLab takes at most 1,000,000 characters per note (scripts/diffreport.py `fit` cuts at a line).
body="${TMPDIR:-/tmp}/note.md"
.venv/bin/meridian ci fit-comment "$report" --max-chars 1000000 \
  --note "_The report is longer than a note may be: the whole of it is the job's reports/review.md artifact._" >"$body"
id=""
page=1
# Every page of notes (100 at a time) until the marker is found or the pages end.
while [[ -z "$id" ]]; do
  notes=$(curl -fsS --header "$auth" "$api?per_page=100&sort=asc&page=$page")
  [[ "$notes" == "[]" ]] && break
  id=$(python3 -c '
import json, sys
marker = sys.argv[1]
print(next((str(note["id"]) for note in json.load(sys.stdin) if note["body"].startswith(marker)), ""))
' "$marker" <<<"$notes")
  page=$((page + 1))
done
if [[ -n "$id" ]]; then
  curl -fsS --request PUT --header "$auth" --data-urlencode "body@$body" "$api/$id" >/dev/null
else
  curl -fsS --request POST --header "$auth" --data-urlencode "body@$body" "$api" >/dev/null
fi
