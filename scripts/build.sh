#!/usr/bin/env bash
# Builds the UI (type-checked) and the meterdesk binary that embeds it.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> ui: type-check and build"
(cd ui && npm run build --silent)
echo "==> cargo: build meterdesk"
cargo build --features custom-protocol
