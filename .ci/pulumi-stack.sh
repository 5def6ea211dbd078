#!/usr/bin/env bash
# Select the stack in the backend (PULUMI_BACKEND_URL), creating it on first use with the secrets
# provider PULUMI_SECRETS_PROVIDER (e.g. awskms://alias/meridian-state?region=eu-central-1, which
# the job's AWS identity opens): a CI job has no passphrase to type.
# Usage: .ci/pulumi-stack.sh STACK
set -euo pipefail
stack=$1
if ! pulumi stack select "$stack" 2>/dev/null; then
  pulumi stack init "$stack" --secrets-provider "${PULUMI_SECRETS_PROVIDER:?PULUMI_SECRETS_PROVIDER: a CI variable}"
fi
