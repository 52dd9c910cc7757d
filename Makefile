# hugeshim: `make` builds build/libhugeshim.so and build/hugeshim.
# `make demo`, `make test`, `make bench` install missing Debian packages first.
VERSION   := 0.1.0
BUILD     := build
PREFIX    ?= /usr/local
CC        ?= gcc
CXX       ?= g++
JEMALLOC_PIC ?= /usr/lib/x86_64-linux-gnu/libjemalloc_pic.a

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
LIBDIR    ?= $(PREFIX)/lib
MANDIR    ?= $(PREFIX)/share/man

WARN      := -Wall -Wextra -Wshadow
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -fPIC -fvisibility=hidden -fno-plt $(WARN) -DHS_VERSION='"$(VERSION)"' -DHS_MULTIARCH='"$(MULTIARCH)"'
CXXFLAGS  ?= -O2 -g
CXXFLAGS  += -std=gnu++17 $(WARN) -DHS_MULTIARCH='"$(MULTIARCH)"' -DHS_BUILD_DIR='"$(abspath $(BUILD))"' -DHS_SOURCE_DIR='"$(abspath .)"'

OS_SRC        := os/mem.c os/proc.c os/probe.c os/numa.c os/track.c os/fault.c
COMMON_SRC    := common/options.c common/config.c common/report.c common/log.c common/trace_format.c common/thread.c common/kinds.c common/vmguard.c
ALLOCATOR_SRC := allocator/registry.c allocator/backing.c allocator/large.c allocator/early.c allocator/forkguard.c allocator/hugify.c allocator/listener.c allocator/peak.c
TRACK_SRC     := track/heat.c track/tracker.c track/epoch.c track/uffd_sync.c track/park.c track/pagemap_scan.c track/softdirty.c
PLACE_SRC     := place/where.c place/migrate.c place/tier.c
OBSERVE_SRC   := observe/sites.c observe/symbols.c observe/trace.c
SHIM_SRC      := shim/init.c shim/malloc.c shim/cxx.c shim/mmap.c shim/guard.c shim/report.c
PLAN_SRC      := shim/plan.c
CORE_SRC      := $(OS_SRC) $(COMMON_SRC) $(ALLOCATOR_SRC) $(TRACK_SRC) $(PLACE_SRC) $(OBSERVE_SRC) $(PLAN_SRC)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ := $(call obj,$(CORE_SRC))
SHIM_OBJ := $(call obj,$(SHIM_SRC) allocator/heap.c)
TOOL_OBJ := $(call obj,tools/hugeshim.c tools/doctor.c tools/stats.c tools/metrics.c tools/pool.c tools/elf.c tools/heatmap.c)

LIB      := $(BUILD)/libhugeshim.so
LAUNCHER := $(BUILD)/hugeshim
JE_LIB   := $(BUILD)/jemalloc/libhsje.a

.PHONY: all deps install deb man demo test compat lint test-deps test-unit test-integration test-numa numalab bench bench-numa bench-tier clean readme
all: $(LIB) $(LAUNCHER) man

deps:
	@scripts/deps.sh build

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# jemalloc's public names become hs_je_* so that only shim/ defines malloc,
# and its memory calls go to raw system calls, never to our mmap interposer.
$(JE_LIB): $(JEMALLOC_PIC) allocator/jemalloc.syms
	@mkdir -p $(dir $@)
	objcopy --redefine-syms=allocator/jemalloc.syms $(JEMALLOC_PIC) $@

$(JEMALLOC_PIC):
	@scripts/deps.sh build

$(BUILD)/libhscore.a: $(CORE_OBJ)
	ar rcs $@ $^

$(LIB): $(SHIM_OBJ) $(BUILD)/libhscore.a $(JE_LIB) shim/hugeshim.map Makefile
	$(CC) -shared -o $@ $(SHIM_OBJ) -Wl,--whole-archive $(BUILD)/libhscore.a -Wl,--no-whole-archive $(JE_LIB) \
	    -Wl,--version-script=shim/hugeshim.map -Wl,-soname,libhugeshim.so.0 -Wl,-z,defs -Wl,-z,now -lnuma -lpthread -ldl -lm

$(LAUNCHER): $(TOOL_OBJ) $(BUILD)/libhscore.a
	$(CC) -o $@ $(TOOL_OBJ) $(BUILD)/libhscore.a -ljansson -lcairo $(CORE_LIBS)

