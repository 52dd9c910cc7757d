#!/usr/bin/env bash
# make bench: glibc's malloc, glibc with its own THP tunable
# (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), hugeshim none, hugeshim thp and
# hugeshim hugetlb side by side on the same workload, alternating A B C D for RUNS rounds so
# that machine noise hits every variant alike; prints medians and ratios to
# glibc.  BENCH_SIZE (default 4G), BENCH_UPDATES (default 200000000),
# BENCH_RUNS (default 5).  The hugetlb pool is reserved for the run and
# restored on exit; without root the hugetlb variant is left out.
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
variants=(glibc glibc-thp none thp)
reserve_pool "$bytes" && variants+=(hugetlb)

declare -A ft mups hwm
for round in $(seq 1 "$runs"); do
  for v in "${variants[@]}"; do
    if [ "$v" = glibc ]; then
      res=$("$gups" "$size" "$updates")
    elif [ "$v" = glibc-thp ]; then
      res=$(GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$gups" "$size" "$updates")
    else
      res=$(LD_PRELOAD="$lib" HUGESHIM_BACKING="$v" "$gups" "$size" "$updates")
    fi
    f=$(sed -n 's/^first_touch_s=//p' <<<"$res"); m=$(sed -n 's/^mups=//p' <<<"$res"); h=$(sed -n 's/^vmhwm_kb=//p' <<<"$res")
    ft[$v]="${ft[$v]:-} $f"; mups[$v]="${mups[$v]:-} $m"; hwm[$v]="${hwm[$v]:-} $h"
    printf 'round %d %-8s first_touch %6.2f s  %6.2f M updates/s  peak RSS %d MiB\n' "$round" "$v" "$f" "$m" $((h / 1024)) >&2
  done
done

{
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)"
  echo "workload: gups $size array, $updates random updates, $runs rounds alternating ${variants[*]}; medians"
  printf '%-16s %14s %8s %14s %8s %14s\n' variant first_touch_s ratio Mupdates/s ratio peak_RSS_MiB
  base_ft=$(median <<<"${ft[glibc]}"); base_m=$(median <<<"${mups[glibc]}")
  for v in "${variants[@]}"; do
    f=$(median <<<"${ft[$v]}"); m=$(median <<<"${mups[$v]}"); h=$(median <<<"${hwm[$v]}")
    name=$v; [ "${v#glibc}" = "$v" ] && name="hugeshim $v"
    awk -v n="$name" -v f="$f" -v bf="$base_ft" -v m="$m" -v bm="$base_m" -v h="$h" \
      'BEGIN { printf "%-16s %14.2f %8.2f %14.2f %8.2f %14d\n", n, f, f / bf, m, m / bm, h / 1024 }'
  done
} | tee "$out"
echo "(saved in $out)"
