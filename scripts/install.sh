#!/usr/bin/env bash
# Installs what Meterdesk needs on a Debian/Ubuntu machine; safe to run again
# (each step is skipped when already done). Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: Tauri's WebKitGTK. Run and test headless: Xvfb, WebKitWebDriver, a font,
# ImageMagick (screenshots), poppler (PDF to PNG), zbar (reads the payment QR
# code), aiosmtpd (a real SMTP server on loopback), and a session bus with the
# GNOME keyring (the mail password in a system keychain).
APT_PACKAGES=(build-essential pkg-config libwebkit2gtk-4.1-dev
  xvfb xauth x11-utils webkit2gtk-driver imagemagick poppler-utils fonts-dejavu-core
  zbar-tools python3-aiosmtpd dbus gnome-keyring)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt: installing ${missing[*]}"
  sudo_if_needed apt-get update -q
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required: $2" >&2; exit 1; }
}
need cargo "install Rust 1.95 or newer with rustup"
need node "install Node.js 20 or newer"
need npm "install npm (it comes with Node.js)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "error: Node.js 20 or newer is required (found $(node --version))" >&2; exit 1; }

if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "==> npm: installing the UI's packages"
  (cd ui && npm ci --no-audit --no-fund)
fi
