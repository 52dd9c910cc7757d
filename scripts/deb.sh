#!/usr/bin/env bash
# Build build/hugeshim_VERSION_ARCH.deb from a built tree (make deb) with
# Debian's own tools: `make install` into a staging root, dpkg-shlibdeps for
# Depends, dpkg-deb to pack, lintian to check (errors fail the build).
# Environment (from the Makefile): VERSION, MULTIARCH, BUILD.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
version=${VERSION:?} multiarch=${MULTIARCH:?} build=${BUILD:-build}
arch=$(dpkg --print-architecture)
deb="$build/hugeshim_${version}_${arch}.deb"
work="$build/deb"
root="$work/root"
rm -rf "$work"
mkdir -p "$root/DEBIAN"

make --no-print-directory -s install DESTDIR="$root" PREFIX=/usr LIBDIR="/usr/lib/$multiarch" >/dev/null
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/lib/$multiarch/libhugeshim.so.0"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/hugeshim"
gzip -9n "$root"/usr/share/man/man*/*
# The unversioned name is a development link: programs preload
# libhugeshim.so.0 (or use the launcher), nothing links with -lhugeshim.
rm "$root/usr/lib/$multiarch/libhugeshim.so"
mkdir -p "$root/usr/share/lintian/overrides"
cat > "$root/usr/share/lintian/overrides/hugeshim" <<EOF
# One package for a preload library and its launcher, named after the tool.
hugeshim: package-name-doesnt-match-sonames libhugeshim0
EOF

# The configuration file, commented out: a conffile, kept on removal if changed.
install -D -m 0644 docs/hugeshim.conf "$root/etc/hugeshim.conf"

# Documents, the changelog and the copyright, as Debian policy places them.
doc="$root/usr/share/doc/hugeshim"
mkdir -p "$doc"
install -m 0644 README.md docs/*.md "$doc/"
gzip -9n "$doc"/*.md
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
maintainer="hugeshim maintainers <maintainers@users.noreply.h-seed-e95ec9bf.example>"
cat > "$doc/changelog" <<EOF
hugeshim ($version) unstable; urgency=medium

  * Built from $(git describe --always --dirty 2>/dev/null || echo "a source tree").

 -- $maintainer  $when
EOF
gzip -9n "$doc/changelog"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hugeshim

Files: *
Copyright: 2026 the hugeshim authors
License: MIT

Files: jemalloc/*
Copyright: 2002-present Jason Evans <jasone@canonware.com>
           2007-2012 Mozilla Foundation
           2009-present Facebook, Inc.
License: BSD-2-Clause
Comment: libhugeshim.so links jemalloc statically (Debian's libjemalloc_pic.a, symbols renamed).

License: MIT
$(sed -e 's/^$/./' -e 's/^/ /' LICENSE)

License: BSD-2-Clause
$(awk '/^License: BSD-2-Clause$/ {f = 1; next} f && /^$/ {exit} f' /usr/share/doc/libjemalloc-dev/copyright)
EOF
find "$root" -type d -exec chmod 0755 {} +
find "$root/usr/share" -type f -exec chmod 0644 {} +

# Depends: what the two ELF files link, as dpkg-shlibdeps computes it.
# libunwind (allocation sites) and libdw (their symbols) are dlopened.
mkdir -p "$work/debian"
cat > "$work/debian/control" <<EOF
Source: hugeshim

Package: hugeshim
Architecture: any
EOF
depends=$(cd "$work" && dpkg-shlibdeps -O -e"root/usr/lib/$multiarch/libhugeshim.so.0" -e"root/usr/bin/hugeshim" 2>/dev/null |
          sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: hugeshim
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Recommends: libunwind8
Suggests: libdw1, numactl
Section: libs
Priority: optional
Multi-Arch: no
Description: huge pages and NUMA placement for unmodified programs (LD_PRELOAD)
 hugeshim is a library preloaded into a program that was not built for it.
 It serves the malloc API and C++ new/delete from a jemalloc linked into it,
 backed by transparent huge pages or hugetlb 2 MiB / 1 GiB pages with
 fallback, and backs the program's large anonymous mappings the same way.
 .
 On NUMA machines it tracks which pages are hot and which node's CPUs use
 them, reads included, and moves hot pages to that node with move_pages,
 from user space. It reports what the kernel gave.
 .
 The hugeshim launcher runs programs under it, checks what the machine
 offers (doctor), manages hugetlb pools (pool) and prints reports, also as
 Prometheus metrics.
EOF
# The library is registered with ldconfig and has a shlibs entry.
echo "activate-noawait ldconfig" > "$root/DEBIAN/triggers"
echo "/etc/hugeshim.conf" > "$root/DEBIAN/conffiles"
echo "libhugeshim 0 hugeshim (>= $version)" > "$root/DEBIAN/shlibs"
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root"/DEBIAN/*

dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "deb: $deb"
if command -v lintian >/dev/null; then
  # Errors fail the build; warnings are printed.
  lintian --fail-on error "$deb"
fi
