// hs_probe_cxx: C++ under the shim: operator new/delete through libstdc++,
// exceptions thrown and caught on many threads, containers growing large.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <new>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static int work(int seed)
{
    int caught = 0;
    for (int i = 0; i < 2000; i++) {
        try {
            std::vector<std::string> v;
            for (int j = 0; j < 20; j++)
                v.emplace_back(std::string(static_cast<size_t>(j * 13 + seed % 7), 'x'));
            if ((i + seed) % 3 == 0)
                throw std::runtime_error("expected " + std::to_string(i));
        } catch (const std::runtime_error &e) {
            if (std::strncmp(e.what(), "expected", 8) == 0)
                caught++;
        }
    }
    return caught;
}

// The operators themselves: sized and aligned forms, nothrow and throwing
// failure, and which library serves operator new.
static bool operators()
{
    bool ok = true;
    for (size_t n = 1; n < (1u << 20); n = n * 3 + 1) {
        void *p = ::operator new(n);
        std::memset(p, 1, n);
        ::operator delete(p, n);
        char *a = new char[n];
        a[n - 1] = 2;
        delete[] a;
        for (size_t align : {32, 64, 4096, 1 << 21}) {
            void *q = ::operator new(n, std::align_val_t(align));
            ok &= reinterpret_cast<uintptr_t>(q) % align == 0;
            std::memset(q, 3, n);
            if (n & 1)
                ::operator delete(q, n, std::align_val_t(align));
            else
                ::operator delete(q, std::align_val_t(align));
        }
    }
    std::printf("sized_aligned=%s\n", ok ? "ok" : "FAILED");
    volatile size_t huge = size_t(1) << 62;
    char *none = new (std::nothrow) char[huge];
    std::printf("nothrow_null=%s\n", none == nullptr ? "ok" : "FAILED");
    bool threw = false;
    try {
        char *never = new char[huge];
        never[0] = 1;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    std::printf("bad_alloc=%s\n", threw ? "ok" : "FAILED");
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "_Znwm");
    const char *from = sym && dladdr(sym, &info) && info.dli_fname ? std::strrchr(info.dli_fname, '/') : nullptr;
    std::printf("new_from=%s\n", from ? from + 1 : "?");
    return ok && none == nullptr && threw;
}

int main()
{
    bool ops = operators();
    std::vector<std::thread> threads;
    std::vector<int> results(16);
    for (int t = 0; t < 16; t++)
        threads.emplace_back([t, &results] { results[static_cast<size_t>(t)] = work(t); });
    for (auto &t : threads)
        t.join();
    int expected = 0;
    for (int t = 0; t < 16; t++) {
        int want = 0;
        for (int i = 0; i < 2000; i++)
            want += (i + t) % 3 == 0;
        expected += results[static_cast<size_t>(t)] == want;
    }
    // One large vector (hundreds of MiB) and a map of many small nodes.
    std::vector<long> big;
    for (long i = 0; i < 40L * 1000 * 1000; i++)
        big.push_back(i);
    long sum = 0;
    for (long x : big)
        sum += x;
    std::map<int, std::unique_ptr<int[]>> nodes;
    for (int i = 0; i < 100000; i++)
        nodes[i] = std::make_unique<int[]>(static_cast<size_t>(i % 50 + 1));
    std::printf("threads_ok=%d\nsum=%ld\nnodes=%zu\n", expected, sum, nodes.size());
    bool ok = ops && expected == 16 && sum == 40L * 1000 * 1000 * (40L * 1000 * 1000 - 1) / 2 && nodes.size() == 100000;
    std::printf("cxx=%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
