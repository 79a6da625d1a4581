// A C++ host built with CMake against the installed corelane package:
//
//   tools/capi/install.sh /opt/corelane
//   cmake -S tools/capi/examples/cmake-consumer -B build -DCMAKE_PREFIX_PATH=/opt/corelane
//   cmake --build build && ./build/consumer /tmp/events
//
// Creates a file-backed bus in DATA_DIR, ingests 1000 events, flushes, shuts down, and
// exits 0 when every event was stored.
#include <corelane.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    const int events = 1000;
    try {
        corelane::Bus bus(std::string(R"({"num_shards":2,"cores":"disabled","adapter":{"type":"file","dir":")") +
                          argv[1] + R"("}})");
        for (int i = 0; i < events; i++) {
            bus.ingest_json(R"({"i":)" + std::to_string(i) + "}");
        }
        bus.flush(std::chrono::seconds(10));
        corelane::Stats stats = bus.shutdown();
        std::printf("consumer: corelane %s, accepted %llu, written %llu, failed %llu\n", cl_version(),
                    static_cast<unsigned long long>(stats.accepted), static_cast<unsigned long long>(stats.written),
                    static_cast<unsigned long long>(stats.failed));
        return stats.written == events && stats.failed == 0 ? 0 : 1;
    } catch (const corelane::Error& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
}
