#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 150), two at a time.
# cargo fuzz wants nightly; on a stable toolchain RUSTC_BOOTSTRAP=1 and
# --sanitizer none let it build (libFuzzer's coverage guidance still works).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-150}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=(event_csv event_ndjson event_cloudevents customer_csv event_import chunk_decode)
for t in "${targets[@]}"; do mkdir -p "fuzz/corpus/$t" && cp "fuzz/seeds/$t/"* "fuzz/corpus/$t/"; done
run() { cargo fuzz run --sanitizer none -O "$1" "fuzz/corpus/$1" -- -max_total_time="$seconds" -max_len=4096 2>&1 | grep -E "^Done|panicked|crash-" ; }
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" & run "${targets[i+1]}" & wait
done
