#!/usr/bin/env bash
# make bench (sites part): what HUGESHIM_SITES costs.  Variants, alternating
# for SITES_RUNS rounds (default 3), THP backing:
#   before   libhugeshim.so built from SITES_BASE_REV (default 9a4bbfc, the
#            last commit without the sampler): the allocation path before
#   off      this build, HUGESHIM_SITES=0 (the default)
#   sampling HUGESHIM_SITES=1 HUGESHIM_TRACK=off: the sampler alone
#   sites    HUGESHIM_SITES=1: the sampler, tracking auto (uffd_sync on THP,
#            as root) and the per-epoch attribution, 1 s epochs
# on mloop (100 M malloc/free pairs of 16-256 bytes: the allocation path
# alone), smallobj (SITES_OBJECTS, default 20000000 objects of 48 bytes) and
# gups (SITES_SIZE, default 2G: one large array).  Medians and ratios to `off`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
runs=${SITES_RUNS:-3}
objects=${SITES_OBJECTS:-20000000}
size=${SITES_SIZE:-2G}
updates=${SITES_UPDATES:-200000000}
rev=${SITES_BASE_REV:-9a4bbfc}
lib="$build/libhugeshim.so"
. "$here/bench/lib.sh"

variants=(off sampling sites)
base="$build/bench/base-$rev"
if [ ! -e "$base/build/libhugeshim.so" ] && git -C "$here" cat-file -e "$rev^{commit}" 2>/dev/null; then
  echo "bench: building libhugeshim.so at $rev for the 'before' variant" >&2
  rm -rf "$base" && mkdir -p "$base"
  git -C "$here" archive "$rev" | tar -x -C "$base"
  make -C "$base" -s build/libhugeshim.so >/dev/null 2>&1 || rm -rf "$base"
fi
[ -e "$base/build/libhugeshim.so" ] && variants=(before "${variants[@]}")

declare -A t1 m1
run_variant() { # VARIANT PROGRAM ARGS...
  local v=$1; shift
  case $v in
    before) LD_PRELOAD="$base/build/libhugeshim.so" "$@" ;;
    off) LD_PRELOAD="$lib" "$@" ;;
    sampling) LD_PRELOAD="$lib" HUGESHIM_SITES=1 HUGESHIM_TRACK=off "$@" ;;
    sites) LD_PRELOAD="$lib" HUGESHIM_SITES=1 "$@" ;;
  esac
}
bench_one() { # NAME TIME_KEY PROGRAM ARGS...
  local name=$1 key=$2; shift 2
  local round v res
  for round in $(seq 1 "$runs"); do
    for v in "${variants[@]}"; do
      # The same history before every run (mloop touches little memory).
      [ "$name" = mloop ] || "$build/bench/gups" "$size" 0 >/dev/null
      res=$(run_variant "$v" "$@")
      t1[$name/$v]="${t1[$name/$v]:-} $(sed -n "s/^$key=//p" <<<"$res")"
      m1[$name/$v]="${m1[$name/$v]:-} $(sed -n 's/^mups=//p' <<<"$res")"
      printf 'round %d %-6s %-9s %s\n' "$round" "$name" "$v" "$(tr '\n' ' ' <<<"$res")" >&2
    done
  done
}
bench_one mloop ns_per_pair "$build/bench/mloop" 100000000
bench_one smallobj alloc_s "$build/bench/smallobj" "$objects" "$updates"
bench_one gups first_touch_s "$build/bench/gups" "$size" "$updates"
echo "sites cost: THP backing, $runs rounds alternating ${variants[*]}; medians, ratios to off"
printf '%-9s %-9s %10s %8s %12s %8s\n' workload variant time_s ratio Mupdates/s ratio
for w in mloop smallobj gups; do
  bt=$(median <<<"${t1[$w/off]}"); bm=$(median <<<"${m1[$w/off]}")
  for v in "${variants[@]}"; do
    t=$(median <<<"${t1[$w/$v]}"); m=$(median <<<"${m1[$w/$v]}")
    awk -v w="$w" -v v="$v" -v t="$t" -v bt="$bt" -v m="${m:-0}" -v bm="${bm:-0}" \
      'BEGIN { if (bm > 0) printf "%-9s %-9s %10.2f %8.3f %12.2f %8.3f\n", w, v, t, t / bt, m, m / bm;
               else printf "%-9s %-9s %10.2f %8.3f %12s %8s\n", w, v, t, t / bt, "-", "-" }'
  done
done
echo "time_s: mloop ns per malloc/free pair, smallobj allocation s, gups first touch s; Mupdates/s: random updates after."
