#!/usr/bin/env bash
# Installs everything and runs every test: the gates (rustfmt, clippy, ESLint),
# engine units with the module-graph ratchet, CLI end to end, the
# generated-bindings check, the UI in its real window through WebDriver, and
# the .deb package of the tested binary, installed with apt-get and started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "==> cargo: installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0
fi
export PATH="$HOME/.cargo/bin:$PATH"
echo "==> rustfmt"
cargo fmt --all --check
echo "==> ESLint (the React hooks rules)"
(cd ui && npm run --silent lint)
bash scripts/build.sh ui
# After the UI build: the app embeds ui/dist, which clippy's build reads too.
echo "==> clippy (warnings are errors)"
cargo clippy --workspace --all-targets --features custom-protocol -- -D warnings
echo "==> tests (under Xvfb)"
xvfb-run -a -s "-screen 0 1280x800x24" cargo test --workspace --features custom-protocol
echo "==> the package: bundle the tested binary as a .deb, install it with apt-get, start it to the painted dashboard"
# The binary the window tests just ran (debug profile, UI embedded), bundled
# as scripts/package.sh bundles the release one: the same packaging, desktop
# entry and dependencies, without a third full build of every crate.
ui/node_modules/.bin/tauri bundle --debug --bundles deb --ci
METERDESK_DEB="$(ls -t target/debug/bundle/deb/*.deb | head -n 1)" \
  xvfb-run -a -s "-screen 0 1280x800x24" cargo test -p meterdesk --features custom-protocol --test ui_e2e \
  -- --ignored --exact the_deb_package_installs_and_starts_to_the_painted_dashboard --nocapture
