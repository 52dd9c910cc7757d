#!/usr/bin/env bash
# make bench (malloc part): stress-ng's malloc stressor (malloc, calloc,
# realloc and free of random sizes over 65536 slots), bogo ops per second,
# under glibc, stock jemalloc, stock jemalloc with MALLOC_CONF=thp:always, and
# hugeshim with its defaults (HUGESHIM_HEAP_THP=auto: dense here), with
# HUGESHIM_HEAP_THP=eager, with HUGESHIM_HEAP_MEDIUM=base and with `none`; alternating for MALLOC_RUNS rounds (default 3), medians and ratios
# to stock jemalloc.  Each variant runs twice per round: cold, after
# MALLOC_COLD_IDLE seconds idle (default 8: a VM's host may take freed memory
# back, and zeroing it again is slow), and warm, right after.  Two sizes:
# stress-ng's default (objects up to 64 KiB: the small and medium paths) and
# MALLOC_BIG_BYTES (default 1G: objects of hundreds of MiB, each freed one
# returned to the kernel and faulted again); MALLOC_SIZES picks them ("default
# 1G" by default, 1G being MALLOC_BIG_BYTES); MALLOC_VARIANTS picks variants.
# The last column is the median peak RSS of the stressor's worker over all
# runs of a variant, cold and warm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lib="$here/build/libhugeshim.so"
runs=${MALLOC_RUNS:-3}
idle=${MALLOC_COLD_IDLE:-8}
secs=${MALLOC_SECONDS:-4}
big=${MALLOC_BIG_BYTES:-1G}
sizes_list=${MALLOC_SIZES:-default $big}
. "$here/bench/lib.sh"

command -v stress-ng >/dev/null || { echo "bench: stress-ng is missing (scripts/deps.sh bench installs it)" >&2; exit 1; }
je=$(ldconfig -p | awk '/libjemalloc\.so\.2 /{print $NF; exit}')
variants=(glibc)
[ -n "$je" ] && variants+=(jemalloc jemalloc-thp)
variants+=(hugeshim hugeshim-eager hugeshim-medium-base hugeshim-none)
# MALLOC_VARIANTS picks some of them (stock jemalloc stays the reference when present).
[ -n "${MALLOC_VARIANTS:-}" ] && read -r -a variants <<<"$MALLOC_VARIANTS"

ops() { # VARIANT STRESS-NG-ARGS...: "OPS RSS_MB": bogo ops/s (real time) of the
  # malloc stressor, and the peak RSS (VmHWM) of its worker processes, polled
  # every 0.2 s (stress-ng ends its workers with _exit: nothing else sees it)
  local v=$1; shift
  local -a env=()
  case $v in
    jemalloc) env=(LD_PRELOAD="$je") ;;
    jemalloc-thp) env=(LD_PRELOAD="$je" MALLOC_CONF=thp:always) ;;
    hugeshim) env=(LD_PRELOAD="$lib") ;;
    hugeshim-eager) env=(LD_PRELOAD="$lib" HUGESHIM_HEAP_THP=eager) ;;
    hugeshim-dense) env=(LD_PRELOAD="$lib" HUGESHIM_HEAP_THP=dense) ;;
    hugeshim-medium-base) env=(LD_PRELOAD="$lib" HUGESHIM_HEAP_MEDIUM=base) ;;
    hugeshim-none) env=(LD_PRELOAD="$lib" HUGESHIM_BACKING=none) ;;
  esac
  local out; out=$(mktemp)
  env "${env[@]}" stress-ng --malloc 1 -t "$secs" --metrics-brief "$@" >"$out" 2>&1 &
  local top=$! peak=0 p h
  while kill -0 "$top" 2>/dev/null; do
    for p in $(pgrep -P "$top"; pgrep -f 'stress-ng-malloc'); do
      h=$(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null)
      [ -n "$h" ] && [ "$h" -gt "$peak" ] && peak=$h
    done
    sleep 0.2
  done
  wait "$top" || true
  echo "$(awk '$4 == "malloc" && $5 ~ /^[0-9]+$/ {print $(NF-1)}' "$out") $((peak / 1024))"
  rm -f "$out"
}

echo "machine: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(nproc) CPUs, kernel $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)"
for sizes in $sizes_list; do
  args=()
  [ "$sizes" != default ] && args=(--malloc-bytes "$sizes")
  declare -A cold=() warm=() rss=()
  for ((i = 0; i < runs; i++)); do
    for v in "${variants[@]}"; do
      sleep "$idle"
      read -r o r <<<"$(ops "$v" "${args[@]}")"
      cold[$v]+="$o "; rss[$v]+="$r "
      read -r o r <<<"$(ops "$v" "${args[@]}")"
      warm[$v]+="$o "; rss[$v]+="$r "
    done
  done
  ref=${cold[jemalloc]:-${cold[glibc]}}
  refw=${warm[jemalloc]:-${warm[glibc]}}
  ref=$(echo "$ref" | median); refw=$(echo "$refw" | median)
  echo "stress-ng --malloc 1 -t $secs${args[*]:+ ${args[*]}}: $runs rounds alternating ${variants[*]}, each cold (after $idle s idle) then warm; medians, ratios to $([ -n "$je" ] && echo stock jemalloc || echo glibc)"
  printf '%-20s %12s %7s %12s %7s %12s\n' variant cold_ops/s ratio warm_ops/s ratio peak_RSS_MiB
  for v in "${variants[@]}"; do
    c=$(echo "${cold[$v]}" | median); w=$(echo "${warm[$v]}" | median); m=$(echo "${rss[$v]}" | median)
    awk -v n="$v" -v c="$c" -v w="$w" -v rc="$ref" -v rw="$refw" -v m="$m" \
      'BEGIN { printf "%-20s %12.0f %7.2f %12.0f %7.2f %12.0f\n", n, c, (rc > 0) ? c / rc : 0, w, (rw > 0) ? w / rw : 0, m }'
  done
  unset cold warm rss
done
