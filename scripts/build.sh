#!/usr/bin/env bash
# Builds the UI (type-checked) and the meterdesk binary that embeds it.
# `build.sh ui` builds the UI alone: scripts/test.sh lets `cargo test` build the
# binary, so the dependency graph is compiled once (its dev-dependencies turn on
# more tokio features, which a plain `cargo build` would compile a second time).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> ui: type-check and build"
(cd ui && npm run build --silent)
[ "${1:-}" = ui ] && exit 0
echo "==> cargo: build meterdesk"
cargo build --features custom-protocol
