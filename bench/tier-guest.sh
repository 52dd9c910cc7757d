#!/bin/sh
# Runs inside the NUMA lab (bench/tier.sh starts it): a hot set that shifts
# over a heap larger than the fast nodes, read and written, under each
# variant, alternating, ROUNDS times; one RESULT line per run.
#   tier-guest.sh LIB PROBE MIB PHASES SECONDS_PER_PHASE ROUNDS
lib=$1 probe=$2 mib=$3 phases=$4 per=$5 rounds=${6:-1}
vm() { sed -n "s/^$1 //p" /proc/vmstat; }
for round in $(seq 1 "$rounds"); do
  for access in write read; do
    for variant in none kernel hugeshim both; do
      case $variant in
        none|hugeshim) echo 0 > /proc/sys/kernel/numa_balancing; echo false > /sys/kernel/mm/numa/demotion_enabled ;;
        *) echo 2 > /proc/sys/kernel/numa_balancing; echo true > /sys/kernel/mm/numa/demotion_enabled ;;
      esac
      case $variant in
        hugeshim|both) tier=auto ;;
        *) tier=off ;;
      esac
      report=/tmp/bench-tier-$variant.json
      p0=$(vm pgpromote_success) d0=$(($(vm pgdemote_kswapd) + $(vm pgdemote_direct))) m0=$(vm pgmigrate_success)
      # The same heap (hugeshim's THP heap) in every variant; only tiering differs.
      out=$(LD_PRELOAD=$lib HS_PROBE_WALL=1 HUGESHIM_TIER=$tier HUGESHIM_MIGRATE=off HUGESHIM_STATS=$report \
            "$probe" tier-shift "$mib" 10 "$access" "$phases" "$per" | grep -v '_epoch_' | tr '\n' ' ')
      p1=$(vm pgpromote_success) d1=$(($(vm pgdemote_kswapd) + $(vm pgdemote_direct))) m1=$(vm pgmigrate_success)
      cpu=$(sed -n 's/.*"scan_cpu_ns_total": \([0-9]*\).*/\1/p' "$report" | head -1)
      wp=$(sed -n 's/.*"wp_cpu_ns_total": \([0-9]*\).*/\1/p' "$report" | head -1)
      up=$(sed -n '/"promoted"/,/}/s/.*"bytes": \([0-9]*\).*/\1/p' "$report" | head -1)
      down=$(sed -n '/"demoted"/,/}/s/.*"bytes": \([0-9]*\).*/\1/p' "$report" | head -1)
      echo "RESULT round=$round access=$access variant=$variant $out kernel_promoted=$((p1 - p0))" \
           "kernel_demoted=$((d1 - d0)) pgmigrate=$((m1 - m0)) hs_promoted_bytes=${up:-0} hs_demoted_bytes=${down:-0}" \
           "tracking_cpu_ns=${cpu:-0} fault_cpu_ns=${wp:-0}"
      echo 3 > /proc/sys/vm/drop_caches
    done
  done
done
echo 0 > /proc/sys/kernel/numa_balancing
echo false > /sys/kernel/mm/numa/demotion_enabled
