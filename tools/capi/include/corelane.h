/*
 * corelane.h — the C ABI of corelane, an in-process event bus.
 *
 * Link with libcorelane.a (add -lpthread -ldl -lm) or libcorelane.so.
 * See docs/embedding-cpp.md for linking, threading and ownership rules.
 *
 * Conventions
 *   - Every function returns a cl_status: CL_OK (0) or a stable negative code. On
 *     failure, cl_last_error() returns a message naming what was wrong (per thread).
 *   - Out-parameters are written only when the function returns CL_OK.
 *   - Every buffer is passed with its length in bytes; text need not be NUL-terminated
 *     and must be UTF-8. A NULL pointer with a non-zero length is CL_ERR_NULL.
 *   - Handles are opaque. A freed handle, or a handle of another kind, is reported as
 *     CL_ERR_BAD_HANDLE rather than dereferenced (a pointer that never was a handle
 *     cannot be detected). *_free(NULL) is a no-op returning CL_OK.
 *   - No function lets a panic or exception escape: an internal bug is CL_ERR_PANIC.
 *
 * Thread safety
 *   - cl_bus: every function may be called from any thread concurrently, except
 *     cl_bus_free, which must not run while another call uses the same bus.
 *   - cl_producer: one thread at a time (it may move between threads); cl_producer_new
 *     and cl_producer_free are as safe as the bus they use.
 *   - cl_poll_result: read-only after creation: readable from several threads; free it
 *     once, when no thread reads it.
 *   - cl_last_error, cl_version, cl_abi_version, cl_status_name: any thread.
 */
#ifndef CORELANE_H
#define CORELANE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Stable: new codes may be added, existing ones never change. */
typedef enum cl_status {
    CL_OK = 0,
    CL_ERR_NULL = -1,             /* a required pointer was NULL */
    CL_ERR_INVALID_ARGUMENT = -2, /* a bad length, count, enum value, or non-UTF-8 text */
    CL_ERR_CONFIG = -3,           /* invalid configuration JSON (bad JSON, unknown key, range) */
    CL_ERR_BAD_HANDLE = -4,       /* a freed handle, or a handle of another kind */
    CL_ERR_FULL = -5,             /* the ring was full (backpressure "fail") */
    CL_ERR_DROPPED = -6,          /* the ring was full; event dropped ("drop_newest") */
    CL_ERR_SAMPLED_OUT = -7,      /* refused by sampling ("sample") */
    CL_ERR_TIMED_OUT = -8,        /* no room within the blocking timeout ("block") */
    CL_ERR_SHUTTING_DOWN = -9,    /* the bus is shutting down or shut down */
    CL_ERR_TOO_LARGE = -10,       /* the event exceeds max_event_bytes */
    CL_ERR_INVALID_EVENT = -11,   /* not valid JSON, or routed to a missing shard */
    CL_ERR_TIMEOUT = -12,         /* flush or shutdown did not finish in time */
    CL_ERR_ADAPTER = -13,         /* the store failed (init, flush, shutdown, read) */
    CL_ERR_INVALID_CURSOR = -14,  /* the cursor text is malformed */
    CL_ERR_INVALID_FILTER = -15,  /* the filter JSON is malformed */
    CL_ERR_IO = -16,              /* an I/O error outside the store (nonce file, threads) */
    CL_ERR_OUT_OF_RANGE = -17,    /* an index past the end, or a shard count out of range */
    CL_ERR_NOT_SCALABLE = -18,    /* the bus was built without max_shards or scaling */
    CL_ERR_BUSY = -19,            /* another shard-count change is in progress */
    CL_ERR_PANIC = -99            /* an internal bug; nothing unwound into the caller */
} cl_status;

/* Orderings of a poll. */
#define CL_ORDER_SHARD 0 /* shards ascending, each in sequence order */
#define CL_ORDER_TIME 1  /* insertion timestamp, then shard, then sequence */

/* Phases of a shard (cl_shard_stats.phase). */
#define CL_SHARD_ACTIVE 0   /* taking traffic */
#define CL_SHARD_DRAINING 1 /* retiring: draining its rings, writing its last batches */
#define CL_SHARD_RETIRED 2  /* retired: thread joined; its events stay readable */

/* Opaque handles. */
typedef struct cl_bus cl_bus;
typedef struct cl_producer cl_producer;
typedef struct cl_poll_result cl_poll_result;

/* A borrowed buffer. */
typedef struct cl_slice {
    const uint8_t* data;
    size_t len;
} cl_slice;

