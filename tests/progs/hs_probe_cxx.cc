// hs_probe_cxx: C++ under the shim: operator new/delete through libstdc++,
// exceptions thrown and caught on many threads, containers growing large.
#include <cstdio>
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

int main()
{
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
    bool ok = expected == 16 && sum == 40L * 1000 * 1000 * (40L * 1000 * 1000 - 1) / 2 && nodes.size() == 100000;
    std::printf("cxx=%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
