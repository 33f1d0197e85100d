// Verilator harness for the whole SoC (vta_soc = SocCore): the host link as a byte pipe.
//
// Bytes read from stdin are sent to the SoC's UART RX pin as 8N1 characters of DIVISOR
// cycles per bit; characters the SoC sends on its TX pin are decoded (sampled mid-bit) and
// written to stdout.  So the host side (runtime.fpga_device.SimulatedSocTransport) speaks the
// same protocol, byte for byte, as it would over /dev/ttyUSB0 -- the SoC's own UART, bridge,
// DRAM and core are all in the loop.
//
// The clock only runs while something is in progress: when no input is pending, no character
// is on either line and the SoC reports not busy (bridge idle, core not running), the harness
// blocks on stdin, so an idle simulation costs no CPU and the bridge's byte timeout never
// fires because the host is slow.  End of input ends the simulation.
//
// usage: vta_soc_sim --divisor D [--wave FILE]
// On exit prints "cycles=<simulated cycles>" to stderr.

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "Vvta_soc.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

namespace {

struct Serializer {  // host -> SoC RX pin
    int divisor;
    int bit = -1;  // -1: idle, else index 0..9 of the bit being sent
    int timer = 0;
    uint16_t frame = 0;
    bool busy() const { return bit >= 0; }
    // value of the line for this cycle; takes the next byte from q when idle
    int line(std::deque<uint8_t>& q) {
        if (bit < 0) {
            if (q.empty()) return 1;
            frame = static_cast<uint16_t>((1u << 9) | (static_cast<unsigned>(q.front()) << 1));
            q.pop_front();
            bit = 0;
            timer = divisor;
        }
        int v = (frame >> bit) & 1;
        if (--timer == 0) {
            timer = divisor;
            if (++bit == 10) bit = -1;
        }
        return v;
    }
};

struct Deserializer {  // SoC TX pin -> host
    int divisor;
    bool active = false;
    uint64_t start = 0;
    int next = 0;  // next sample index: 0 = start bit, 1..8 data, 9 stop
    unsigned data = 0;
    // returns a byte (0..255) when a character completes, else -1
    int sample(uint64_t t, int tx) {
        if (!active) {
            if (tx == 0) {
                active = true;
                start = t;
                next = 0;
                data = 0;
            }
            return -1;
        }
        uint64_t at = start + divisor / 2 + static_cast<uint64_t>(next) * divisor;
        if (t != at) return -1;
        if (next == 0) {
            if (tx != 0) active = false;  // glitch
        } else if (next <= 8) {
            data |= static_cast<unsigned>(tx) << (next - 1);
        } else {
            active = false;
            return tx ? static_cast<int>(data) : -1;  // framing error: drop
        }
        ++next;
        return -1;
    }
};

bool read_input(std::deque<uint8_t>& q, bool block, bool& eof) {
    struct pollfd p = {0, POLLIN, 0};
    int r = poll(&p, 1, block ? -1 : 0);
    if (r <= 0) return false;
    uint8_t buf[4096];
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0) {
        eof = true;
        return false;
    }
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return false;
        eof = true;
        return false;
    }
    q.insert(q.end(), buf, buf + n);
    return true;
}

void write_all(std::vector<uint8_t>& out) {
    size_t off = 0;
    while (off < out.size()) {
        ssize_t n = write(1, out.data() + off, out.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::exit(0);  // the host went away
        }
        off += static_cast<size_t>(n);
    }
    out.clear();
}

}  // namespace

int main(int argc, char** argv) {
    int divisor = 0;
    const char* wave = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--divisor" && i + 1 < argc) divisor = std::atoi(argv[++i]);
        else if (a == "--wave" && i + 1 < argc) wave = argv[++i];
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (divisor < 4) {
        std::fprintf(stderr, "--divisor >= 4 is required\n");
        return 2;
    }
    auto ctx = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vvta_soc>(ctx.get());
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
    if (wave) {
        ctx->traceEverOn(true);
        vcd = std::make_unique<VerilatedVcdC>();
        top->trace(vcd.get(), 99);
        vcd->open(wave);
    }
#else
    (void)wave;
#endif
    uint64_t t = 0;
    auto tick = [&]() {
        top->clk = 0;
        top->eval();
#if VM_TRACE
        if (vcd) vcd->dump(2 * t);
#endif
        top->clk = 1;
        top->eval();
#if VM_TRACE
        if (vcd) vcd->dump(2 * t + 1);
#endif
        ++t;
    };
    top->rx = 1;
    top->rst = 1;
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;

    Serializer ser{divisor};
    Deserializer des{divisor};
    std::deque<uint8_t> in;
    std::vector<uint8_t> out;
    bool eof = false;
    uint64_t since_poll = 0;
    while (true) {
        if (!ser.busy() && in.empty() && !des.active && !top->busy) {
            // nothing in progress: hand the replies over and wait for the host
            if (!out.empty()) write_all(out);
            if (eof) break;
            read_input(in, true, eof);
            since_poll = 0;
            continue;
        }
        if (++since_poll >= 64) {
            since_poll = 0;
            if (!eof) read_input(in, false, eof);
            if (eof && in.empty() && !ser.busy()) break;  // the host went away
        }
        top->rx = ser.line(in);
        tick();
        int b = des.sample(t, top->tx);
        if (b >= 0) {
            out.push_back(static_cast<uint8_t>(b));
            write_all(out);  // a reply may be awaited while the core keeps the clock running
        }
    }
    if (!out.empty()) write_all(out);
#if VM_TRACE
    if (vcd) vcd->close();
#endif
    top->final();
    std::fprintf(stderr, "cycles=%llu\n", static_cast<unsigned long long>(t));
    return 0;
}