/* What an accepted ingest reports. */
typedef struct cl_receipt {
    uint32_t shard;        /* the shard the event went to */
    uint64_t producer_seq; /* events this producer sent to that shard before this one */
} cl_receipt;

/* Every counter of a bus. At quiescence accepted == written + failed. */
typedef struct cl_stats {
    uint64_t accepted;
    uint64_t written;
    uint64_t failed;
    uint64_t refused;
    uint64_t refused_full;
    uint64_t refused_dropped;
    uint64_t refused_sampled_out;
    uint64_t refused_timed_out;
    uint64_t refused_shutting_down;
    uint64_t refused_too_large;
    uint64_t refused_invalid;
    uint64_t failed_transient;
    uint64_t failed_timeout;
    uint64_t failed_backpressure;
    uint64_t failed_fatal;
    uint64_t failed_config;
    uint64_t failed_shutdown;
    uint64_t batches_written;
    uint64_t batches_failed;
    uint64_t retries;
    uint64_t deadline_overruns;
    uint32_t producers;
    uint32_t num_shards;
    /* Ingest -> acknowledged by the store, recorded on the I/O thread since the bus
     * started: events measured and percentiles in ns (all 0 before the first event). */
    uint64_t latency_count;
    uint64_t latency_p50_ns;
    uint64_t latency_p90_ns;
    uint64_t latency_p99_ns;
    uint64_t latency_p999_ns;
    uint64_t latency_max_ns;
    uint32_t active_shards;  /* shards taking traffic now */
    uint32_t max_shards;     /* the most shards the bus may have */
    uint64_t scale_changes;  /* shard-count changes completed */
    uint32_t scale_changing; /* 1 while a change has not completed */
} cl_stats;

/* One shard's counters. */
typedef struct cl_shard_stats {
    uint32_t shard;
    int32_t pinned_core;    /* core of the shard thread, or -1 */
    int32_t pinning_failed; /* 1 when pinning was asked for and failed */
    uint64_t accepted;
    uint64_t written;
    uint64_t failed;
    uint64_t batches_sealed;
    uint64_t next_sequence;
    uint64_t ring_fill_bytes;
    uint64_t ring_fill_peak_bytes;
    uint64_t ring_capacity_bytes;
    int32_t phase;    /* CL_SHARD_ACTIVE, CL_SHARD_DRAINING or CL_SHARD_RETIRED */
    uint64_t busy_ns; /* time the shard thread spent draining */
} cl_shard_stats;

/* What cl_bus_scale_to changed. */
typedef struct cl_scale_outcome {
    uint32_t from;
    uint32_t to;
    uint64_t to_traffic_ns; /* until the new routing was published */
    uint64_t took_ns;       /* until the change was complete */
} cl_scale_outcome;

/* What to read. Zero fields take defaults: from the beginning, limit 100, no filter,
 * CL_ORDER_SHARD, all shards, 5000 ms. */
typedef struct cl_poll_request {
    const char* cursor;      /* a cursor from an earlier page (cl_poll_info.next_cursor) */
    size_t cursor_len;
    uint32_t limit;          /* 1..=100000 events */
    int32_t ordering;        /* CL_ORDER_SHARD or CL_ORDER_TIME */
    const char* filter_json; /* a JSON filter, see docs/consuming.md */
    size_t filter_len;
    const uint32_t* shards;  /* only these shards */
    size_t shard_count;
    uint64_t timeout_ms;
} cl_poll_request;

/* One event of a page. Pointers stay valid until cl_poll_result_free. */
typedef struct cl_event {
    const char* id; /* "{shard}-{sequence}" */
    size_t id_len;
    uint32_t shard;
    uint64_t sequence;
    uint64_t insertion_ts; /* Unix-epoch nanoseconds */
    const uint8_t* payload;
    size_t payload_len;
    const char* dedup_id; /* NULL when the store keeps none */
    size_t dedup_id_len;
} cl_event;

/* A page as a whole. Pointers stay valid until cl_poll_result_free. */
typedef struct cl_poll_info {
    size_t count;
    int32_t has_more;       /* 1 when a further poll can make progress */
    size_t failed_shards;   /* see cl_poll_result_failed_shard */
    const char* next_cursor;
    size_t next_cursor_len;
    uint64_t filtered_out;
    uint64_t not_json;
} cl_poll_info;

/* ---- library ---------------------------------------------------------------------- */

