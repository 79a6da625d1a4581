/* Calls every function of corelane.h with good and bad arguments — NULLs, zero lengths,
 * bad JSON, unknown configuration keys, freed and foreign handles — and checks each
 * returned code and message. Exit status: the number of failed checks. */
#define _GNU_SOURCE
#include "corelane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

static const char* last_error(void) {
    static char buf[1024];
    cl_last_error(buf, sizeof buf);
    return buf;
}

#define CHECK_STATUS(call, expected)                                                     \
    do {                                                                                 \
        int32_t got_ = (call);                                                           \
        checks++;                                                                        \
        if (got_ != (expected)) {                                                        \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s: %s\n", __FILE__,   \
                    __LINE__, #call, cl_status_name(got_), got_, #expected, last_error()); \
        }                                                                                \
    } while (0)

#define CHECK_MESSAGE(needle)                                                            \
    do {                                                                                 \
        checks++;                                                                        \
        if (strstr(last_error(), (needle)) == NULL) {                                    \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: last error %s lacks \"%s\"\n", __FILE__, __LINE__,   \
                    last_error(), (needle));                                             \
        }                                                                                \
    } while (0)

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        checks++;                                                                        \
        if (!(cond)) {                                                                   \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define S(text) text, strlen(text)

static cl_bus* new_bus(const char* json) {
    cl_bus* bus = NULL;
    int32_t rc = cl_bus_new(json, strlen(json), &bus);
    if (rc != CL_OK) {
        fprintf(stderr, "cl_bus_new(%s) failed: %s\n", json, last_error());
        exit(100);
    }
    return bus;
}

static void library(void) {
    CHECK(strlen(cl_version()) > 0);
    CHECK(cl_abi_version() == 2);
    CHECK(strcmp(cl_status_name(CL_ERR_FULL), "CL_ERR_FULL") == 0);
    CHECK(strcmp(cl_status_name(12345), "CL_UNKNOWN_STATUS") == 0);
    /* Length query with a NULL buffer, and truncation. */
    cl_bus* bus = NULL;
    CHECK_STATUS(cl_bus_new(S("{\"bogus\": 1}"), &bus), CL_ERR_CONFIG);
    size_t full = cl_last_error(NULL, 0);
    CHECK(full > 10);
    char small[8];
    CHECK(cl_last_error(small, sizeof small) == full);
    CHECK(strlen(small) == 7);
}

static void configuration(const char* dir) {
    cl_bus* bus = NULL;
    CHECK_STATUS(cl_bus_new(NULL, 10, &bus), CL_ERR_NULL);
    CHECK_MESSAGE("config_json is NULL");
    CHECK_STATUS(cl_bus_new(S("{}"), NULL), CL_ERR_NULL);
    CHECK_MESSAGE("out_bus is NULL");
    CHECK_STATUS(cl_bus_new("", 0, &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("config_json is empty");
    CHECK_STATUS(cl_bus_new(S("{\"num_shards\": 2,"), &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("EOF while parsing");
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"memory\"},\"num_shardz\":2}"), &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("unknown field `num_shardz`");
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"memory\",\"colour\":1}}"), &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("unknown field `colour`");
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"memory\"},\"ring_capacity_bytes\":1000}"), &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("ring_capacity_bytes: 1000 is not a power of two");
    CHECK_STATUS(cl_bus_new(S("{\"num_shards\":1}"), &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("adapter: missing");
    /* The message names every adapter type a configuration can ask for. */
    CHECK_MESSAGE("\"file\"");
    CHECK_MESSAGE("\"memory\"");
    CHECK_MESSAGE("\"noop\"");
    CHECK_MESSAGE("\"redis\"");
    CHECK_MESSAGE("\"jetstream\"");
    /* A network adapter is accepted by the configuration; nothing listens on port 1. */
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"redis\",\"url\":\"redis://127.0.0.1:1\","
                              "\"connect_timeout_ms\":200}}"), &bus), CL_ERR_ADAPTER);
    CHECK_MESSAGE("redis");
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"redis\",\"url\":\"redis://:pw@127.0.0.1:1\","
                              "\"command_timeout_ms\":200,\"prefix\":\"app\",\"max_stream_len\":10,"
                              "\"connect_timeout_ms\":100,\"colour\":1}}"), &bus), CL_ERR_CONFIG);
    CHECK_MESSAGE("unknown field `colour`");
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"jetstream\",\"url\":\"nats://127.0.0.1:1\","
                              "\"connect_timeout_ms\":200,\"duplicate_window_ms\":60000,\"replicas\":1}}"), &bus),
                 CL_ERR_ADAPTER);
    CHECK_MESSAGE("nats://127.0.0.1:1");
    CHECK_STATUS(cl_bus_new(S("{\"adapter\":{\"type\":\"jetstream\",\"url\":\"nats://h\",\"replica\":3}}"), &bus),
                 CL_ERR_CONFIG);
    CHECK_MESSAGE("unknown field `replica`");
    CHECK_STATUS(cl_bus_new("{\"a\xff\":1}", 8, &bus), CL_ERR_INVALID_ARGUMENT);
    CHECK_MESSAGE("not UTF-8");
    CHECK(bus == NULL); /* out-parameters untouched on failure */

    /* Every setting is accepted, and a file store works. */
    char json[2048];
    snprintf(json, sizeof json,
             "{\"num_shards\":2,\"cores\":\"disabled\",\"ring_capacity_bytes\":65536,"
             "\"max_event_bytes\":4096,\"backpressure\":{\"mode\":\"block\",\"timeout_ms\":1000},"
             "\"batch\":{\"max_events\":512,\"max_bytes\":65536,\"max_delay_us\":200},"
             "\"wait_strategy\":\"backoff\",\"adapter_timeout_ms\":2000,\"adapter_retries\":3,"
             "\"retry_backoff_initial_ms\":10,\"retry_backoff_max_ms\":100,"
             "\"max_inflight_batches\":8,\"shutdown_timeout_ms\":10000,"
             "\"producer_nonce_path\":\"%s/nonce\","
             "\"adapter\":{\"type\":\"file\",\"dir\":\"%s/events\",\"fsync\":\"every_batch\","
             "\"segment_bytes\":65536}}",
             dir, dir);
    bus = new_bus(json);
    uint32_t shards = 0;
    CHECK_STATUS(cl_bus_num_shards(bus, &shards), CL_OK);
    CHECK(shards == 2);
    CHECK_STATUS(cl_bus_ingest_json(bus, S("{\"x\":1}"), NULL), CL_OK);
    CHECK_STATUS(cl_bus_flush(bus, 5000), CL_OK);
    CHECK_STATUS(cl_bus_free(bus), CL_OK);
    CHECK(access(dir, F_OK) == 0);
}

