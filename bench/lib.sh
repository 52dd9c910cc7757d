# bench/lib.sh: shared by the benchmark scripts (sourced, not run).

# reserve_pool BYTES: reserve 2 MiB hugetlb pages for an array of BYTES for
# this script's lifetime (restored on exit).  jemalloc asks for the next size
# class above the array (up to 1.25x).  Returns 0 when the pool holds them;
# without root, or when the kernel cannot find the pages, says so and returns 1.
reserve_pool() {
  hs_pool_knob=/proc/sys/vm/nr_hugepages
  hs_pool_saved=$(cat "$hs_pool_knob")
  if [ "$(id -u)" != 0 ]; then
    echo "bench: not root: the hugetlb variant needs a reserved pool (hugeshim doctor shows how)" >&2
    return 1
  fi
  trap 'echo "$hs_pool_saved" > "$hs_pool_knob"' EXIT
  local want=$(( $1 * 5 / 4 / 2097152 + 64 ))
  echo $(( hs_pool_saved + want )) > "$hs_pool_knob"
  if [ "$(cat "$hs_pool_knob")" -lt $(( hs_pool_saved + want )) ]; then
    echo "bench: could reserve only $(cat "$hs_pool_knob") of $((hs_pool_saved + want)) 2 MiB pages: hugetlb left out" >&2
    return 1
  fi
}

# median: the median of the numbers on standard input (spaces or newlines).
median() {
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
