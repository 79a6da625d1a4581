// corelane.hpp — a header-only C++17 RAII wrapper over corelane.h.
//
//   corelane::Bus bus(R"({"num_shards":2,"adapter":{"type":"file","dir":"/tmp/events"}})");
//   corelane::Producer producer = bus.producer();
//   producer.ingest(bytes, len);                  // throws corelane::Error on refusal
//   if (!producer.try_ingest(bytes, len)) {...}   // false on a full ring, no exception
//   bus.flush(std::chrono::seconds(5));
//   corelane::PollResult page = bus.poll(corelane::PollRequest{}.limit(1000));
//   for (const corelane::Event& e : page) { ... }
//
// Errors become corelane::Error (a std::runtime_error) carrying the cl_status code and
// the message. Thread safety is that of the C API: a Bus may be shared between threads;
// a Producer is used by one thread at a time; a PollResult is read-only.
#ifndef CORELANE_HPP
#define CORELANE_HPP

#include "corelane.h"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corelane {

/// A failed call: the cl_status code and the library's message.
class Error : public std::runtime_error {
public:
    Error(int32_t code, const std::string& message)
        : std::runtime_error(std::string(cl_status_name(code)) + ": " + message), code_(code) {}
    int32_t code() const noexcept { return code_; }

private:
    int32_t code_;
};

namespace detail {
inline std::string last_error() {
    size_t len = cl_last_error(nullptr, 0);
    std::string message(len, '\0');
    if (len > 0) {
        std::vector<char> buf(len + 1);
        cl_last_error(buf.data(), buf.size());
        message.assign(buf.data(), len);
    }
    return message;
}

inline void check(int32_t status) {
    if (status != CL_OK) {
        throw Error(status, last_error());
    }
}
}  // namespace detail

using Stats = cl_stats;
using ShardStats = cl_shard_stats;
using Receipt = cl_receipt;

/// One event of a page; views stay valid while the PollResult lives.
struct Event {
    std::string_view id;
    uint32_t shard;
    uint64_t sequence;
    uint64_t insertion_ts;
    std::string_view payload;
    std::string_view dedup_id;
};

/// What to read; chain the setters.
class PollRequest {
public:
    PollRequest& after(std::string cursor) { cursor_ = std::move(cursor); return *this; }
    PollRequest& limit(uint32_t n) { limit_ = n; return *this; }
    PollRequest& filter(std::string json) { filter_ = std::move(json); return *this; }
    PollRequest& time_order(bool yes = true) { ordering_ = yes ? CL_ORDER_TIME : CL_ORDER_SHARD; return *this; }
    PollRequest& shards(std::vector<uint32_t> list) { shards_ = std::move(list); return *this; }
    PollRequest& timeout(std::chrono::milliseconds t) { timeout_ms_ = static_cast<uint64_t>(t.count()); return *this; }

    cl_poll_request raw() const {
        cl_poll_request r{};
        r.cursor = cursor_.data();
        r.cursor_len = cursor_.size();
        r.limit = limit_;
        r.ordering = ordering_;
        r.filter_json = filter_.empty() ? nullptr : filter_.data();
        r.filter_len = filter_.size();
        r.shards = shards_.empty() ? nullptr : shards_.data();
        r.shard_count = shards_.size();
        r.timeout_ms = timeout_ms_;
        return r;
    }

private:
    std::string cursor_;
    uint32_t limit_ = 0;
    int32_t ordering_ = CL_ORDER_SHARD;
    std::string filter_;
    std::vector<uint32_t> shards_;
    uint64_t timeout_ms_ = 0;
};

/// One page of events; freed when destroyed.
class PollResult {
public:
    explicit PollResult(cl_poll_result* r) : r_(r) { detail::check(cl_poll_result_info(r_, &info_)); }
    PollResult(const PollResult&) = delete;
    PollResult& operator=(const PollResult&) = delete;
    PollResult(PollResult&& o) noexcept : r_(std::exchange(o.r_, nullptr)), info_(o.info_) {}
    PollResult& operator=(PollResult&& o) noexcept {
        if (this != &o) {
            cl_poll_result_free(r_);
            r_ = std::exchange(o.r_, nullptr);
            info_ = o.info_;
        }
        return *this;
    }
    ~PollResult() { cl_poll_result_free(r_); }

    size_t size() const noexcept { return info_.count; }
    bool has_more() const noexcept { return info_.has_more != 0; }
    size_t failed_shards() const noexcept { return info_.failed_shards; }
    std::string next_cursor() const { return std::string(info_.next_cursor, info_.next_cursor_len); }

