#!/usr/bin/env bash
# The NUMA lab: boot Debian's 6.12 kernel under QEMU (TCG) with NODES emulated
# NUMA nodes and run a command inside; the guest's console streams here and
# its exit status becomes ours.
#
#   tests/numalab/lab.sh --tests          run build/tests/numa_tests in the guest
#   tests/numalab/lab.sh --shell          an interactive shell in the guest (make numalab)
#   tests/numalab/lab.sh -- CMD [ARGS]    run one command in the guest
#   tests/numalab/lab.sh --with PROG [--with FILE]... -- PROG ARGS
#                                         the same with programs or files of
#                                         your own (and the shared libraries
#                                         ldd finds for them) at their paths
#
# Environment: NODES (2), CPUS_PER_NODE (2), MEM_PER_NODE in MiB (1024),
# FAR_NODES (0): memory-only nodes after the CPU nodes, of FAR_MEM MiB each
# (MEM_PER_NODE), slower in the firmware's HMAT table (300 ns, 8 GB/s against
# 100 ns, 20 GB/s local and 150 ns, 15 GB/s across), so that the guest
# kernel puts them in a lower memory tier,
# LAB_GTEST_FILTER (the tests of the NUMA set to run, --tests only),
# LAB_TIMEOUT in seconds (900), LAB_TCG_THREAD (single: multi-threaded TCG
# sometimes kills the guest kernel while it patches its own code, see the
# README), HS_LAB_CACHE (where the kernel is kept,
# default ~/.cache/hugeshim-numalab).  Exit 77: the lab cannot run here (the
# reason is printed); the caller reports the NUMA set as skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build="$here/build"
lab="$build/numalab"
nodes=${NODES:-2}
cpus_per_node=${CPUS_PER_NODE:-2}
mem_per_node=${MEM_PER_NODE:-1024}
far_nodes=${FAR_NODES:-0}
far_mem=${FAR_MEM:-$mem_per_node}
topo="$nodes"; [ "$far_nodes" = 0 ] || topo="$nodes+$far_nodes"
timeout_s=${LAB_TIMEOUT:-900}
cache=${HS_LAB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/var/tmp}/.cache}/hugeshim-numalab}
kernel_meta=linux-image-6.12-amd64
extra=()
while [ "${1:-}" = --with ]; do
  [ -e "${2:-}" ] || { echo "numalab: --with ${2:-(nothing)}: no such file" >&2; exit 2; }
  extra+=("$(realpath "$2")"); shift 2
done
mode=${1:---tests}
[ "$mode" = "--" ] && shift
mkdir -p "$lab" "$cache"

skip() { echo "numalab: SKIPPED: $*" >&2; exit 77; }

# ---- tools: qemu, a static busybox, cpio --------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x /bin/busybox ] || ! command -v cpio >/dev/null; then
  "$here/scripts/deps.sh" numalab || true
fi
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing and could not be installed (apt-get install qemu-system-x86)"
[ -x /bin/busybox ] || skip "/bin/busybox missing (apt-get install busybox-static)"
command -v cpio >/dev/null || skip "cpio missing (apt-get install cpio)"
ldd /bin/busybox >/dev/null 2>&1 && skip "/bin/busybox is dynamically linked; the lab needs busybox-static"

# ---- kernel: Debian's 6.12 image, downloaded once, never installed ------------
if [ ! -s "$cache/vmlinuz" ]; then
  pkg=$(apt-cache depends "$kernel_meta" 2>/dev/null | awk '/Depends: linux-image/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    (apt-get update -qq >/dev/null 2>&1 || sudo -n apt-get update -qq >/dev/null 2>&1) || true
    pkg=$(apt-cache depends "$kernel_meta" 2>/dev/null | awk '/Depends: linux-image/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || skip "cannot find the package behind $kernel_meta in apt's lists"
  tmp=$(mktemp -d)
  echo "numalab: fetching $pkg (once; kept in $cache)" >&2
  (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; skip "apt-get download $pkg failed"; }
  dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
  cp "$tmp"/boot/vmlinuz-* "$cache/vmlinuz.new" && mv "$cache/vmlinuz.new" "$cache/vmlinuz"
  echo "$pkg" > "$cache/kernel-package"
  rm -rf "$tmp"
fi

# Copy files and the shared libraries ldd finds for them into a root, at their paths.
add_files() { # ROOT FILE...
  local root=$1 f lib; shift
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"; cp -L "$f" "$root$f"
    for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
      mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done
  done
}

# ---- image: busybox, hugeshim, the test programs and the libraries they need --
# Files keep their host paths, so the tests find each other as on the host.
# The NUMA set needs its test binary and probes; another command (make demo's)
# only what it names, with hugeshim and whichever probes are built.
files=("$build/libhugeshim.so" "$build/hugeshim")
[ "$mode" = --tests ] && files+=("$build/tests/numa_tests" "$build/tests/hs_numa_probe" "$build/tests/hs_probe")
for f in "${files[@]}"; do [ -e "$f" ] || { echo "numalab: $f missing: run make first" >&2; exit 2; }; done
# Debian programs for the whole-machine preload test (test dependencies).
if [ "$mode" = --tests ]; then
  for f in /usr/bin/sort /usr/bin/xz; do [ -x "$f" ] && files+=("$f"); done
fi
for f in "$build/tests/numa_tests" "$build/tests/hs_numa_probe" "$build/tests/hs_probe"; do
  [ "$mode" != --tests ] && [ -e "$f" ] && files+=("$f")
done
image="$lab/base.cpio.gz"
stale=0
[ -s "$image" ] || stale=1
for f in "${files[@]}" "$here/tests/numalab/init" "$0"; do [ "$f" -nt "$image" ] && stale=1; done
# An image made for another list of files (the NUMA set's, or make demo's) is stale too.
[ "$(cat "$image.files" 2>/dev/null)" = "${files[*]}" ] || stale=1
if [ $stale = 1 ]; then
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,proc,sys,dev,tmp,lab,root}
  # mktemp's 0700 would become the guest's /: programs of other users
  # (a setuid-to-nobody test) could not reach their libraries.
  chmod 0755 "$root" && chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  cp "$here/tests/numalab/init" "$root/init"
  chmod +x "$root/init"
  add_files "$root" "${files[@]}"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$image.new"
  mv "$image.new" "$image"
  echo "${files[*]}" > "$image.files"
  rm -rf "$root"
fi

# ---- this run's command, as a second initramfs the kernel unpacks on top ------
run_root=$(mktemp -d)
chmod 0755 "$run_root"
mkdir -p "$run_root/lab"
[ ${#extra[@]} -eq 0 ] || add_files "$run_root" "${extra[@]}"
case "$mode" in
  --tests)
    cat > "$run_root/lab/cmd" <<EOF
$build/tests/numa_tests --gtest_output=xml:/tmp/numa.xml ${LAB_GTEST_FILTER:+"--gtest_filter=$LAB_GTEST_FILTER"}
rc=\$?
if [ -s /tmp/numa.xml ]; then
  echo HS_LAB_XML_BEGIN
  cat /tmp/numa.xml
  echo HS_LAB_XML_END
fi
exit \$rc
EOF
    ;;
  --shell) echo "interactive" > "$run_root/lab/interactive" ;;
  *) printf '%q ' "$@" > "$run_root/lab/cmd" ;;
