// Verilator harness for vta_core: a DRAM model behind the four DRAM ports, a start pulse,
// and a loop that runs until FINISH has retired and every module is idle (or until the core
// makes no progress, or a cycle bound).  The DRAM model is the one of
// vta_hw/cosim/dram_model.py (contract timing, or a random slow/bursty memory with --bp-seed):
// several read bursts in flight, write acknowledges pipelined.
//
// usage: harness --dram IN.bin --out OUT.bin --insn-addr A --insn-count N
//                [--max-cycles M] [--stall-bound S] [--bp-seed K] [--wave FILE]
// prints one line: "status=done cycles=<counter> total=<cycles simulated>" (or status=deadlock,
// status=timeout, status=dram_error, each with cycle=<t> and a message).
//
// The DRAM contract's parameters are compiled in (-D): verilator.py passes
// vta_hw.timing.dram_timing(cfg).c_defines() (DRAM_READ_LATENCY, DRAM_ACK_LATENCY,
// DRAM_READ_QUEUE, DRAM_BUS_BYTES), the one definition of the contract; the functions
// read_start, accepts_read and write_ack below are DramTiming's methods of the same names.
// Verilator spells the "__" of Amaranth's flattened port names ("ctrl__start") as "___05F".

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Vvta_core.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

#if !defined(DRAM_READ_LATENCY) || !defined(DRAM_ACK_LATENCY) || !defined(DRAM_READ_QUEUE) || \
    !defined(DRAM_BUS_BYTES)
#error "the DRAM contract (vta_hw.timing.DramTiming.c_defines) must be defined with -D"
#endif