static void ingest(void) {
    cl_bus* bus = new_bus("{\"num_shards\":2,\"cores\":\"disabled\",\"max_event_bytes\":64,"
                          "\"adapter\":{\"type\":\"memory\"}}");
    cl_producer* p = NULL;
    CHECK_STATUS(cl_producer_new(NULL, &p), CL_ERR_NULL);
    CHECK_STATUS(cl_producer_new(bus, NULL), CL_ERR_NULL);
    CHECK_STATUS(cl_producer_new(bus, &p), CL_OK);
    CHECK(p != NULL);

    cl_receipt r = {99, 99};
    const uint8_t data[] = "hello";
    CHECK_STATUS(cl_producer_ingest(p, data, 5, &r), CL_OK);
    CHECK(r.shard < 2 && r.producer_seq == 0);
    CHECK_STATUS(cl_producer_ingest(p, data, 5, NULL), CL_OK);
    CHECK_STATUS(cl_producer_ingest(p, NULL, 0, NULL), CL_OK); /* an empty event is fine */
    CHECK_STATUS(cl_producer_ingest(p, NULL, 5, NULL), CL_ERR_NULL);
    CHECK_MESSAGE("data is NULL but its length is 5");
    CHECK_STATUS(cl_producer_ingest(NULL, data, 5, NULL), CL_ERR_NULL);
    CHECK_MESSAGE("producer is NULL");
    uint8_t big[65];
    memset(big, 'x', sizeof big);
    CHECK_STATUS(cl_producer_ingest(p, big, sizeof big, NULL), CL_ERR_TOO_LARGE);
    CHECK_MESSAGE("event of 65 bytes exceeds max_event_bytes (64)");

    CHECK_STATUS(cl_producer_ingest_json(p, S("{\"ok\":true}"), &r), CL_OK);
    CHECK_STATUS(cl_producer_ingest_json(p, S("{\"ok\": }"), &r), CL_ERR_INVALID_EVENT);
    CHECK_MESSAGE("line 1 column 8");
    CHECK_STATUS(cl_producer_ingest_json(p, "", 0, NULL), CL_ERR_INVALID_EVENT);
    /* JSON that readers could not parse is refused at ingest, not stored as not_json. */
    CHECK_STATUS(cl_producer_ingest_json(p, S("{\"px\":1e400}"), &r), CL_ERR_INVALID_EVENT);
    CHECK_MESSAGE("number out of range");
    CHECK_STATUS(cl_producer_ingest_json(p, S("[\"\xff\"]"), &r), CL_ERR_INVALID_EVENT);
    CHECK_STATUS(cl_bus_ingest(bus, data, 5, &r), CL_OK);
    CHECK_STATUS(cl_bus_ingest(bus, NULL, 3, &r), CL_ERR_NULL);
    CHECK_STATUS(cl_bus_ingest_json(bus, S("[1,2"), NULL), CL_ERR_INVALID_EVENT);
    CHECK_STATUS(cl_bus_ingest_json(NULL, S("[]"), NULL), CL_ERR_NULL);

    /* Batch ingest with per-item outcomes. */
    cl_slice events[4] = {{data, 5}, {big, sizeof big}, {data, 0}, {(const uint8_t*)"abc", 3}};
    int32_t statuses[4] = {7, 7, 7, 7};
    size_t accepted = 99;
    CHECK_STATUS(cl_producer_ingest_batch(p, events, 4, statuses, &accepted), CL_OK);
    CHECK(accepted == 3);
    CHECK(statuses[0] == CL_OK && statuses[1] == CL_ERR_TOO_LARGE && statuses[2] == CL_OK &&
          statuses[3] == CL_OK);
    CHECK_STATUS(cl_producer_ingest_batch(p, NULL, 2, NULL, NULL), CL_ERR_NULL);
    CHECK_STATUS(cl_producer_ingest_batch(p, NULL, 0, NULL, &accepted), CL_OK);
    CHECK(accepted == 0);
    cl_slice bad[2] = {{data, 5}, {NULL, 4}};
    CHECK_STATUS(cl_producer_ingest_batch(p, bad, 2, statuses, &accepted), CL_ERR_NULL);
    CHECK_MESSAGE("events[1].data is NULL");

    CHECK_STATUS(cl_bus_flush(bus, 5000), CL_OK);
    cl_stats stats;
    CHECK_STATUS(cl_bus_stats(bus, NULL), CL_ERR_NULL);
    CHECK_STATUS(cl_bus_stats(NULL, &stats), CL_ERR_NULL);
    CHECK_STATUS(cl_bus_stats(bus, &stats), CL_OK);
    CHECK(stats.accepted == 8 && stats.written == 8 && stats.failed == 0);
    CHECK(stats.latency_count == 8 && stats.latency_p50_ns > 0);
    CHECK(stats.latency_p50_ns <= stats.latency_p99_ns && stats.latency_p99_ns <= stats.latency_max_ns);
    CHECK(stats.refused_too_large == 2 && stats.refused_invalid == 5 && stats.refused == 7);
    CHECK(stats.num_shards == 2 && stats.producers >= 1);
    cl_shard_stats ss;
    CHECK_STATUS(cl_bus_shard_stats(bus, 1, &ss), CL_OK);
    CHECK(ss.shard == 1 && ss.ring_capacity_bytes == 65536);
    CHECK_STATUS(cl_bus_shard_stats(bus, 2, &ss), CL_ERR_OUT_OF_RANGE);
    CHECK_MESSAGE("shard 2 does not exist (0..2)");

    /* Freed and foreign handles. */
    CHECK_STATUS(cl_producer_free(p), CL_OK);
    CHECK_STATUS(cl_producer_ingest(p, data, 5, NULL), CL_ERR_BAD_HANDLE);
    CHECK_MESSAGE("producer was already freed");
    CHECK_STATUS(cl_producer_free(p), CL_ERR_BAD_HANDLE);
    CHECK_STATUS(cl_producer_free(NULL), CL_OK);
    CHECK_STATUS(cl_producer_ingest((cl_producer*)bus, data, 5, NULL), CL_ERR_BAD_HANDLE);
    CHECK_MESSAGE("is not a cl_producer handle");

    /* After shutdown: refusals, and a producer outliving its bus. */
    cl_producer* late = NULL;
    CHECK_STATUS(cl_producer_new(bus, &late), CL_OK);
    CHECK_STATUS(cl_bus_shutdown(bus, &stats), CL_OK);
    CHECK(stats.accepted == stats.written);
    CHECK_STATUS(cl_bus_shutdown(bus, NULL), CL_OK); /* idempotent */
    CHECK_STATUS(cl_producer_ingest(late, data, 5, NULL), CL_ERR_SHUTTING_DOWN);
    CHECK_STATUS(cl_bus_ingest(bus, data, 5, NULL), CL_ERR_SHUTTING_DOWN);
    CHECK_STATUS(cl_bus_flush(bus, 100), CL_ERR_SHUTTING_DOWN);
    CHECK_STATUS(cl_bus_free(bus), CL_OK);
    CHECK_STATUS(cl_bus_flush(bus, 100), CL_ERR_BAD_HANDLE);
    CHECK_MESSAGE("bus was already freed");
    CHECK_STATUS(cl_bus_free(bus), CL_ERR_BAD_HANDLE);
    CHECK_STATUS(cl_bus_free(NULL), CL_OK);
    CHECK_STATUS(cl_producer_ingest(late, data, 5, NULL), CL_ERR_SHUTTING_DOWN);
    CHECK_STATUS(cl_producer_free(late), CL_OK);
}

