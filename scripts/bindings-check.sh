#!/usr/bin/env bash
# Fail if server/src/abi/bindings.rs is not what bindgen makes of include/
# today, or gnutls_bindings.rs of GnuTLS's header (run `make bindings` to refresh it).  Installs bindgen-cli if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp --suffix=.rs)
trap 'rm -f "$tmp"' EXIT
bash c-plugins/gen-bindings.sh "$tmp"
if ! diff -u server/src/abi/bindings.rs "$tmp"; then
  echo "bindings-check: server/src/abi/bindings.rs is stale; run 'make bindings'" >&2
  exit 1
fi
echo "bindings-check: server/src/abi/bindings.rs is up to date"
bash scripts/gen-gnutls-bindings.sh "$tmp"
if ! diff -u server/src/sys/gnutls_bindings.rs "$tmp"; then
  echo "bindings-check: server/src/sys/gnutls_bindings.rs is stale; run 'make bindings'" >&2
  exit 1
fi
echo "bindings-check: server/src/sys/gnutls_bindings.rs is up to date"