namespace {

// ------------------------------------------------------------------ signal access
template <class T>
void set_bytes(T& sig, const uint8_t* p, int n) {
    uint64_t v = 0;
    std::memcpy(&v, p, std::min<int>(n, sizeof(T)));
    sig = static_cast<T>(v);
}
template <std::size_t N>
void set_bytes(VlWide<N>& sig, const uint8_t* p, int n) {
    for (std::size_t i = 0; i < N; ++i) {
        uint32_t w = 0;
        int off = static_cast<int>(4 * i);
        if (off < n) std::memcpy(&w, p + off, std::min(4, n - off));
        sig[i] = w;
    }
}
template <class T>
void get_bytes(const T& sig, uint8_t* p, int n) {
    uint64_t v = sig;
    std::memset(p, 0, n);
    std::memcpy(p, &v, std::min<int>(n, sizeof(T)));
}
template <std::size_t N>
void get_bytes(const VlWide<N>& sig, uint8_t* p, int n) {
    std::memset(p, 0, n);
    for (std::size_t i = 0; i < N && static_cast<int>(4 * i) < n; ++i) {
        uint32_t w = sig[i];
        std::memcpy(p + 4 * i, &w, std::min<int>(4, n - static_cast<int>(4 * i)));
    }
}

struct Outputs {
    bool req_valid, req_write, rd_ready, wr_valid;
    uint64_t req_addr, req_len;
    unsigned req_size;
    uint8_t wr_data[DRAM_BUS_BYTES];
};

struct PortIO {
    virtual ~PortIO() = default;
    virtual void set(bool req_ready, bool rd_valid, const uint8_t* rd_data, bool wr_ready,
                     bool wr_ack) = 0;
    virtual void get(Outputs& o) = 0;
};

template <class TAddr, class TLen, class TData>
struct PortIOImpl : PortIO {
    CData &req_valid, &req_ready;
    TAddr& req_addr;
    TLen& req_len;
    CData &req_size, &req_write, &rd_valid, &rd_ready;
    TData& rd_data;
    CData &wr_valid, &wr_ready;
    TData& wr_data;
    CData& wr_ack;
    PortIOImpl(CData& a, CData& b, TAddr& c, TLen& d, CData& e, CData& f, CData& g, CData& h,
               TData& i, CData& j, CData& k, TData& l, CData& n)
        : req_valid(a), req_ready(b), req_addr(c), req_len(d), req_size(e), req_write(f),
          rd_valid(g), rd_ready(h), rd_data(i), wr_valid(j), wr_ready(k), wr_data(l),
          wr_ack(n) {}
    void set(bool rr, bool rv, const uint8_t* rdata, bool wr, bool wa) override {
        req_ready = rr;
        rd_valid = rv;
        set_bytes(rd_data, rdata, DRAM_BUS_BYTES);
        wr_ready = wr;
        wr_ack = wa;
    }
    void get(Outputs& o) override {
        o.req_valid = req_valid;
        o.req_write = req_write;
        o.rd_ready = rd_ready;
        o.wr_valid = wr_valid;
        o.req_addr = req_addr;
        o.req_len = req_len;
        o.req_size = req_size;
        get_bytes(wr_data, o.wr_data, DRAM_BUS_BYTES);
    }
};

template <class TAddr, class TLen, class TData>
std::unique_ptr<PortIO> make_io(CData& a, CData& b, TAddr& c, TLen& d, CData& e, CData& f,
                                CData& g, CData& h, TData& i, CData& j, CData& k, TData& l,
                                CData& n) {
    return std::make_unique<PortIOImpl<TAddr, TLen, TData>>(a, b, c, d, e, f, g, h, i, j, k, l,
                                                             n);
}

#define BIND(P)                                                                             \
    make_io(top->P##_dram___05Freq_valid, top->P##_dram___05Freq_ready, top->P##_dram___05Freq_addr,    \
            top->P##_dram___05Freq_len, top->P##_dram___05Freq_size, top->P##_dram___05Freq_write,      \
            top->P##_dram___05Frd_valid, top->P##_dram___05Frd_ready, top->P##_dram___05Frd_data,       \
            top->P##_dram___05Fwr_valid, top->P##_dram___05Fwr_ready, top->P##_dram___05Fwr_data,       \
            top->P##_dram___05Fwr_ack)

// ------------------------------------------------------------------ DRAM model
// The contract of vta_hw.timing.DramTiming (see there): reads accepted while fewer than
// DRAM_READ_QUEUE have not started, served in order from read_start(); writes one burst
// taking beats at a time, acknowledged at write_ack(), in order.
bool accepts_read(uint64_t queued) { return queued < DRAM_READ_QUEUE; }
uint64_t read_start(uint64_t accepted, bool any_prev, uint64_t prev_last_beat) {
    uint64_t first = accepted + DRAM_READ_LATENCY;
    return any_prev ? std::max(first, prev_last_beat + 1) : first;
}
uint64_t write_ack(uint64_t accepted, uint64_t last_beat, bool any_prev, uint64_t prev_ack) {
    uint64_t ack = std::max(last_beat, accepted) + DRAM_ACK_LATENCY;
    return any_prev ? std::max(ack, prev_ack + 1) : ack;
}

struct Burst {
    uint64_t addr = 0, beats = 0, size = 0, accepted = 0, extra = 0;
    bool started = false;  // read: start fixed (the burst is at the head)
    uint64_t start = 0;
    uint64_t ack_at = 0;  // write
    std::vector<std::vector<uint8_t>> data;  // write: its beats
};

struct Model {
    std::string name;
    std::vector<uint8_t>& mem;
    std::unique_ptr<PortIO> io;
    std::mt19937_64* rng;  // nullptr: contract timing
    std::string error;
    std::deque<Burst> reads;  // head delivering, the rest queued
    uint64_t next_beat = 0, sent = 0;
    bool any_read_done = false;
    uint64_t last_read_beat = 0;
    bool wcur_has = false;
    Burst wcur;  // the write burst taking beats
    std::deque<std::vector<uint8_t>> wbeats;
    uint64_t last_wbeat = 0;
    std::deque<Burst> acks;  // written, acknowledge pending
    // values driven this cycle
    bool d_req_ready = false, d_rd_valid = false, d_wr_ready = false, d_wr_ack = false;

    Model(std::string n, std::vector<uint8_t>& m, std::unique_ptr<PortIO> p, std::mt19937_64* r)
        : name(std::move(n)), mem(m), io(std::move(p)), rng(r) {}

    bool coin(double p) { return std::uniform_real_distribution<double>(0, 1)(*rng) < p; }
    uint64_t pick(std::initializer_list<uint64_t> xs) {
        std::vector<uint64_t> v(xs);
        return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(*rng)];
    }
    void fail(const std::string& msg) {
        if (error.empty()) error = name + " port: " + msg;
    }
    void promote() {
        if (reads.empty() || reads.front().started) return;
        Burst& b = reads.front();
        b.start = read_start(b.accepted + b.extra, any_read_done, last_read_beat);
        b.started = true;
        next_beat = b.start;
        sent = 0;
    }
    uint64_t queued(uint64_t t) const {
        uint64_t n = reads.size();
        if (n && reads.front().started && t >= reads.front().start) --n;
        return n;
    }

    void drive(uint64_t t) {
        uint8_t rdata[DRAM_BUS_BYTES] = {0};
        promote();
        bool ready = accepts_read(queued(t)) && !wcur_has;
        d_req_ready = ready && (!rng || coin(0.5));
        d_wr_ready = !rng || coin(0.6);
        d_rd_valid = !reads.empty() && t >= next_beat;
        if (d_rd_valid) {
            const Burst& b = reads.front();
            uint64_t a = b.addr + sent * b.size;
            if (a + b.size > mem.size())
                fail("read of bytes [" + std::to_string(a) + ", " + std::to_string(a + b.size) +
                     ") outside the " + std::to_string(mem.size()) + "-byte DRAM image");
            else
                std::memcpy(rdata, mem.data() + a, b.size);
        }
        d_wr_ack = !acks.empty() && t >= acks.front().ack_at;
        io->set(d_req_ready, d_rd_valid, rdata, d_wr_ready, d_wr_ack);
    }

    void observe(uint64_t t) {
        Outputs o;
        io->get(o);
        if (o.req_valid && d_req_ready) {
            Burst b;
            b.addr = o.req_addr;
            b.beats = o.req_len;
            b.size = 1ull << o.req_size;
            b.accepted = t;
            b.extra = rng ? pick({0, 0, 1, 3, DRAM_READ_LATENCY}) : 0;
            if (b.size > DRAM_BUS_BYTES || b.beats == 0) fail("malformed burst");
            else if (o.req_write) {
                wcur = std::move(b);
                wcur_has = true;
            } else
                reads.push_back(std::move(b));
        }
        if (d_rd_valid && o.rd_ready) {
            ++sent;
            next_beat = t + 1 + (rng ? pick({0, 0, 0, 1, 2}) : 0);
            if (sent == reads.front().beats) {
                reads.pop_front();
                any_read_done = true;
                last_read_beat = t;
            }
        }
        if (o.wr_valid && d_wr_ready) {
            wbeats.emplace_back(o.wr_data, o.wr_data + DRAM_BUS_BYTES);
            last_wbeat = t;
        }
        if (d_wr_ack) {
            const Burst& b = acks.front();
            for (uint64_t k = 0; k < b.beats; ++k) {
                uint64_t a = b.addr + k * b.size;
                if (a + b.size > mem.size())
                    fail("write of bytes [" + std::to_string(a) + ", " +
                         std::to_string(a + b.size) + ") outside the " +
                         std::to_string(mem.size()) + "-byte DRAM image");
                else
                    std::memcpy(mem.data() + a, b.data[k].data(), b.size);
            }
            acks.pop_front();
        }
        if (wcur_has && wbeats.size() >= wcur.beats) {
            wcur.data.assign(wbeats.begin(), wbeats.begin() + wcur.beats);
            wbeats.erase(wbeats.begin(), wbeats.begin() + wcur.beats);
            uint64_t extra = rng ? pick({0, 0, 2, DRAM_ACK_LATENCY}) : 0;
            wcur.ack_at = write_ack(wcur.accepted, last_wbeat + extra, !acks.empty(),
                                    acks.empty() ? 0 : acks.back().ack_at);
            acks.push_back(std::move(wcur));
            wcur = Burst();
            wcur_has = false;
        }
    }
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr, "harness: %s\n", msg);
    std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
    std::string dram_in, dram_out, wave;
    uint64_t insn_addr = 0, insn_count = 0, max_cycles = 1ull << 40, stall_bound = 64;
    long long bp_seed = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--dram") dram_in = next();
        else if (a == "--out") dram_out = next();
        else if (a == "--insn-addr") insn_addr = std::stoull(next());
        else if (a == "--insn-count") insn_count = std::stoull(next());
        else if (a == "--max-cycles") max_cycles = std::stoull(next());
        else if (a == "--stall-bound") stall_bound = std::stoull(next());
        else if (a == "--bp-seed") bp_seed = std::stoll(next());
        else if (a == "--wave") wave = next();
        else usage(("unknown argument " + a).c_str());
    }
    if (dram_in.empty() || dram_out.empty()) usage("--dram and --out are required");
    std::vector<uint8_t> mem;
    {
        std::ifstream f(dram_in, std::ios::binary);
        if (!f) usage("cannot read the DRAM image");
        mem.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }

    auto ctx = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vvta_core>(ctx.get());
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> tfp;
    if (!wave.empty()) {
        ctx->traceEverOn(true);
        tfp = std::make_unique<VerilatedVcdC>();
        top->trace(tfp.get(), 99);
        tfp->open(wave.c_str());
    }
