#!/usr/bin/env bash
# Installs what IceFlix needs and builds it. Idempotent, and quick when everything is there:
#   1. Debian packages (IceStorm, Slice compilers, Python Ice for interop tests, GStreamer, ffmpeg)
#   2. npm dependencies (npm ci, when package-lock.json changed)
#   3. the build (Slice → JS, tsc), when a source is newer than the last build
# Usage: scripts/setup.sh [--quiet]
set -euo pipefail

quiet=0
[[ "${1:-}" == "--quiet" ]] && quiet=1
say() { [[ $quiet == 1 ]] || echo "setup: $*" >&2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

APT_PACKAGES=(
  zeroc-icebox libzeroc-icestorm3.7 zeroc-ice-compilers python3-zeroc-ice libzeroc-ice-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg
  tmux postgresql zeroc-icegrid zeroc-ice-utils
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  if [[ $(id -u) == 0 ]]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
  "${SUDO[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "setup: Node.js >= 20 is required (found $(node --version))" >&2; exit 1
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

stamp=dist/.build-stamp
# Only sources count (results files written under bench/ must not trigger a rebuild).
if [[ ! -f $stamp ]] || [[ -n $(find src test bench slice scripts tsconfig.json package-lock.json -newer "$stamp" -type f \
      -not -path 'src/gen/*' \( -name '*.ts' -o -name '*.ice' -o -name '*.mjs' -o -name '*.json' -not -path 'bench/*' \) \
      -print -quit 2>/dev/null) ]]; then
  say "building"
  node scripts/build-slice.mjs
  npx --no-install tsc -p tsconfig.json
  touch "$stamp"
fi
say "ready"