esac
cmd_image="$lab/cmd-$topo.cpio.gz"
(cd "$run_root" && find . | cpio -o -H newc --quiet | gzip -1) > "$cmd_image"
rm -rf "$run_root"
initrd="$lab/initrd-$topo.cpio.gz"
cat "$image" "$cmd_image" > "$initrd"

# ---- boot -------------------------------------------------------------------
numa=()
for ((n = 0; n < nodes; n++)); do
  first=$((n * cpus_per_node)); last=$((first + cpus_per_node - 1))
  numa+=(-object "memory-backend-ram,id=m$n,size=${mem_per_node}M"
         -numa "node,nodeid=$n,cpus=$first-$last,memdev=m$n")
done
machine=()
if [ "$far_nodes" != 0 ]; then
  # Memory-only nodes, each attached to node 0's CPUs as initiator, and an
  # HMAT latency/bandwidth entry for every CPU node and every node.
  machine=(-machine pc,hmat=on)
  for ((n = nodes; n < nodes + far_nodes; n++)); do
    numa+=(-object "memory-backend-ram,id=m$n,size=${far_mem}M" -numa "node,nodeid=$n,memdev=m$n,initiator=0")
  done
  for ((i = 0; i < nodes; i++)); do
    for ((t = 0; t < nodes + far_nodes; t++)); do
      if [ $t = $i ]; then lat=100 bw=20G; elif [ $t -lt $nodes ]; then lat=150 bw=15G; else lat=300 bw=8G; fi
      numa+=(-numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=access-latency,latency=$lat"
             -numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=access-bandwidth,bandwidth=$bw")
    done
  done
fi
qemu=(qemu-system-x86_64 "${machine[@]}" -accel "tcg,thread=${LAB_TCG_THREAD:-single}" -cpu max
      -m "$((nodes * mem_per_node + far_nodes * far_mem))M" -smp "$((nodes * cpus_per_node))"
      "${numa[@]}" -kernel "$cache/vmlinuz" -initrd "$initrd" -nographic -no-reboot -nic none
      -append "console=ttyS0 quiet panic=-1 rdinit=/init transparent_hugepage=madvise hs_nodes=$nodes hs_cpus_per_node=$cpus_per_node hs_far_nodes=$far_nodes")
if [ "$mode" = --shell ]; then
  echo "numalab: $nodes nodes x $cpus_per_node CPUs x ${mem_per_node} MiB; leave with 'poweroff -f' (or Ctrl-A x)" >&2
  exec "${qemu[@]}"
fi
log="$lab/console-$topo.log"
echo "numalab: booting $nodes nodes x $cpus_per_node CPUs x ${mem_per_node} MiB$([ "$far_nodes" = 0 ] || echo " + $far_nodes memory-only x $far_mem MiB") (TCG; console in $log)" >&2
set +e
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 | tr -d '\r' | tee "$log" |
  sed -u '/^HS_LAB_XML_BEGIN$/,/^HS_LAB_XML_END$/d'
qemu_rc=${PIPESTATUS[0]}
set -e
sed -n '/^HS_LAB_XML_BEGIN$/,/^HS_LAB_XML_END$/p' "$log" | sed '1d;$d' > "$lab/results-$topo.xml"
[ -s "$lab/results-$topo.xml" ] || rm -f "$lab/results-$topo.xml"
# (the firmware's terminal escapes may share the line when the command printed nothing)
rc=$(sed -n 's/^.*HS_LAB_EXIT=\([0-9]*\)$/\1/p' "$log" | tail -1)
if [ -z "$rc" ]; then
  if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    echo "numalab: the guest did not finish within ${timeout_s}s and was killed; last console lines:" >&2
  elif grep -q 'Kernel panic' "$log"; then
    echo "numalab: the guest kernel panicked before the command ended (its first oops: $(grep -m1 -o 'Oops: .*\|BUG: .*' "$log")); last console lines:" >&2
  else
    echo "numalab: the guest stopped without an exit status (qemu exit $qemu_rc); last console lines:" >&2
  fi
  tail -n 30 "$log" >&2
  exit 1
fi
exit "$rc"
