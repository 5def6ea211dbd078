#!/usr/bin/env bash
# Debian tools the test suite checks generated files with (README, "Checked against real tools"):
# ShellCheck (embedded scripts), cloud-init (its schema for node user data), curl and openssl
# (the readiness wait's script, run against a local TLS server), and promtool from Debian's prometheus
# package (`promtool check rules` / `promtool test rules` on the alert rules, tests/test_alerts.py), and
# amtool from prometheus-alertmanager (`amtool check-config` on the generated Alertmanager configuration,
# tests/test_observability.py), and node with npm (Mermaid's parser checks the topology diagram,
# tests/test_diffreport.py). Installed only when missing.
set -euo pipefail

need=()
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v cloud-init >/dev/null 2>&1 || need+=(cloud-init)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian packages: ${need[*]}"
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"; then
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi
