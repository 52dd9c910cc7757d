#!/usr/bin/env python3
"""make bench (allocator part): the small-object suite (bench/alloc.c) under
glibc, stock jemalloc, stock jemalloc with thp:always, mimalloc, TCMalloc, and
hugeshim with its defaults and with HUGESHIM_HEAP_THP=eager, side by side.

Every test runs at 1, 2 and all CPUs' threads (where it takes threads), for
ALLOC_RUNS rounds (default 7); in each round the variants run one after the
other in a new (seeded) order, so that no variant always runs first or after
the same one.  The table gives, per test and variant, the
median and the spread (min-median-max) of the throughput (millions of
malloc/free pairs per second; bigheap: millions of updates per second through
the objects; large: blocks per second), the median's ratio to stock jemalloc,
the median of the per-round ratios (each round runs a test's variants back to
back, so this one is blind to the host's drift between rounds), and the median
peak RSS.  The tests with a heap of hundreds of MiB (large, bigheap) run once
unmeasured under the same variant before each measured run (WARMED below).
Environment: ALLOC_RUNS, ALLOC_SCALE (work per run,
default 2: about a second per run), ALLOC_CPUS (the CPUs a test of n threads
runs on: the first n of them, so that a one-thread test always runs on the same
CPU; default: the CPUs this script may use), ALLOC_VARIANTS (names, space-separated), ALLOC_TESTS (e.g.
"wset:1 xthread:2"), ALLOC_OUT (where to save the table; default
build/bench/alloc-DATE-TIME.txt)."""
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(HERE, "build", "bench", "alloc")
LIB = os.path.join(HERE, "build", "libhugeshim.so")
LIBDIR = "/usr/lib/x86_64-linux-gnu"


def find_lib(name):
    path = os.path.join(LIBDIR, name)
    return path if os.path.exists(path) else None


def variants():
    je, mi, tc = find_lib("libjemalloc.so.2"), find_lib("libmimalloc.so.2"), find_lib("libtcmalloc_minimal.so.4")
    out = [("glibc", {})]
    if je:
        out += [("jemalloc", {"LD_PRELOAD": je}), ("jemalloc-thp", {"LD_PRELOAD": je, "MALLOC_CONF": "thp:always"})]
    if mi:
        out.append(("mimalloc", {"LD_PRELOAD": mi}))
    if tc:
        out.append(("tcmalloc", {"LD_PRELOAD": tc}))
    out += [("hugeshim", {"LD_PRELOAD": LIB}), ("hugeshim-eager", {"LD_PRELOAD": LIB, "HUGESHIM_HEAP_THP": "eager"})]
    pick = os.environ.get("ALLOC_VARIANTS", "").split()
    missing = [p for p in pick if p not in dict(out)]
    if missing:
        sys.exit("bench: ALLOC_VARIANTS names %s; known: %s" % (" ".join(missing), " ".join(n for n, _ in out)))
    return [(n, e) for n, e in out if not pick or n in pick]


def tests():
    cpus = os.cpu_count() or 1
    counts = sorted({1, 2, cpus})
    out = []
    for t in ("wset", "xthread", "mixed", "larson"):
        out += [(t, n) for n in counts if not (t == "xthread" and n < 2)]
    out += [("single", 1), ("large", 1), ("bigheap", 1)]
    pick = os.environ.get("ALLOC_TESTS", "").split()
    if pick:
        out = [(t, n) for t, n in out if "%s:%d" % (t, n) in pick]
        if not out:
            sys.exit("bench: ALLOC_TESTS picks none of the tests (names like wset:1, xthread:2, bigheap:1)")
    return out


def cpus():
    """The CPUs tests run on, in order (ALLOC_CPUS, e.g. "0,1" or "2-5")."""
    spec = os.environ.get("ALLOC_CPUS", "")
    if not spec:
        return sorted(os.sched_getaffinity(0))
    out = []
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        sys.exit("bench: ALLOC_CPUS=%s: expected CPU numbers and ranges, like 0,1 or 2-5" % spec)
    return out


# Tests whose heap is hundreds of MiB run once unmeasured, under the same
# variant, right before the measured run: every variant then starts from the
# memory its own kind of run left.  On a VM whose host takes back freed guest
# memory (virtio-balloon free page reporting, as on the development VM), memory
# last used as 4 KiB pages faults as 2 MiB pages about 15x slower than memory
# last used as 2 MiB pages (docs/benchmarks.md), so a randomised order alone
# charges a huge-page variant for the base-page variant that ran before it.
WARMED = ("large", "bigheap")


def run(test, threads, env, scale, on):
    e = dict(os.environ)
    e.update(env)
    # A test of n threads on the first n CPUs of the set: on a VM whose vCPUs
    # run at different speeds, a one-thread test would otherwise measure
    # where the scheduler put it.
    pin = set(on[:threads])
    r = subprocess.run([BIN, test, str(threads), str(scale)], env=e, capture_output=True, text=True, timeout=600,
                       preexec_fn=lambda: os.sched_setaffinity(0, pin))
    if r.returncode != 0:
        return None
    kv = dict(f.split("=", 1) for line in r.stdout.splitlines() if line.startswith("test=") for f in line.split())
    ops, secs = float(kv["ops"]), float(kv["seconds"])
    out = {test: ops / secs / 1e6 if test != "large" else ops / secs}
    if test == "bigheap":
        # The same run's allocation phase: millions of objects allocated per second.
        out["bigheap-fill"] = ops / 4 / float(kv["alloc_seconds"]) / 1e6
    return out, int(kv["rss_kb"]), int(kv["anon_huge_kb"])


def main():
    runs = int(os.environ.get("ALLOC_RUNS", "7"))
    scale = os.environ.get("ALLOC_SCALE", "2")
    vs, ts, on = variants(), tests(), cpus()
    if not os.path.exists(BIN):
        sys.exit("bench: %s is missing (make bench builds it)" % BIN)
    ts_out = [(t, n) for t, n in ts] + ([("bigheap-fill", 1)] if ("bigheap", 1) in ts else [])
    res = {(t, n, v): [] for t, n in ts_out for v, _ in vs}
    rss = {(t, n, v): [] for t, n in ts_out for v, _ in vs}
    huge = {(t, n, v): [] for t, n in ts_out for v, _ in vs}
    rounds = {(t, n, v): {} for t, n in ts_out for v, _ in vs}
    failed = set()
    for i in range(runs):
        # A new order every round (seeded: the same in every run of the
        # script), so that no variant always follows the same one.
        order = list(vs)
        random.Random(i).shuffle(order)
        for t, n in ts:
            for name, env in order:
                if t in WARMED:
                    run(t, n, env, scale, on)
                got = run(t, n, env, scale, on)
                if got is None:
                    failed.add((t, n, name))
                    continue
                for key, value in got[0].items():
                    res[(key, n, name)].append(value)
                    rounds[(key, n, name)][i] = value
                    rss[(key, n, name)].append(got[1])
                    huge[(key, n, name)].append(got[2])
        print("round %d of %d done" % (i + 1, runs), file=sys.stderr)
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    lines = [
        "machine: %s, %d CPUs, kernel %s; tests of n threads on CPUs %s (the first n)" % (
            model, os.cpu_count(), os.uname().release, ",".join(map(str, on))),
        "bench/alloc.py: %d rounds, variants alternating, ALLOC_SCALE=%s; throughput in millions per second "
        "(large: blocks per second), higher is better; min-median-max; ratio of medians to stock jemalloc; "
        "median of the per-round ratios (paired); median peak RSS" % (runs, scale),
        "",
        "| test | threads | variant | median | min-median-max | / jemalloc | paired | peak RSS MiB | huge pages MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t, n in ts_out:
        ref = res.get((t, n, "jemalloc")) or []
        refm = statistics.median(ref) if ref else None
        for v, _ in vs:
            xs = res[(t, n, v)]
            if not xs:
                lines.append("| %s | %d | %s | failed | | | | | |" % (t, n, v))
                continue
            m = statistics.median(xs)
            fmt = "%.1f" if m >= 10 else "%.2f"
            spread = "-".join(fmt % x for x in (min(xs), m, max(xs)))
            ratio = "%.2fx" % (m / refm) if refm else "-"
            mine, theirs = rounds[(t, n, v)], rounds[(t, n, "jemalloc")] if refm else {}
            pairs = [mine[r] / theirs[r] for r in mine if r in theirs and theirs[r] > 0]
            paired = "%.2fx" % statistics.median(pairs) if pairs else "-"
            hp = statistics.median(huge[(t, n, v)])
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %.0f | %s |" % (
                t, n, v, fmt % m, spread, ratio, paired, statistics.median(rss[(t, n, v)]) / 1024,
                "%.0f" % (hp / 1024) if hp >= 0 else "-"))
    if failed:
        lines.append("")
        lines.append("failed runs: " + ", ".join("%s:%d %s" % f for f in sorted(failed)))
    text = "\n".join(lines)
    print(text)
    out = os.environ.get("ALLOC_OUT") or os.path.join(HERE, "build", "bench",
                                                      time.strftime("alloc-%Y%m%d-%H%M%S.txt"))
    with open(out, "w") as f:
        f.write(text + "\n")
    print("saved: %s" % out, file=sys.stderr)


if __name__ == "__main__":
    main()