# Man pages: hugeshim(7)'s option list comes from the launcher, so it is the
# option table of this build (docs/man/README.md).
MAN := $(BUILD)/man/hugeshim.1 $(BUILD)/man/hugeshim.7 $(BUILD)/man/libhugeshim.3
man: $(MAN)

$(BUILD)/man/%: docs/man/% Makefile
	@mkdir -p $(dir $@)
	sed -e 's/@VERSION@/$(VERSION)/g' -e 's/@MULTIARCH@/$(MULTIARCH)/g' $< > $@

$(BUILD)/man/hugeshim.7: docs/man/hugeshim.7.in $(LAUNCHER) Makefile
	@mkdir -p $(dir $@)
	$(LAUNCHER) options --man > $@.options
	sed -e 's/@VERSION@/$(VERSION)/g' -e 's/@MULTIARCH@/$(MULTIARCH)/g' -e '/^@OPTIONS@$$/{r $@.options' -e 'd}' $< > $@
	rm -f $@.options

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/include
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(LAUNCHER) $(DESTDIR)$(PREFIX)/bin/hugeshim
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libhugeshim.so.0
	ln -sf libhugeshim.so.0 $(DESTDIR)$(LIBDIR)/libhugeshim.so
	install -m 0644 shim/hugeshim.h $(DESTDIR)$(PREFIX)/include/hugeshim.h
	install -m 0644 $(BUILD)/man/hugeshim.1 $(DESTDIR)$(MANDIR)/man1/hugeshim.1
	install -m 0644 $(BUILD)/man/libhugeshim.3 $(DESTDIR)$(MANDIR)/man3/libhugeshim.3
	install -m 0644 $(BUILD)/man/hugeshim.7 $(DESTDIR)$(MANDIR)/man7/hugeshim.7

# The Debian package build/hugeshim_$(VERSION)_<arch>.deb (scripts/deb.sh).
deb: all
	@scripts/deps.sh deb
	@VERSION=$(VERSION) MULTIARCH=$(MULTIARCH) BUILD=$(BUILD) scripts/deb.sh

