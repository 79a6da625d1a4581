// A C++ "trading host": two producer threads ingest 1,000,000 events into a file-backed
// bus, flush, page through everything with poll, verify the count and per-producer order,
// and print the bus statistics and the latency of the ingest calls.
//
// Build (see docs/embedding-cpp.md):
//   cargo build --release -p corelane-capi
//   g++ -std=c++17 -O2 -Itools/capi/include tools/capi/examples/host.cpp
//       target/release/libcorelane.a -lpthread -ldl -lm -o host
//   ./host [DATA_DIR] [EVENTS]
#include "corelane.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <map>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

struct ProducerRun {
    std::vector<uint32_t> latency_ns;  // one per ingest call
    uint64_t full = 0;                 // times the ring was full (retried)
};

static ProducerRun produce(corelane::Bus& bus, int id, uint64_t count) {
    ProducerRun run;
    run.latency_ns.reserve(count);
    corelane::Producer producer = bus.producer();
    char event[96];
    for (uint64_t i = 0; i < count; i++) {
        int len = std::snprintf(event, sizeof event, "{\"p\":%d,\"i\":%llu,\"sym\":\"AAPL\",\"px\":%llu}", id,
                                static_cast<unsigned long long>(i), static_cast<unsigned long long>(18950 + i % 100));
        auto start = Clock::now();
        int32_t status;
        while ((status = producer.try_ingest(event, static_cast<size_t>(len))) == CL_ERR_FULL) {
            run.full++;
            std::this_thread::yield();
        }
        auto end = Clock::now();
        if (status != CL_OK) {
            throw corelane::Error(status, "ingest failed");
        }
        run.latency_ns.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
    }
    return run;
}

static uint64_t field(std::string_view json, const char* key) {
    auto at = json.find(key);
    if (at == std::string_view::npos) {
        throw std::runtime_error("event without " + std::string(key) + ": " + std::string(json));
    }
    return std::strtoull(json.data() + at + std::strlen(key), nullptr, 10);
}

int main(int argc, char** argv) {
    std::string dir = argc > 1 ? argv[1] : "/tmp/corelane-host-" + std::to_string(::getpid());
    const uint64_t total = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000;
    const uint64_t per_producer = total / 2;
    try {
        std::string config = R"({"num_shards":2,"cores":"disabled","ring_capacity_bytes":1048576,)"
                             R"("adapter":{"type":"file","dir":")" + dir + R"(","fsync":"never"}})";
        corelane::Bus bus(config);
        std::printf("host: bus with %u shards on the file adapter in %s\n", bus.num_shards(), dir.c_str());

        auto started = Clock::now();
        ProducerRun runs[2];
        std::thread a([&] { runs[0] = produce(bus, 0, per_producer); });
        std::thread b([&] { runs[1] = produce(bus, 1, per_producer); });
        a.join();
        b.join();
        double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        bus.flush(std::chrono::seconds(60));
        std::printf("host: ingested %llu events from 2 threads in %.3f s (%.2f M events/s)\n",
                    static_cast<unsigned long long>(2 * per_producer), seconds, 2 * per_producer / seconds / 1e6);

        // Page through everything; check count and per-(producer, shard) order.
        std::map<std::pair<uint64_t, uint32_t>, int64_t> last_i;  // (producer, shard) -> last i
        std::vector<uint64_t> per_producer_count(2, 0);
        uint64_t seen = 0;
        size_t pages = 0;
        std::string cursor;
        for (;;) {
            corelane::PollResult page = bus.poll(corelane::PollRequest{}.after(cursor).limit(10000));
            pages++;
            if (page.failed_shards() > 0) {
                auto [shard, msg] = page.failed_shard(0);
                throw std::runtime_error("shard " + std::to_string(shard) + " failed: " + msg);
            }
            for (const corelane::Event& e : page) {
                uint64_t p = field(e.payload, "\"p\":");
                int64_t i = static_cast<int64_t>(field(e.payload, "\"i\":"));
                auto key = std::make_pair(p, e.shard);
                auto it = last_i.find(key);
                if (it != last_i.end() && i <= it->second) {
                    std::fprintf(stderr, "host: order violated: producer %llu shard %u: %lld after %lld\n",
                                 static_cast<unsigned long long>(p), e.shard, static_cast<long long>(i),
                                 static_cast<long long>(it->second));
                    return 1;
                }
                last_i[key] = i;
                per_producer_count.at(p)++;
                seen++;
            }
            cursor = page.next_cursor();
            if (!page.has_more()) {
                break;
            }
        }
        std::printf("host: read back %llu events in %zu pages; per producer %llu and %llu; order ok\n",
                    static_cast<unsigned long long>(seen), pages,
                    static_cast<unsigned long long>(per_producer_count[0]),
                    static_cast<unsigned long long>(per_producer_count[1]));
        if (seen != 2 * per_producer || per_producer_count[0] != per_producer || per_producer_count[1] != per_producer) {
            std::fprintf(stderr, "host: expected %llu events\n", static_cast<unsigned long long>(2 * per_producer));
            return 1;
        }

        std::vector<uint32_t> all;
        uint64_t full = 0;
        for (auto& r : runs) {
            all.insert(all.end(), r.latency_ns.begin(), r.latency_ns.end());
            full += r.full;
        }
        std::sort(all.begin(), all.end());
        auto q = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
        std::printf("host: ingest call latency (steady_clock, incl. retries on a full ring): p50 %u ns, p99 %u ns, "
                    "p99.9 %u ns, max %u ns; full-ring retries %llu\n",
                    q(0.5), q(0.99), q(0.999), all.back(), static_cast<unsigned long long>(full));

        corelane::Stats s = bus.shutdown();
        std::printf("host: stats: accepted %llu written %llu failed %llu refused %llu batches %llu\n",
                    static_cast<unsigned long long>(s.accepted), static_cast<unsigned long long>(s.written),
                    static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.refused),
                    static_cast<unsigned long long>(s.batches_written));
        if (s.accepted != 2 * per_producer || s.written != s.accepted || s.failed != 0) {
            std::fprintf(stderr, "host: statistics do not add up\n");
            return 1;
        }
        // Errors surface as exceptions with the code.
        try {
            bus.ingest("late");
            std::fprintf(stderr, "host: ingest after shutdown was accepted\n");
            return 1;
        } catch (const corelane::Error& e) {
            std::printf("host: after shutdown: %s (code %d)\n", e.what(), e.code());
            if (e.code() != CL_ERR_SHUTTING_DOWN) {
                return 1;
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "host: error: %s\n", e.what());
        return 1;
    }
    std::string rm = "rm -rf '" + dir + "'";
    if (argc <= 1 && std::system(rm.c_str()) != 0) {
        std::fprintf(stderr, "host: could not remove %s\n", dir.c_str());
    }
    std::printf("host: ok\n");
    return 0;
}
