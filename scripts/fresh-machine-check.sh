#!/usr/bin/env bash
# By hand, not part of npm test: shows that `npm test`'s first step (scripts/preflight.ts) installs the
# system packages the tests need on a genuinely fresh Debian, and then passes.
#
#   sudo scripts/fresh-machine-check.sh [SUITE] [TEST-FILTER...]
#
# Builds a minimal Debian (mmdebstrap --variant=apt, default bookworm: apt and nothing of Dabba's
# list), clones this repository's committed HEAD into it with Node 24 from this checkout's
# node_modules (the chroot has no npm), and as root inside it runs:
#   1. dabba doctor          (reports what is missing; exit 1)
#   2. the preflight         (apt-get update + install of exactly the missing packages)
#   3. the preflight again   (nothing to do: silent, timed)
#   4. dabba doctor          (everything present)
#   5. the test files matching TEST-FILTER, if given (e.g. src/image/image-store)
# Needs root and Debian's mirror. The chroot and its mounts are removed at the end, even on failure
# (KEEP=1 keeps the directory).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (mmdebstrap and chroot)" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
SUITE=${1:-bookworm}
shift || true
WORK=$(mktemp -d /var/tmp/dabba-fresh.XXXXXX)
ROOT=$WORK/root

cleanup() {
  local rc=$?
  # Every mount of the chroot, deepest first: ours (the root, /proc, /sys, /dev) and any the tests
  # made there (`ip netns add` mounts /run/netns).
  awk -v r="$ROOT" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount --recursive --lazy "$m" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf --one-file-system "$WORK"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

step() { printf '\n=== %s\n' "$*"; }

command -v mmdebstrap >/dev/null || {
  step "installing mmdebstrap on this machine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap
}

step "building a fresh Debian $SUITE in $ROOT (mmdebstrap --variant=apt)"
time mmdebstrap --variant=apt "$SUITE" "$ROOT"

step "a fresh clone of $(git -C "$REPO" rev-parse --short HEAD) with Node 24 from node_modules"
git clone -q --no-hardlinks "$REPO" "$ROOT/dabba"
git -C "$ROOT/dabba" checkout -q "$(git -C "$REPO" rev-parse HEAD)"
cp -a "$REPO/node_modules" "$ROOT/dabba/node_modules"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# As in any chroot: packages' maintainer scripts start no services here (etcd-server would).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
# The chroot's / must be a mount point, as on a real machine (`ip netns exec` remounts it rslave).
mount --bind "$ROOT" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --make-rslave "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"

step "the fresh root lacks the packages of the list (dpkg-query)"
# shellcheck disable=SC2046 # one package a word
chroot "$ROOT" dpkg-query -W -f '${Package} ${Status}\n' \
  $(cd "$REPO" && node_modules/.bin/node scripts/preflight.ts --list) 2>&1 || true

in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /dabba && $*"
}

step "1. dabba doctor in the fresh root (expected: missing packages, exit 1)"
in_root 'bin/dabba doctor; echo "exit $?"'

step "2. the preflight as root: installs what is missing"
in_root 'time node_modules/.bin/node scripts/preflight.ts; echo "exit $?"'

step "3. the preflight again: nothing to do (silent), timed"
in_root 'time node_modules/.bin/node scripts/preflight.ts; echo "exit $?"'

step "4. dabba doctor after"
in_root 'bin/dabba doctor; echo "exit $?"'

if [ $# -gt 0 ]; then
  step "5. tests: $*"
  in_root "node_modules/.bin/node scripts/run-tests.ts $*"
fi
