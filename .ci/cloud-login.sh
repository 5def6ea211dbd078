#!/usr/bin/env bash
# Cloud credentials for `pulumi preview` / `pulumi up` from the job's OIDC identity tokens, never
# from stored secrets: AWS assumes $AWS_ROLE_ARN with a web identity token (the SDK reads it from
# AWS_WEB_IDENTITY_TOKEN_FILE), Vault's provider logs in with TERRAFORM_VAULT_AUTH_JWT, and the
# program itself with the stack's `vault.auth` (jwt). Writes the variables to $GITHUB_ENV (GitHub
# Actions) or prints them as `export` lines (GitLab CI: `eval "$(.ci/cloud-login.sh)"`).
# GitHub: tokens come from the job's token endpoint; GitLab: from `id_tokens` AWS_ID_TOKEN and
# VAULT_ID_TOKEN.
set -euo pipefail
dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
github_token() {
  curl -fsS -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
    "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["value"])'
}
if [[ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]]; then
  aws_token=$(github_token sts.amazonaws.com)
  vault_token=$(github_token "${VAULT_AUDIENCE:-meridian}")
else
  aws_token=${AWS_ID_TOKEN:?AWS_ID_TOKEN: declare it under id_tokens}
  vault_token=${VAULT_ID_TOKEN:?VAULT_ID_TOKEN: declare it under id_tokens}
fi
umask 077
printf '%s' "$aws_token" >"$dir/aws-web-identity-token"
if [[ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]]; then
  # GitHub's identity tokens expire after minutes, and the AWS SDK reads the file again whenever
  # it renews its role session: a fresh token every four minutes, until the job ends (GitHub
  # ends a job's remaining processes). GitLab's tokens live as long as the job.
  (
    while sleep 240; do
      if token=$(github_token sts.amazonaws.com); then
        printf '%s' "$token" >"$dir/aws-web-identity-token.new" && mv "$dir/aws-web-identity-token.new" "$dir/aws-web-identity-token"
      fi
    done
  ) </dev/null >/dev/null 2>&1 &
  disown
fi
settings=(
  "AWS_ROLE_ARN=${AWS_ROLE_ARN:?AWS_ROLE_ARN: the deploy role, a CI variable}"
  "AWS_WEB_IDENTITY_TOKEN_FILE=$dir/aws-web-identity-token"
  "AWS_ROLE_SESSION_NAME=meridian-${STACK:-ci}"
  "VAULT_ID_TOKEN=$vault_token"
  "TERRAFORM_VAULT_AUTH_JWT=$vault_token"
)
if [[ -n "${GITHUB_ENV:-}" ]]; then
  # The identity tokens never show in the log.
  echo "::add-mask::$aws_token"
  echo "::add-mask::$vault_token"
  for setting in "${settings[@]}"; do
    echo "$setting" >>"$GITHUB_ENV"
  done
else
  for setting in "${settings[@]}"; do
    printf 'export %q\n' "$setting"
  done
fi
