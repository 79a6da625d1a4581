/* A C host built with pkg-config against the installed corelane package:
 *
 *   tools/capi/install.sh /opt/corelane
 *   export PKG_CONFIG_PATH=/opt/corelane/lib/pkgconfig
 *   cc -std=c11 consumer.c $(pkg-config --cflags --libs corelane) -Wl,-rpath,/opt/corelane/lib -o consumer
 *   ./consumer /tmp/events
 *
 * Creates a file-backed bus in DATA_DIR, ingests 1000 events, flushes, shuts down, and
 * exits 0 when every event was stored. */
#include <corelane.h>

#include <stdio.h>
#include <string.h>

static int fail(const char* what) {
    char msg[512];
    cl_last_error(msg, sizeof msg);
    fprintf(stderr, "consumer: %s: %s\n", what, msg);
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    char config[1024];
    int len = snprintf(config, sizeof config,
                       "{\"num_shards\":2,\"cores\":\"disabled\",\"adapter\":{\"type\":\"file\",\"dir\":\"%s\"}}",
                       argv[1]);
    if (len < 0 || (size_t)len >= sizeof config) {
        fprintf(stderr, "consumer: DATA_DIR is too long\n");
        return 2;
    }
    cl_bus* bus = NULL;
    if (cl_bus_new(config, (size_t)len, &bus) != CL_OK) {
        return fail("cl_bus_new");
    }
    const uint64_t events = 1000;
    for (uint64_t i = 0; i < events; i++) {
        char event[64];
        int n = snprintf(event, sizeof event, "{\"i\":%llu}", (unsigned long long)i);
        if (cl_bus_ingest_json(bus, event, (size_t)n, NULL) != CL_OK) {
            fail("cl_bus_ingest_json");
            cl_bus_free(bus);
            return 1;
        }
    }
    cl_stats stats;
    if (cl_bus_flush(bus, 10000) != CL_OK || cl_bus_shutdown(bus, &stats) != CL_OK) {
        fail("flush or shutdown");
        cl_bus_free(bus);
        return 1;
    }
    cl_bus_free(bus);
    printf("consumer: corelane %s, accepted %llu, written %llu, failed %llu\n", cl_version(),
           (unsigned long long)stats.accepted, (unsigned long long)stats.written,
           (unsigned long long)stats.failed);
    return stats.written == events && stats.failed == 0 ? 0 : 1;
}
