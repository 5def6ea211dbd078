#!/usr/bin/env bash
# Install the Pulumi CLI into $1 (default ~/.pulumi), at the version of the Pulumi SDK that
# requirements.lock pins (the CLI and the SDK are released together with one version number).
# The provider plugins follow the SDK packages the lock pins (`pulumi install`).
set -euo pipefail
version=$(sed -n 's/^pulumi==//p' "$(dirname "$0")/../requirements.lock")
curl -fsSL https://get.pulumi.com | sh -s -- --version "$version" --install-root "${1:-$HOME/.pulumi}" >/dev/null
