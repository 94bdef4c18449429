#!/usr/bin/env bash
# Installs everything, builds, and opens the console on a fresh demo workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/build.sh
demo="${XDG_DATA_HOME:-$HOME/.local/share}/meterdesk/demo.meterdesk"
./target/debug/meterdesk demo "$demo" --force
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "==> no display found: running the console inside Xvfb"
  exec xvfb-run -a -s "-screen 0 1280x800x24" ./target/debug/meterdesk --workspace "$demo"
fi
exec ./target/debug/meterdesk --workspace "$demo"
