#!/bin/sh
# Runs inside the NUMA lab (bench/numa.sh starts it): each scenario under the
# four variants, alternating, ROUNDS times; one RESULT line per run.
#   numa-guest.sh LIB PROBE SECONDS ROUNDS
lib=$1 probe=$2 secs=${3:-20} rounds=${4:-1}
for round in $(seq 1 "$rounds"); do
  for scenario in "a 2048 contig:102 node1" "b 1024 every:10 node1" "c 1024 contig:256 halves" \
                  "d 512 every:10 node1-read" "e 512 every:10 mixed"; do
    set -- $scenario
    for variant in neither autonuma hugeshim both; do
      case $variant in
        neither|hugeshim) echo 0 > /proc/sys/kernel/numa_balancing ;;
        *) echo 1 > /proc/sys/kernel/numa_balancing ;;
      esac
      case $variant in
        hugeshim|both) migrate=on ;;
        *) migrate=off ;;
      esac
      report=/tmp/bench-$variant.json
      out=$(LD_PRELOAD=$lib HUGESHIM_MIGRATE=$migrate HUGESHIM_STATS=$report "$probe" numa-bench "$2" "$3" "$4" "$secs" | tr '\n' ' ')
      cpu=$(sed -n 's/.*"scan_cpu_ns_total": \([0-9]*\).*/\1/p' "$report" | head -1)
      tick=$(sed -n 's/.*"tick_cpu_ns_total": \([0-9]*\).*/\1/p' "$report" | head -1)
      cpu=$((${cpu:-0} + ${tick:-0}))
      wp=$(sed -n 's/.*"wp_cpu_ns_total": \([0-9]*\).*/\1/p' "$report" | head -1)
      echo "RESULT round=$round scenario=$1 variant=$variant $out tracking_cpu_ns=${cpu:-0} fault_cpu_ns=${wp:-0}"
      echo 3 > /proc/sys/vm/drop_caches
    done
  done
done
echo 0 > /proc/sys/kernel/numa_balancing
