#!/usr/bin/env bash
# make bench (tracking part): the random-access workload with tracking off, with
# PAGEMAP_SCAN, and with placement forced on (HUGESHIM_MIGRATE=on: tracking
# auto, i.e. uffd_sync for THP, and the migrator's queries every epoch), 1 s
# epochs, alternating, per backing; the slowdown, and the epoch cost per GiB
# watched (from the report's tracking.* counters).
# TRACK_SIZE (default 2G), TRACK_UPDATES (default 300000000), TRACK_RUNS (5).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
size=${TRACK_SIZE:-2G}
updates=${TRACK_UPDATES:-300000000}
runs=${TRACK_RUNS:-5}
lib="$build/libhugeshim.so"
gups="$build/bench/gups"
bytes=$(numfmt --from=iec "$size")
. "$here/bench/lib.sh"
backings=(none thp)
reserve_pool "$bytes" && backings+=(hugetlb)
report=$(mktemp --suffix=.json)
declare -A mups cost
for round in $(seq 1 "$runs"); do
  for b in "${backings[@]}"; do
    for t in off pagemap_scan placement; do
      if [ "$t" = placement ]; then
        res=$(LD_PRELOAD="$lib" HUGESHIM_BACKING="$b" HUGESHIM_MIGRATE=on HUGESHIM_INTERVAL_MS=1000 \
              HUGESHIM_STATS="$report" "$gups" "$size" "$updates")
      else
        res=$(LD_PRELOAD="$lib" HUGESHIM_BACKING="$b" HUGESHIM_TRACK="$t" HUGESHIM_INTERVAL_MS=1000 \
              HUGESHIM_STATS="$report" "$gups" "$size" "$updates")
      fi
      m=$(sed -n 's/^mups=//p' <<<"$res")
      mups[$b/$t]="${mups[$b/$t]:-} $m"
      if [ "$t" != off ]; then
        c=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["tracking"]; e=max(j["epochs"],1); g=max(j["tracked_bytes"],1)/2**30; print("%.3f %d %.2f %.3f" % (j["scan_ns_total"]/e/1e6/g, j["epochs"], g, (j["scan_cpu_ns_total"]+j.get("tick_cpu_ns_total",0)+j.get("wp_cpu_ns_total",0))/e/1e6/g))' "$report")
        cost[$b/$t]="${cost[$b/$t]:-}|$c"
      fi
      printf 'round %d %-8s track=%-13s %6.2f M updates/s\n' "$round" "$b" "$t" "$m" >&2
    done
  done
done
rm -f "$report"
echo "tracking cost: gups $size, $updates updates, 1 s epochs, $runs rounds alternating off/on; medians"
printf '%-10s %-13s %12s %12s %9s %14s %14s %10s\n' backing tracking off_Mups/s on_Mups/s slowdown epoch_ms/GiB cpu_ms/GiB GiB_watched
for b in "${backings[@]}"; do
  for t in pagemap_scan placement; do
    off=$(median <<<"${mups[$b/off]}"); on=$(median <<<"${mups[$b/$t]}")
    per=$(tr '|' '\n' <<<"${cost[$b/$t]}" | awk 'NF {print $1}' | median)
    gib=$(tr '|' '\n' <<<"${cost[$b/$t]}" | awk 'NF {print $3}' | median)
    cpu=$(tr '|' '\n' <<<"${cost[$b/$t]}" | awk 'NF {print $4}' | median)
    awk -v b="$b" -v t="$t" -v off="$off" -v on="$on" -v per="$per" -v gib="$gib" -v cpu="$cpu" \
      'BEGIN { printf "%-10s %-13s %12.2f %12.2f %8.1f%% %14.3f %14.3f %10.2f\n", b, t, off, on, (1 - on / off) * 100, per, cpu, gib }'
  done
done
echo "cpu_ms/GiB: hugeshim's threads (epoch thread, its ticks included, + uffd_sync fault thread) per 1 s epoch per GiB watched; 10 ms is 1% of one CPU."
