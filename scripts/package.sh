#!/usr/bin/env bash
# Builds the installable package: a .deb of the release binary with the UI
# embedded, its desktop entry and icon, made by the Tauri CLI (from npm).
# Prints the package's path. Install it with `sudo apt-get install ./<path>`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "==> tauri: build the .deb (release)"
ui/node_modules/.bin/tauri build --bundles deb --ci
ls -t target/release/bundle/deb/*.deb | head -n 1
