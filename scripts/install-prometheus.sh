#!/usr/bin/env bash
# Puts Debian's prometheus package (prometheus + promtool) under .tools/prometheus for the metrics
# test, without installing it system-wide: `apt-get download` + `dpkg-deb -x`, nothing configured,
# no service started. Idempotent: does nothing when the binary is already there.
# On failure it says why; under CI (CI=true) that fails the build, elsewhere the Prometheus test is
# skipped instead.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.tools/prometheus
BIN="$DEST/usr/bin/prometheus"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  exit 0
fi

fail() {
  echo "install-prometheus: $*" >&2
  if [ "${CI:-}" = "true" ]; then
    echo "install-prometheus: CI=true, so the Prometheus metrics test cannot run: failing" >&2
    exit 1
  fi
  echo "install-prometheus: the Prometheus metrics test (test/metrics) will be skipped on this machine" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: this script needs a Debian-based machine (or put prometheus and promtool under $DEST/usr/bin yourself)"
command -v dpkg-deb >/dev/null 2>&1 || fail "dpkg-deb not found"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt downloads as the _apt user where it can; let it write here (else it warns and downloads as root).
chmod 0777 "$tmp"

download() { (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>"$tmp/apt.err"); }
if ! download; then
  # A fresh machine has no package lists yet.
  echo "install-prometheus: apt-get download failed; running apt-get update and retrying" >&2
  apt-get update -qq >/dev/null 2>"$tmp/update.err" || fail "apt-get update failed: $(tail -3 "$tmp/update.err")"
  download || fail "apt-get download prometheus failed: $(tail -3 "$tmp/apt.err")"
fi

deb=$(ls "$tmp"/prometheus_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "apt-get download left no prometheus_*.deb"
mkdir -p "$tmp/x"
dpkg-deb -x "$deb" "$tmp/x" || fail "dpkg-deb -x $deb failed"
"$tmp/x/usr/bin/prometheus" --version >/dev/null 2>&1 || fail "the extracted prometheus binary does not run"

# Move into place in one step, so an interrupted or concurrent run never leaves half a tree.
mkdir -p .tools
rm -rf "$DEST.partial"
mv "$tmp/x" "$DEST.partial"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "install-prometheus: $("$BIN" --version 2>&1 | head -1) in $DEST (from $(basename "$deb"))"
