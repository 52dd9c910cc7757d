#!/usr/bin/env bash
# make bench: glibc's malloc, glibc with its own THP tunable
# (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), the peers (stock jemalloc with
# MALLOC_CONF=thp:always, mimalloc with MIMALLOC_LARGE_OS_PAGES=1, TCMalloc,
# all Debian packages, preloaded), hugeshim none, hugeshim thp (its defaults:
# HUGESHIM_HEAP_THP=auto, dense without tracking), hugeshim thp with
# HUGESHIM_HEAP_THP=eager and hugeshim hugetlb side by side on two workloads (gups: one large array;
# smallobj: many small objects, BENCH_OBJECTS default 40000000), alternating A B C D for RUNS rounds so
# that machine noise hits every variant alike; prints medians and ratios to
# glibc.  BENCH_SIZE (default 4G), BENCH_UPDATES (default 200000000),
# BENCH_RUNS (default 5).  The hugetlb pool is reserved for the run and
# restored on exit; without root the hugetlb variant is left out.
# First touch is measured twice per variant and round: warm (the same size
# touched and freed under the same allocator right before, as for the update
# runs) and cold (after
# BENCH_COLD_IDLE seconds idle, default 5, long enough for a VM to hand
# freed memory back to its host).  BENCH_ONLY=gups|smallobj runs one workload;
# BENCH_VARIANTS (space-separated names) runs only those variants.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
size=${BENCH_SIZE:-4G}
updates=${BENCH_UPDATES:-200000000}
runs=${BENCH_RUNS:-5}
lib="$build/libhugeshim.so"
gups="$build/bench/gups"
out="$build/bench/results-$(date +%Y%m%d-%H%M%S).txt"

bytes=$(numfmt --from=iec "$size")
. "$here/bench/lib.sh"
libdir=/usr/lib/x86_64-linux-gnu
variants=(glibc glibc-thp)
[ -e "$libdir/libjemalloc.so.2" ] && variants+=(jemalloc-thp)
[ -e "$libdir/libmimalloc.so.2" ] && variants+=(mimalloc-large)
[ -e "$libdir/libtcmalloc_minimal.so.4" ] && variants+=(tcmalloc)
variants+=(none thp eager)
# BENCH_VARIANTS="glibc thp eager" runs only those (glibc stays: the ratios are to it).
if [ -n "${BENCH_VARIANTS:-}" ]; then
  keep=(glibc)
  for v in "${variants[@]}"; do [[ " $BENCH_VARIANTS " == *" $v "* && $v != glibc ]] && keep+=("$v"); done
  variants=("${keep[@]}")
fi
[[ -z "${BENCH_VARIANTS:-}" || " $BENCH_VARIANTS " == *" hugetlb "* ]] && reserve_pool "$bytes" && variants+=(hugetlb)

cold_idle=${BENCH_COLD_IDLE:-5}

# run_variant VARIANT PROGRAM ARGS...: the program under that allocator.
run_variant() {
  local v=$1; shift
  case $v in
    glibc) "$@" ;;
    glibc-thp) GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$@" ;;
    jemalloc-thp) LD_PRELOAD="$libdir/libjemalloc.so.2" MALLOC_CONF=thp:always,metadata_thp:auto "$@" ;;
    mimalloc-large) LD_PRELOAD="$libdir/libmimalloc.so.2" MIMALLOC_LARGE_OS_PAGES=1 "$@" ;;
    tcmalloc) LD_PRELOAD="$libdir/libtcmalloc_minimal.so.4" "$@" ;;
    eager) LD_PRELOAD="$lib" HUGESHIM_HEAP_THP=eager "$@" ;;
    *) LD_PRELOAD="$lib" HUGESHIM_BACKING="$v" "$@" ;;
  esac
}

# side_by_side TIME_KEY TIME_LABEL DESCRIPTION PROGRAM ARGS...: every variant in
# turn for $runs rounds; one table of medians and ratios to glibc.  Each
# round also takes the time cold: the program with no updates after
# $cold_idle s idle.
side_by_side() {
  local key=$1 label=$2 desc=$3; shift 3
  local -A tm cold mups hwm
  local round v res t c m h
  local -a cold_cmd=("$@")
  cold_cmd[2]=0 # no updates: the time to allocate and touch is all it measures
  for round in $(seq 1 "$runs"); do
    for v in "${variants[@]}"; do
      sleep "$cold_idle"
      c=$(run_variant "$v" "${cold_cmd[@]}" | sed -n "s/^$key=//p")
      # The same history for every variant: on a VM whose host takes back
      # freed memory, first-touch times depend on what ran before (memory last
      # used as 4 KiB pages faults about 15x slower as 2 MiB pages:
      # docs/benchmarks.md).  Touch and free the same size under the same
      # allocator right before each run (warm).
      run_variant "$v" "$gups" "$size" 0 >/dev/null
      res=$(run_variant "$v" "$@")
      t=$(sed -n "s/^$key=//p" <<<"$res"); m=$(sed -n 's/^mups=//p' <<<"$res"); h=$(sed -n 's/^vmhwm_kb=//p' <<<"$res")
      tm[$v]="${tm[$v]:-} $t"; cold[$v]="${cold[$v]:-} $c"; mups[$v]="${mups[$v]:-} $m"; hwm[$v]="${hwm[$v]:-} $h"
      printf 'round %d %-9s %s %6.2f s warm, %6.2f s cold  %6.2f M updates/s  peak RSS %d MiB\n' "$round" "$v" \
        "$label" "$t" "$c" "$m" $((h / 1024)) >&2
    done
  done
  echo "workload: $desc, $runs rounds alternating ${variants[*]}; medians; cold: after ${cold_idle} s idle"
  printf '%-16s %11s %6s %11s %6s %11s %6s %12s\n' variant "${label}_warm" ratio "${label}_cold" ratio Mupdates/s ratio \
    peak_RSS_MiB
  local base_t base_c base_m name
  base_t=$(median <<<"${tm[glibc]}"); base_c=$(median <<<"${cold[glibc]}"); base_m=$(median <<<"${mups[glibc]}")
  for v in "${variants[@]}"; do
    t=$(median <<<"${tm[$v]}"); c=$(median <<<"${cold[$v]}"); m=$(median <<<"${mups[$v]}"); h=$(median <<<"${hwm[$v]}")
    name=$v
    case $v in none|thp|eager|hugetlb) name="hugeshim $v" ;; esac
    awk -v n="$name" -v f="$t" -v bf="$base_t" -v c="$c" -v bc="$base_c" -v m="$m" -v bm="$base_m" -v h="$h" \
      'BEGIN { printf "%-16s %11.2f %6.2f %11.2f %6.2f %11.2f %6.2f %12d\n", n, f, f / bf, c, c / bc, m, m / bm, h / 1024 }'
  done
}

objects=${BENCH_OBJECTS:-40000000}
{
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)"
  if [ "${BENCH_ONLY:-gups}" = gups ]; then
    side_by_side first_touch_s first_touch "gups $size array, $updates random updates" "$gups" "$size" "$updates"
  fi
  if [ "${BENCH_ONLY:-smallobj}" = smallobj ]; then
    side_by_side alloc_s alloc "smallobj $objects objects of 48 bytes, $updates random updates" \
      "$build/bench/smallobj" "$objects" "$updates"
  fi
} | tee "$out"
echo "(saved in $out)"
