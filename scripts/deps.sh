#!/usr/bin/env bash
# Install the Debian packages hugeshim needs that are missing; prints what it does.
# Usage: scripts/deps.sh build|test|bench|numalab|deb
set -euo pipefail
want=(gcc g++ make binutils libc6-dev libjemalloc-dev libjansson-dev libnuma-dev libunwind-dev libdw-dev libcairo2-dev)
case "${1:-build}" in
  test)    want+=(libgtest-dev nlohmann-json3-dev cppcheck sqlite3 xz-utils bzip2 gzip python3 perl gawk coreutils
             python3-prometheus-client dpkg-dev fakeroot lintian man-db
             redis-server redis-tools stress-ng libpython3.11-testsuite) ;;
  bench)   want+=(python3 stress-ng libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4) ;;
  numalab) want+=(qemu-system-x86 busybox-static cpio) ;;
  deb)     want+=(dpkg-dev fakeroot lintian man-db) ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