static void poll(void) {
    cl_bus* bus = new_bus("{\"num_shards\":3,\"cores\":\"disabled\",\"adapter\":{\"type\":\"memory\"}}");
    for (int i = 0; i < 50; i++) {
        char json[64];
        int n = snprintf(json, sizeof json, "{\"i\":%d,\"even\":%s}", i, i % 2 ? "false" : "true");
        CHECK_STATUS(cl_bus_ingest_json(bus, json, (size_t)n, NULL), CL_OK);
    }
    CHECK_STATUS(cl_bus_flush(bus, 5000), CL_OK);

    cl_poll_request req;
    memset(&req, 0, sizeof req);
    cl_poll_result* res = NULL;
    CHECK_STATUS(cl_bus_poll(bus, NULL, &res), CL_ERR_NULL);
    CHECK_STATUS(cl_bus_poll(bus, &req, NULL), CL_ERR_NULL);
    CHECK_STATUS(cl_bus_poll(NULL, &req, &res), CL_ERR_NULL);

    /* Page through everything with a filter, 7 at a time. */
    req.limit = 7;
    req.filter_json = "{\"path\":\"even\",\"value\":true}";
    req.filter_len = strlen(req.filter_json);
    char cursor[512] = "";
    int seen = 0, pages = 0, more = 1;
    while (more && pages < 100) {
        req.cursor = cursor;
        req.cursor_len = strlen(cursor);
        CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_OK);
        cl_poll_info info;
        CHECK_STATUS(cl_poll_result_info(res, &info), CL_OK);
        CHECK(info.count <= 7 && info.failed_shards == 0);
        for (size_t i = 0; i < info.count; i++) {
            cl_event ev;
            CHECK_STATUS(cl_poll_result_event(res, i, &ev), CL_OK);
            CHECK(ev.payload_len > 0 && memmem(ev.payload, ev.payload_len, "\"even\":true", 11));
            CHECK(ev.id_len > 2 && ev.shard < 3 && ev.insertion_ts > 0 && ev.dedup_id_len > 0);
            seen++;
        }
        cl_event ev;
        CHECK_STATUS(cl_poll_result_event(res, info.count, &ev), CL_ERR_OUT_OF_RANGE);
        CHECK_STATUS(cl_poll_result_event(res, 0, NULL), CL_ERR_NULL);
        CHECK(info.next_cursor_len < sizeof cursor);
        memcpy(cursor, info.next_cursor, info.next_cursor_len);
        cursor[info.next_cursor_len] = 0;
        more = info.has_more;
        uint32_t shard;
        const char* msg;
        size_t msg_len;
        CHECK_STATUS(cl_poll_result_failed_shard(res, 0, &shard, &msg, &msg_len), CL_ERR_OUT_OF_RANGE);
        CHECK_STATUS(cl_poll_result_free(res), CL_OK);
        pages++;
    }
    CHECK(seen == 25);
    CHECK(pages >= 4);
    CHECK_STATUS(cl_poll_result_info(res, NULL), CL_ERR_NULL);
    cl_poll_info info;
    CHECK_STATUS(cl_poll_result_info(res, &info), CL_ERR_BAD_HANDLE); /* freed */
    CHECK_STATUS(cl_poll_result_free(res), CL_ERR_BAD_HANDLE);
    CHECK_STATUS(cl_poll_result_free(NULL), CL_OK);
    CHECK_STATUS(cl_poll_result_info((const cl_poll_result*)bus, &info), CL_ERR_BAD_HANDLE);

    /* Bad requests. */
    memset(&req, 0, sizeof req);
    req.cursor = "nope";
    req.cursor_len = 4;
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_ERR_INVALID_CURSOR);
    CHECK_MESSAGE("must start with \"c1\"");
    memset(&req, 0, sizeof req);
    req.filter_json = "{\"$nope\":1}";
    req.filter_len = strlen(req.filter_json);
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_ERR_INVALID_FILTER);
    CHECK_MESSAGE("unknown operator");
    memset(&req, 0, sizeof req);
    req.ordering = 7;
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_ERR_INVALID_ARGUMENT);
    CHECK_MESSAGE("ordering 7");
    memset(&req, 0, sizeof req);
    req.shard_count = 2;
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_ERR_NULL);
    uint32_t shards[1] = {5};
    req.shards = shards;
    req.shard_count = 1;
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_ERR_INVALID_ARGUMENT);
    CHECK_MESSAGE("shard 5 does not exist");
    memset(&req, 0, sizeof req);
    req.limit = 1000000;
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_ERR_INVALID_ARGUMENT);
    CHECK_MESSAGE("limit 1000000 is outside");

    /* Time order over the whole store. */
    memset(&req, 0, sizeof req);
    req.ordering = CL_ORDER_TIME;
    req.limit = 100;
    CHECK_STATUS(cl_bus_poll(bus, &req, &res), CL_OK);
    CHECK_STATUS(cl_poll_result_info(res, &info), CL_OK);
    CHECK(info.count == 50 && info.has_more == 0);
    uint64_t last = 0;
    for (size_t i = 0; i < info.count; i++) {
        cl_event ev;
        CHECK_STATUS(cl_poll_result_event(res, i, &ev), CL_OK);
        CHECK(ev.insertion_ts >= last);
        last = ev.insertion_ts;
    }
    CHECK_STATUS(cl_poll_result_free(res), CL_OK);
    CHECK_STATUS(cl_bus_free(bus), CL_OK);
}

