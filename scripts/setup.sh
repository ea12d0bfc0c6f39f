#!/usr/bin/env bash
# Installs what IceFlix needs and builds it. Idempotent, and quick when everything is there:
#   1. Debian packages (IceStorm, IceGrid, Slice compilers, Python Ice for interop tests,
#      GStreamer, ffmpeg, PostgreSQL, tmux)
#   2. npm dependencies (npm ci, when package-lock.json changed)
#   3. the build (Slice → JS, tsc), when a source is newer than the last build
# One line per step on stderr; the tools' own output goes to a log file, whose last 30 lines are
# shown when a step fails. Every failure ends with one line saying what to do, and exit 1.
# Usage: scripts/setup.sh [--quiet]   (--quiet: say nothing when there is nothing to do)
set -uo pipefail

quiet=0
[[ "${1:-}" == "--quiet" ]] && quiet=1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

APT_PACKAGES=(
  zeroc-icebox libzeroc-icestorm3.7 zeroc-ice-compilers python3-zeroc-ice libzeroc-ice-dev
  zeroc-icegrid zeroc-ice-utils
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg
  postgresql tmux
  chromium
)
NODE_MAJOR_MIN=20

started=$(date +%s%N)
did_work=0
log=${ICEFLIX_SETUP_LOG:-${TMPDIR:-/tmp}/iceflix-setup-$(id -u).log}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
seconds() { # milliseconds → "0.4 s" / "58 s" / "2 min 5 s"
  local ms=$1
  if ((ms < 10000)); then printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
  elif ((ms < 120000)); then printf '%d s' $((ms / 1000))
  else printf '%d min %d s' $((ms / 60000)) $((ms % 60000 / 1000)); fi
}
say() { echo "setup: $*" >&2; }

# Ends the run with one line that says what to do (and the log's tail when there is one).
fail() {
  local what=$1
  echo >&2
  if [[ -s $log && ${2:-} != nolog ]]; then
    echo "---- last 30 lines of $log ----" >&2
    tail -n 30 "$log" >&2
    echo "----" >&2
  fi
  say "$what"
  exit 1
}

# Names the cause of a failed step from its part of the log: a full disk, no network to the
# archive the step needs (when it needs one), or the step's own error.
explain_failure() {
  local step=$1 archive=${2:-}
  local output
  output=$(tail -c +$((log_offset + 1)) "$log" 2>/dev/null)
  if grep -qiE 'No space left on device|ENOSPC' <<<"$output" || disk_full; then
    fail "$step failed: the disk is full. Free some space (df -h $root /var/cache/apt ${TMPDIR:-/tmp}) and run this again."
  fi
  if [[ -n $archive ]] && grep -qiE "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|Network is unreachable|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network request to .* failed" <<<"$output"; then
    fail "$step failed: $archive is not reachable. Check the network (and any proxy settings), then run this again."
  fi
  fail "$step failed (log: $log). Fix the error above, then run this again."
}

disk_full() { # true when a folder setup writes to has less than 1 MiB left
  local dir
  for dir in "$root" /var/cache/apt "${TMPDIR:-/tmp}"; do
    [[ -d $dir ]] || continue
    local free_kb
    free_kb=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }')
    [[ -n $free_kb ]] && ((free_kb < 1024)) && return 0
  done
  return 1
}

# Starts the log of this run; a disk too full even for that is said at once.
open_log() {
  if ! : >"$log" 2>/dev/null; then
    disk_full && fail "the disk is full (cannot write $log). Free some space and run this again." nolog
    log=$(mktemp 2>/dev/null) || fail "cannot write a log file in ${TMPDIR:-/tmp}: set TMPDIR to a writable folder." nolog
  fi
}

# step N TEXT: prints "setup: [N/3] TEXT… " and remembers when the step began.
step_started=0
log_offset=0
step() {
  ((did_work == 0)) && open_log
  did_work=1
  step_started=$(date +%s%N)
  log_offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
  printf 'setup: [%s/3] %s… ' "$1" "$2" >&2
}
step_done() { echo "done in $(seconds "$(ms_since "$step_started")")" >&2; }
step_failed() { echo "failed after $(seconds "$(ms_since "$step_started")")" >&2; }

# 0. Node.js: npm start runs under it, but `bash scripts/setup.sh` may be the first thing run.
if ! command -v node >/dev/null 2>&1; then
  fail "Node.js $NODE_MAJOR_MIN or newer is needed and none is installed: install it (e.g. Debian's nodejs from NodeSource, or nvm), then run this again." nolog
fi
node_version=$(node --version 2>/dev/null)
node_major=${node_version#v}
node_major=${node_major%%.*}
if ! [[ $node_major =~ ^[0-9]+$ ]] || ((node_major < NODE_MAJOR_MIN)); then
  fail "Node.js $NODE_MAJOR_MIN or newer is needed, found ${node_version:-an unknown version} at $(command -v node): install Node.js $NODE_MAJOR_MIN (or put it first on PATH), then run this again." nolog
fi

# 1. Debian packages.
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then sudo=(); elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    fail "${#missing[@]} Debian packages are missing (${missing[*]}) and installing them needs root: run 'sudo bash scripts/setup.sh' once, or as root: apt-get install ${missing[*]}" nolog
  fi
  if ((${#missing[@]} > 3)); then estimate="≈1–3 min"; else estimate="≈10–40 s"; fi
  step 1 "Debian packages: installing ${#missing[@]} ($estimate)"
  if ! { "${sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >>"$log" 2>&1; then
    step_failed
    explain_failure "installing Debian packages" "the Debian package archive"
  fi
  step_done
elif ((quiet == 0)); then
  say "[1/3] Debian packages: all ${#APT_PACKAGES[@]} present"
fi

# 2. npm dependencies, when package-lock.json is newer than the installed tree.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  step 2 "npm dependencies: npm ci (≈1 min)"
  if ! npm ci --no-audit --no-fund --loglevel=error >>"$log" 2>&1; then
    step_failed
    explain_failure "npm ci" "the npm registry"
  fi
  step_done
elif ((quiet == 0)); then
  say "[2/3] npm dependencies: up to date"
fi

# 3. The build, when a source is newer than the last one (results under bench/ do not count).
stamp=dist/.build-stamp
if [[ ! -f $stamp ]] || [[ -n $(find src test bench slice scripts tsconfig.json package-lock.json -newer "$stamp" -type f \
      -not -path 'src/gen/*' \( -name '*.ts' -o -name '*.ice' -o -name '*.mjs' -o -name '*.json' -not -path 'bench/*' \) \
      -print -quit 2>/dev/null) ]]; then
  step 3 "build: Slice and TypeScript (≈10–30 s)"
  if ! { node scripts/build-slice.mjs && npx --no-install tsc -p tsconfig.json; } >>"$log" 2>&1; then
    step_failed
    explain_failure "the build"
  fi
  if ! touch "$stamp" 2>>"$log"; then explain_failure "the build"; fi
  step_done
elif ((quiet == 0)); then
  say "[3/3] build: up to date"
fi

if ((did_work)); then
  say "ready in $(seconds "$(ms_since "$started")") (log: $log)"
elif ((quiet == 0)); then
  say "ready in $(seconds "$(ms_since "$started")"): nothing to do"
fi
exit 0
