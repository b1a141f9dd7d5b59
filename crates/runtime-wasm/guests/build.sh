#!/usr/bin/env bash
# Rebuilds the guest components used by eddy-runtime-wasm's tests and fixtures, and copies each
# into guests/built/<name>.wasm (committed, since CI may lack the wasm32-wasip2 target).
#   crates/runtime-wasm/guests/build.sh            all guests
#   crates/runtime-wasm/guests/build.sh hello echo some of them
set -euo pipefail
cd "$(dirname "$0")"
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "error: the wasm32-wasip2 target is not installed (run: rustup target add wasm32-wasip2)" >&2
  exit 1
fi
# One target dir for every guest, so shared dependencies (wstd) build once.
export CARGO_TARGET_DIR="${GUESTS_TARGET_DIR:-${TMPDIR:-/tmp}/eddy-wasm-guests}"
# Paths of this machine (the cargo registry, this checkout) stay out of the committed binaries:
# panic locations name them relative to fixed prefixes instead.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export RUSTFLAGS="--remap-path-prefix=$cargo_home/registry/src=/cargo/registry --remap-path-prefix=$PWD=/guests ${RUSTFLAGS:-}"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(hello echo stream trap loop hog fetch env plain)
fi
for name in "${names[@]}"; do
  echo "==> guest $name"
  cargo build --quiet --release --target wasm32-wasip2 --manifest-path "$name/Cargo.toml"
  cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/guest-$name.wasm" "built/$name.wasm"
done
ls -l built