#else
    if (!wave.empty()) usage("this model was built without tracing");
#endif
    uint64_t stamp = 0;
    auto half = [&](int clk) {
        top->clk = clk;
        top->eval();
#if VM_TRACE
        if (tfp) tfp->dump(stamp);
#endif
        ++stamp;
    };

    std::vector<std::mt19937_64> rngs;
    for (int i = 0; i < 4; ++i) rngs.emplace_back(static_cast<uint64_t>(bp_seed) * 8 + i);
    std::vector<Model> ports;
    ports.reserve(4);
    ports.emplace_back("fetch", mem, BIND(fetch), bp_seed >= 0 ? &rngs[0] : nullptr);
    ports.emplace_back("load", mem, BIND(load), bp_seed >= 0 ? &rngs[1] : nullptr);
    ports.emplace_back("compute", mem, BIND(compute), bp_seed >= 0 ? &rngs[2] : nullptr);
    ports.emplace_back("store", mem, BIND(store), bp_seed >= 0 ? &rngs[3] : nullptr);

    // reset, then the start pulse (cycle -1)
    top->rst = 1;
    half(0);
    half(1);
    top->rst = 0;
    top->ctrl___05Finsn_addr = static_cast<uint32_t>(insn_addr);
    top->ctrl___05Finsn_count = static_cast<uint32_t>(insn_count);
    top->ctrl___05Fstart = 1;
    half(0);
    half(1);
    top->ctrl___05Fstart = 0;

    std::string status = "timeout";
    std::string message;
    uint64_t t = 0, quiet = 0, cycles = 0;
    bool done = false;
    for (;; ++t) {
        for (auto& p : ports) p.drive(t);
        half(0);
        for (auto& p : ports) p.observe(t);
        for (auto& p : ports)
            if (!p.error.empty()) {
                status = "dram_error";
                message = p.error;
            }
        if (status == "dram_error") break;
        if (!done && top->ctrl___05Fdone) {
            done = true;
            cycles = top->ctrl___05Fcycles;
        }
        if (done && top->ctrl___05Fidle) {
            status = "done";
            break;
        }
        quiet = top->ctrl___05Factive ? 0 : quiet + 1;
        if (quiet > stall_bound) {
            status = "deadlock";
            break;
        }
        if (t >= max_cycles) break;
        half(1);
    }
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    top->final();
    {
        std::ofstream f(dram_out, std::ios::binary);
        f.write(reinterpret_cast<const char*>(mem.data()), static_cast<std::streamsize>(mem.size()));
    }
    std::printf("status=%s cycles=%llu total=%llu done=%d", status.c_str(),
                static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(t),
                done ? 1 : 0);
    if (!message.empty()) std::printf(" message=%s", message.c_str());
    std::printf("\n");
    return 0;
}