# ---- tests ------------------------------------------------------------------
UNIT_SRC  := $(wildcard tests/unit/*.cc)
INTEG_SRC := $(wildcard tests/integration/*.cc)
UNIT_BIN  := $(BUILD)/tests/unit_tests
INTEG_BIN := $(BUILD)/tests/integration_tests
PROBES    := $(BUILD)/tests/hs_probe $(BUILD)/tests/hs_probe_cxx $(BUILD)/tests/hs_probe_static $(BUILD)/tests/hs_stress
COMPAT_BIN := $(BUILD)/tests/compat_tests
BENCH_BIN := $(BUILD)/bench/gups $(BUILD)/bench/smallobj $(BUILD)/bench/phases $(BUILD)/bench/mloop $(BUILD)/bench/alloc
NUMA_BIN  := $(BUILD)/tests/numa_tests
NUMA_PROBE := $(BUILD)/tests/hs_numa_probe

$(BUILD)/tests/%.o: tests/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

# What libhscore.a needs: libnuma, and dlopen/libm for sites (observe/sites.c, symbols.c).
CORE_LIBS := -lnuma -lpthread -ldl -lm

$(UNIT_BIN): $(patsubst tests/%.cc,$(BUILD)/tests/%.o,$(UNIT_SRC)) $(BUILD)/libhscore.a
	$(CXX) -o $@ $^ -lgtest_main -lgtest $(CORE_LIBS)

$(INTEG_BIN): $(patsubst tests/%.cc,$(BUILD)/tests/%.o,$(INTEG_SRC)) $(BUILD)/libhscore.a
	$(CXX) -o $@ $^ -lgtest_main -lgtest -lcairo $(CORE_LIBS)

$(COMPAT_BIN): $(BUILD)/tests/compat/test_compat.o $(BUILD)/tests/integration/harness.o $(BUILD)/libhscore.a
	$(CXX) -o $@ $^ -lgtest_main -lgtest $(CORE_LIBS)

$(BUILD)/tests/hs_stress: tests/progs/hs_stress.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 $(WARN) -o $@ $< -lpthread

$(NUMA_BIN): $(BUILD)/tests/numalab/numa_tests.o $(BUILD)/tests/integration/harness.o $(BUILD)/libhscore.a
	$(CXX) -o $@ $^ -lgtest_main -lgtest $(CORE_LIBS)

$(NUMA_PROBE): tests/progs/hs_numa_probe.c $(BUILD)/libhscore.a
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 $(WARN) -o $@ $^ $(CORE_LIBS)

PROBE_SRC := tests/progs/hs_probe.c tests/progs/probe_common.c tests/progs/probe_heap.c tests/progs/probe_mmap.c \
             tests/progs/probe_process.c tests/progs/probe_track.c tests/progs/probe_park.c
$(BUILD)/tests/hs_probe: $(PROBE_SRC) tests/progs/probe.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 $(WARN) -o $@ $(PROBE_SRC) -lpthread -ldl

# The same probe linked statically: LD_PRELOAD cannot reach it.
$(BUILD)/tests/hs_probe_static: $(PROBE_SRC) tests/progs/probe.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 $(WARN) -DHS_PROBE_STATIC -static -o $@ $(PROBE_SRC) -lpthread

$(BUILD)/tests/hs_probe_cxx: tests/progs/hs_probe_cxx.cc
	@mkdir -p $(dir $@)
	$(CXX) -O1 -g -std=gnu++17 $(WARN) -o $@ $< -lpthread -ldl

$(BUILD)/bench/%: bench/%.c bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 $(WARN) -o $@ $<

test-deps:
	@scripts/deps.sh test

test-unit: test-deps all $(UNIT_BIN)
	$(UNIT_BIN)

test-integration: test-deps all $(INTEG_BIN) $(PROBES) $(BENCH_BIN)
	$(INTEG_BIN)

# The NUMA set runs in the NUMA lab (tests/numalab/README.md): 2 nodes, then 4.
test-numa: test-deps all $(NUMA_BIN) $(NUMA_PROBE) $(PROBES)
	@scripts/deps.sh numalab
	@scripts/run-tests.sh --numalab 2 --numalab 4 --numalab 2+1

numalab: test-deps all $(NUMA_BIN) $(NUMA_PROBE) $(PROBES)
	@scripts/deps.sh numalab
	@tests/numalab/lab.sh --shell

# Real programs (redis, sqlite, stress-ng, python's own tests, a threaded
# malloc/fork/exec stress) plain and under every configuration: tests/compat.
compat: test-deps all $(COMPAT_BIN) $(PROBES)
	@scripts/run-tests.sh $(COMPAT_BIN)

# The layering (no include of a later layer, no include cycle) and cppcheck.
lint: test-deps
	@scripts/lint.sh

test: test-deps
	@scripts/lint.sh
	@$(MAKE) --no-print-directory -j$$(nproc) all $(UNIT_BIN) $(INTEG_BIN) $(COMPAT_BIN) $(PROBES) $(BENCH_BIN) $(NUMA_BIN) $(NUMA_PROBE)
	@scripts/deps.sh numalab || echo "test: could not install the NUMA lab's packages; its set will be skipped"
	@scripts/run-tests.sh $(UNIT_BIN) $(INTEG_BIN) $(COMPAT_BIN) --numalab 2 --numalab 4 --numalab 2+1

# ---- demo and bench ------------------------------------------------------------
demo: all $(BENCH_BIN) $(NUMA_PROBE)
	@scripts/deps.sh bench
	@scripts/deps.sh numalab || echo "demo: could not install the NUMA lab's packages; its part will be skipped"
	@bench/demo.sh

bench: all $(BENCH_BIN)
	@scripts/deps.sh bench
	@bench/run.sh
	@bench/alloc.py
	@bench/track.sh
	@bench/sites.sh
	@bench/malloc.sh

# Placement against AutoNUMA, in the NUMA lab (bench/numa.sh).
bench-numa: test-deps all $(NUMA_PROBE)
	@scripts/deps.sh numalab
	@bench/numa.sh

# Tiering against the kernel's tiering mode, in the NUMA lab with a slower tier (bench/tier.sh).
bench-tier: test-deps all $(NUMA_PROBE)
	@scripts/deps.sh numalab
	@bench/tier.sh

# The README's option table is generated from common/options.def.
readme: $(LAUNCHER)
	@scripts/update-readme.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
