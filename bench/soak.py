"""Soak: a site left running, sampled at a fixed interval, to show that nothing grows.

    python -m bench.soak --cameras 8 --minutes 30 [--interval 60] [--fps 2]

Runs `python -m pipeline.run` (synthetic cameras, the demo model, no dashboard) as a user
does, and every `--interval` seconds samples: RSS and open descriptors of each of its
processes (supervisor, resource tracker, inference, cameras; /proc), the bytes of the site's
segments in /dev/shm, the p99 capture-to-result latency of the frames answered since the
last sample (each camera's detections log), and the restarts so far (pipeline.log). Then it
stops the site with SIGTERM and checks what is left in /dev/shm.

The first sample is taken one interval after every camera answers (models loaded, caches
warm); slopes are least-squares fits over the samples. Last line:
`rss_slope=+N.N MB/h fd_slope=N shm_leak=0 p99_drift=N.N%` with rss_slope the total RSS of
all the site's processes, fd_slope their open descriptors per hour, shm_leak the bytes of
the site's segments grown during the run or left after it, p99_drift the change of the mean
p99 from the first third of the samples to the last third. The line before it also gives the
RSS slope over the second half of the samples alone: whether the growth is levelling off.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the first sample
    rss_mb: dict[str, float]  # per process name
    fds: dict[str, int]
    shm_bytes: int
    p99_ms: float
    frames: int  # answered since the previous sample
    restarts: int


def site_yaml(site: str, run_dir: Path, cameras: int, fps: float, width: int, height: int) -> str:
    lines = [
        f"site: {site}",
        f"output_dir: {run_dir}",
        f"model: {{path: {MODEL}}}",
        "inference: {max_batch: 8, max_wait_ms: 15}",
        "recording: {enabled: true}",
        "cameras:",
    ]
    lines += [
        f"  - id: CAM{n:02d}\n    source: {{kind: synthetic, seed: {60000 + n}, "
        f"width: {width}, height: {height}, fps: {fps}}}"
        for n in range(1, cameras + 1)
    ]
    return "\n".join(lines) + "\n"


def tree(pid: int) -> list[int]:
    """`pid` and every descendant (from /proc/<pid>/task/*/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except FileNotFoundError:
            continue
    return found


def process_name(pid: int, tags: dict[int, str], supervisor: int) -> str:
    if pid == supervisor:
        return "supervisor"
    if pid in tags:
        return tags[pid]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as command:
            text = command.read().decode(errors="replace")
    except FileNotFoundError:
        return f"pid{pid}"
    return "resource_tracker" if "resource_tracker" in text else f"pid{pid}"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def shm_bytes(site: str) -> int:
    total = 0
    for name in os.listdir("/dev/shm"):
        if name.startswith(f"vigia_{site}_"):
            try:
                total += os.stat(f"/dev/shm/{name}").st_blocks * 512
            except FileNotFoundError:
                continue
    return total


class Latencies:
    """New capture-to-result latencies from the detections log since the last read."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def read(self) -> list[float]:
        if not self._path.exists():
            return []
        with self._path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        values = []
        for line in complete.splitlines():
            try:
                values.append(float(json.loads(line)["latency_ms"]))
            except (ValueError, KeyError):
                continue
        return values


def worker_pids(log: str) -> dict[int, str]:
    return {
        int(pid): tag
        for tag, pid in re.findall(r"\[(\w+)\] \[INFO\] \w+ Worker started \(pid (\d+)\)", log)
    }


def slope_per_hour(times: list[float], values: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return float(np.polyfit(np.array(times) / 3600.0, np.array(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--fps", type=float, default=2.0, help="frames/s of each camera")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--folder", type=Path, help="where the site runs (default: a temp dir)")
    args = parser.parse_args()

    folder = args.folder or Path(tempfile.mkdtemp(prefix="vigia-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    site = f"soak{secrets.token_hex(2)}"
    run_dir = folder / "run"
    config = folder / "site.yaml"
    config.write_text(site_yaml(site, run_dir, args.cameras, args.fps, args.width, args.height))
    output = (folder / "output.txt").open("wb")
    command = [sys.executable, "-m", "pipeline.run", str(config), "--no-dashboard"]
    process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    print(
        f"soak: {args.cameras} cameras at {args.fps:g} frames/s, {args.minutes:g} min, in {folder}"
    )
    log_path = run_dir / "pipeline.log"
    latencies = Latencies(run_dir / "detections.jsonl")
    try:
        samples = soak(process, site, log_path, latencies, args)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(120)
    left = shm_bytes(site)
    report(samples, left, code)


def soak(
    process: subprocess.Popen[bytes],
    site: str,
    log_path: Path,
    latencies: Latencies,
    args: argparse.Namespace,
) -> list[Sample]:
    deadline = time.monotonic() + 600
    while len(set(worker_pids(_read(log_path)).values())) < args.cameras + 1:
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"the site did not start; see {log_path}")
        time.sleep(1)
    time.sleep(args.interval)
    latencies.read()  # warm-up frames are not counted
    samples: list[Sample] = []
    started = time.monotonic()
    end = started + args.minutes * 60
    while True:
        time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
        now = time.monotonic()
        log = _read(log_path)
        tags = worker_pids(log)
        rss: dict[str, float] = {}
        fds: dict[str, int] = {}
        for pid in tree(process.pid):
            name = process_name(pid, tags, process.pid)
            try:
                rss[name], fds[name] = rss_mb(pid), open_fds(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        values = latencies.read()
        sample = Sample(
            at=now - started,
            rss_mb=rss,
            fds=fds,
            shm_bytes=shm_bytes(site),
            p99_ms=float(np.percentile(values, 99)) if values else float("nan"),
            frames=len(values),
            restarts=log.count("restarted (pid"),
        )
        samples.append(sample)
        print(
            f"t={sample.at / 60:5.1f} min rss={sum(rss.values()):7.1f} MB "
            f"(supervisor {rss.get('supervisor', 0):.0f}, inference {rss.get('INFERENCE', 0):.0f}, "
            f"max camera {max((v for k, v in rss.items() if k.startswith('CAM')), default=0):.0f}) "
            f"fds={sum(fds.values())} shm={sample.shm_bytes} p99={sample.p99_ms:.0f} ms "
            f"frames={sample.frames} restarts={sample.restarts} processes={len(rss)}",
            flush=True,
        )
        if now >= end - 0.5 or process.poll() is not None:
            return samples


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def report(samples: list[Sample], left: int, code: int) -> None:
    times = [s.at for s in samples]
    rss = slope_per_hour(times, [sum(s.rss_mb.values()) for s in samples])
    fds = slope_per_hour(times, [float(sum(s.fds.values())) for s in samples])
    grown = max(s.shm_bytes for s in samples) - samples[0].shm_bytes if samples else 0
    third = max(1, len(samples) // 3)
    p99 = [s.p99_ms for s in samples if not np.isnan(s.p99_ms)]
    first, last = statistics.fmean(p99[:third]), statistics.fmean(p99[-third:])
    drift = (last - first) / first * 100 if first else 0.0
    half = len(samples) // 2  # allocators and caches settle early: the second half alone
    late = slope_per_hour(times[half:], [sum(s.rss_mb.values()) for s in samples[half:]])
    print(
        f"samples={len(samples)} exit={code} restarts={samples[-1].restarts if samples else 0} "
        f"p99 first third {first:.0f} ms, last third {last:.0f} ms; shm left {left} bytes; "
        f"rss slope over the second half {late:+.1f} MB/h"
    )
    print(
        f"rss_slope={rss:+.1f} MB/h fd_slope={round(fds) + 0} shm_leak={max(grown, 0) + left} "
        f"p99_drift={drift:.1f}%"
    )


if __name__ == "__main__":
    main()