static void scaling(void) {
    /* A static bus cannot scale. */
    cl_bus* fixed = new_bus("{\"num_shards\":1,\"adapter\":{\"type\":\"memory\"}}");
    CHECK_STATUS(cl_bus_scale_to(fixed, 2, 1000, NULL), CL_ERR_NOT_SCALABLE);
    CHECK_MESSAGE("max_shards");
    CHECK_STATUS(cl_bus_free(fixed), CL_OK);

    cl_bus* bus = new_bus("{\"num_shards\":1,\"max_shards\":3,\"cores\":\"disabled\","
                          "\"wait_strategy\":\"backoff\",\"adapter\":{\"type\":\"memory\"}}");
    CHECK_STATUS(cl_bus_scale_to(NULL, 2, 1000, NULL), CL_ERR_NULL);
    CHECK_STATUS(cl_bus_scale_to(bus, 0, 1000, NULL), CL_ERR_OUT_OF_RANGE);
    CHECK_MESSAGE("1..=3");
    CHECK_STATUS(cl_bus_scale_to(bus, 4, 1000, NULL), CL_ERR_OUT_OF_RANGE);
    for (int i = 0; i < 30; i++) {
        char event[32];
        snprintf(event, sizeof event, "{\"i\":%d}", i);
        CHECK_STATUS(cl_bus_ingest_json(bus, S(event), NULL), CL_OK);
    }
    cl_scale_outcome outcome;
    memset(&outcome, 0, sizeof outcome);
    CHECK_STATUS(cl_bus_scale_to(bus, 3, 10000, &outcome), CL_OK);
    CHECK(outcome.from == 1 && outcome.to == 3);
    CHECK(outcome.took_ns >= outcome.to_traffic_ns);
    uint32_t shards = 0;
    CHECK_STATUS(cl_bus_num_shards(bus, &shards), CL_OK);
    CHECK(shards == 3);
    for (int i = 30; i < 60; i++) {
        char event[32];
        snprintf(event, sizeof event, "{\"i\":%d}", i);
        CHECK_STATUS(cl_bus_ingest_json(bus, S(event), NULL), CL_OK);
    }
    CHECK_STATUS(cl_bus_scale_to(bus, 1, 10000, &outcome), CL_OK);
    CHECK(outcome.from == 3 && outcome.to == 1);
    cl_stats stats;
    CHECK_STATUS(cl_bus_flush(bus, 10000), CL_OK);
    CHECK_STATUS(cl_bus_stats(bus, &stats), CL_OK);
    CHECK(stats.active_shards == 1 && stats.max_shards == 3);
    CHECK(stats.scale_changes == 2 && stats.scale_changing == 0);
    CHECK(stats.accepted == 60 && stats.written == 60);
    cl_shard_stats shard;
    CHECK_STATUS(cl_bus_shard_stats(bus, 0, &shard), CL_OK);
    CHECK(shard.phase == CL_SHARD_ACTIVE);
    CHECK_STATUS(cl_bus_shard_stats(bus, 2, &shard), CL_OK);
    CHECK(shard.phase == CL_SHARD_RETIRED);
    CHECK_STATUS(cl_bus_shutdown(bus, NULL), CL_OK);
    CHECK_STATUS(cl_bus_scale_to(bus, 2, 1000, NULL), CL_ERR_SHUTTING_DOWN);
    CHECK_STATUS(cl_bus_free(bus), CL_OK);
}

int main(void) {
    char dir[] = "/tmp/corelane-capi-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 100;
    }
    library();
    configuration(dir);
    ingest();
    poll();
    scaling();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    printf("api_test: %d checks, %d failures\n", checks, failures);
    return failures;
}