    Event operator[](size_t i) const {
        cl_event e;
        detail::check(cl_poll_result_event(r_, i, &e));
        return Event{{e.id, e.id_len},
                     e.shard,
                     e.sequence,
                     e.insertion_ts,
                     {reinterpret_cast<const char*>(e.payload), e.payload_len},
                     {e.dedup_id ? e.dedup_id : "", e.dedup_id_len}};
    }

    /// Failed shard i: (shard, message).
    std::pair<uint32_t, std::string> failed_shard(size_t i) const {
        uint32_t shard;
        const char* msg;
        size_t len;
        detail::check(cl_poll_result_failed_shard(r_, i, &shard, &msg, &len));
        return {shard, std::string(msg, len)};
    }

    class iterator {
    public:
        iterator(const PollResult* p, size_t i) : p_(p), i_(i) {}
        Event operator*() const { return (*p_)[i_]; }
        iterator& operator++() { ++i_; return *this; }
        bool operator!=(const iterator& o) const { return i_ != o.i_; }

    private:
        const PollResult* p_;
        size_t i_;
    };
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, size()); }

private:
    cl_poll_result* r_;
    cl_poll_info info_{};
};

/// A producer: one thread at a time. Freed when destroyed (its events are still delivered).
class Producer {
public:
    explicit Producer(cl_producer* p) : p_(p) {}
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;
    Producer(Producer&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Producer& operator=(Producer&& o) noexcept {
        if (this != &o) {
            cl_producer_free(p_);
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ~Producer() { cl_producer_free(p_); }

    /// Ingests or throws Error (CL_ERR_FULL and the other refusals included).
    Receipt ingest(const void* data, size_t len) {
        Receipt r{};
        detail::check(cl_producer_ingest(p_, static_cast<const uint8_t*>(data), len, &r));
        return r;
    }
    Receipt ingest(std::string_view bytes) { return ingest(bytes.data(), bytes.size()); }

    /// The hot path: returns the status instead of throwing (CL_OK, CL_ERR_FULL, ...).
    int32_t try_ingest(const void* data, size_t len, Receipt* receipt = nullptr) noexcept {
        return cl_producer_ingest(p_, static_cast<const uint8_t*>(data), len, receipt);
    }

    /// Validates and ingests JSON, or throws Error.
    Receipt ingest_json(std::string_view json) {
        Receipt r{};
        detail::check(cl_producer_ingest_json(p_, json.data(), json.size(), &r));
        return r;
    }

    cl_producer* raw() const noexcept { return p_; }

private:
    cl_producer* p_;
};

/// A bus: shareable between threads. Destroying it shuts it down gracefully.
class Bus {
public:
    explicit Bus(std::string_view config_json) {
        detail::check(cl_bus_new(config_json.data(), config_json.size(), &b_));
    }
    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;
    Bus(Bus&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
    Bus& operator=(Bus&& o) noexcept {
        if (this != &o) {
            cl_bus_free(b_);
            b_ = std::exchange(o.b_, nullptr);
        }
        return *this;
    }
    ~Bus() { cl_bus_free(b_); }

    Producer producer() {
        cl_producer* p = nullptr;
        detail::check(cl_producer_new(b_, &p));
        return Producer(p);
    }

    /// Ingests through the calling thread's own producer, or throws Error.
    Receipt ingest(std::string_view bytes) {
        Receipt r{};
        detail::check(cl_bus_ingest(b_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &r));
        return r;
    }
    Receipt ingest_json(std::string_view json) {
        Receipt r{};
        detail::check(cl_bus_ingest_json(b_, json.data(), json.size(), &r));
        return r;
    }

    void flush(std::chrono::milliseconds timeout) { detail::check(cl_bus_flush(b_, static_cast<uint64_t>(timeout.count()))); }

    Stats shutdown() {
        Stats s{};
        detail::check(cl_bus_shutdown(b_, &s));
        return s;
    }

    Stats stats() const {
        Stats s{};
        detail::check(cl_bus_stats(b_, &s));
        return s;
    }

    ShardStats shard_stats(uint32_t shard) const {
        ShardStats s{};
        detail::check(cl_bus_shard_stats(b_, shard, &s));
        return s;
    }

    uint32_t num_shards() const {
        uint32_t n = 0;
        detail::check(cl_bus_num_shards(b_, &n));
        return n;
    }

    PollResult poll(const PollRequest& request) {
        cl_poll_request raw = request.raw();
        cl_poll_result* r = nullptr;
        detail::check(cl_bus_poll(b_, &raw, &r));
        return PollResult(r);
    }

    cl_bus* raw() const noexcept { return b_; }

private:
    cl_bus* b_ = nullptr;
};

}  // namespace corelane

#endif  // CORELANE_HPP