/* The library version, static and NUL-terminated. */
const char* cl_version(void);
/* The ABI version (1), bumped on incompatible changes. */
uint32_t cl_abi_version(void);
/* Copies this thread's last error message into buf (NUL-terminated, truncated to len-1
 * bytes) and returns its full length; 0 if no call on this thread has failed. buf may be
 * NULL when len is 0. */
size_t cl_last_error(char* buf, size_t len);
/* The name of a status code ("CL_ERR_FULL"), static and NUL-terminated. */
const char* cl_status_name(int32_t status);

/* ---- bus (thread-safe but for cl_bus_free) -------------------------------------- */

/* Creates a bus from a JSON configuration naming every setting to change and the
 * adapter, e.g. {"num_shards":2,"adapter":{"type":"file","dir":"/var/lib/app/events"}}.
 * Unknown keys are CL_ERR_CONFIG. */
int32_t cl_bus_new(const char* config_json, size_t config_len, cl_bus** out_bus);
/* Shuts down gracefully (bounded by shutdown_timeout_ms) and frees the handle. */
int32_t cl_bus_free(cl_bus* bus);
/* Shuts down gracefully; idempotent. out_stats may be NULL. */
int32_t cl_bus_shutdown(cl_bus* bus, cl_stats* out_stats);
/* Delivery barrier: CL_OK once everything accepted before the call is written (or
 * counted failed) and the adapter flushed; CL_ERR_TIMEOUT after timeout_ms. */
int32_t cl_bus_flush(cl_bus* bus, uint64_t timeout_ms);
/* Shards taking traffic now (changes with cl_bus_scale_to and the scaling policy). */
int32_t cl_bus_num_shards(const cl_bus* bus, uint32_t* out);
/* Changes the number of shards taking traffic (a bus built with "max_shards" or
 * "scaling"); waits at most timeout_ms for the change to complete. CL_ERR_NOT_SCALABLE,
 * CL_ERR_OUT_OF_RANGE, CL_ERR_BUSY (another change runs), CL_ERR_TIMEOUT (published,
 * completes later), CL_ERR_SHUTTING_DOWN. out may be NULL. */
int32_t cl_bus_scale_to(cl_bus* bus, uint32_t target, uint64_t timeout_ms,
                        cl_scale_outcome* out);
int32_t cl_bus_stats(const cl_bus* bus, cl_stats* out);
int32_t cl_bus_shard_stats(const cl_bus* bus, uint32_t shard, cl_shard_stats* out);
/* Ingest through the calling thread's own producer (registered on first use, retired
 * when the thread exits). out_receipt may be NULL. */
int32_t cl_bus_ingest(cl_bus* bus, const uint8_t* data, size_t len, cl_receipt* out_receipt);
int32_t cl_bus_ingest_json(cl_bus* bus, const char* json, size_t len, cl_receipt* out_receipt);
/* Reads one page; free the result with cl_poll_result_free. */
int32_t cl_bus_poll(cl_bus* bus, const cl_poll_request* request, cl_poll_result** out_result);

/* ---- producer (one thread at a time) ----------------------------------------------- */

int32_t cl_producer_new(cl_bus* bus, cl_producer** out_producer);
/* What the producer ingested is still delivered. The bus may already be freed. */
int32_t cl_producer_free(cl_producer* producer);
/* The hot path: copies the bytes into a ring; no allocation, no system call. */
int32_t cl_producer_ingest(cl_producer* producer, const uint8_t* data, size_t len,
                           cl_receipt* out_receipt);
/* Validates json as one JSON value first (CL_ERR_INVALID_EVENT with line and column). */
int32_t cl_producer_ingest_json(cl_producer* producer, const char* json, size_t len,
                                cl_receipt* out_receipt);
/* Ingests count events; CL_OK when processed. Each outcome (CL_OK or its refusal code)
 * goes to statuses[i] when statuses is not NULL; the number accepted to *out_accepted. */
int32_t cl_producer_ingest_batch(cl_producer* producer, const cl_slice* events, size_t count,
                                 int32_t* statuses, size_t* out_accepted);

/* ---- poll results (read-only) ------------------------------------------------------ */

int32_t cl_poll_result_info(const cl_poll_result* result, cl_poll_info* out);
int32_t cl_poll_result_event(const cl_poll_result* result, size_t index, cl_event* out);
int32_t cl_poll_result_failed_shard(const cl_poll_result* result, size_t index,
                                    uint32_t* out_shard, const char** out_message,
                                    size_t* out_message_len);
int32_t cl_poll_result_free(cl_poll_result* result);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CORELANE_H */
