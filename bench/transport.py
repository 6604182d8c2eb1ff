"""Frame transport benchmark: pickled frames through mp.Queue vs FrameRing vs plain memcpy.

    python -m bench.transport --producers 4 --height 1080 --width 1920 [--seconds 5]

N producer processes (spawn) each act like a camera and one consumer (this process) acts
like the inference process, in three phases of the same run:

(a) queue:   every producer fills a new frame and puts it on one shared mp.Queue(maxsize=...)
             (the predecessor's design); the consumer gets it and copies it into its buffer.
(b) ring:    every producer fills the next slot of its own FrameRing in place and publishes it,
             keeping at most --in-flight frames unanswered (it sleeps briefly while the ring is
             full, as a camera would drop); the consumer polls newest() across the rings,
             copies each new frame into its buffer with read_into() and answers through the
             producer's ResultRing, as inference does.
(c) memcpy:  one thread np.copyto()s frame-sized buffers rotated through a pool larger than
             the last-level cache: the memory bandwidth ceiling of (b)'s copy.

"frames/s" counts frames that reached the consumer's buffer; "GB/s" is frames/s times the
frame size (10^9 bytes). The last line is `ring/queue = N.Nx, ring = NN% of memcpy`.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import queue
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np

from pipeline.detections import Detections
from pipeline.shm.ring import FrameMeta, FrameRing, ResultRing
from pipeline.shm.segments import SegmentNames, run_prefix

WARMUP_S = 0.5  # after every producer has delivered a frame: page faults, caches, scheduling
PRODUCER_WAIT_S = 0.0002  # a producer's sleep while its ring is full
CONSUMER_IDLE_S = 0.00005  # the consumer's sleep after a pass that found no new frame
START_TIMEOUT_S = 60.0
MIN_POOL_BYTES = 256 << 20
NO_DETECTIONS = Detections.empty()


@dataclass
class Measurement:
    """Frames that reached the consumer's buffer in `seconds` of measurement."""

    method: str
    frame_bytes: int
    detail: str
    frames: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    torn: int | None = None  # torn reads (ring only)
    wrong: int = 0  # frames whose pixels did not match their seq: a transport bug

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    @property
    def gbps(self) -> float:
        return self.fps * self.frame_bytes / 1e9

    def add(self, other: Measurement) -> None:
        """Fold in another round of the same method."""
        self.frames += other.frames
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        if other.torn is not None:
            self.torn = (self.torn or 0) + other.torn
        self.wrong += other.wrong

    def row(self) -> str:
        notes = [self.detail]
        if self.latencies_ms:
            notes.insert(0, f"latency median {statistics.median(self.latencies_ms):.1f} ms")
        if self.torn is not None:
            notes.append(f"{self.torn} torn reads")
        if self.wrong:
            notes.append(f"{self.wrong} WRONG FRAMES")
        return f"{self.method:<12}{self.fps:>11,.1f}{self.gbps:>9.2f}   {', '.join(notes)}"


def pixel_value(seq: int) -> int:
    return seq % 251


# -- (a) pickled frames through one mp.Queue ----------------------------------------------


def queue_producer(index: int, shape: tuple[int, int, int], frames: mp.Queue, stop: Event) -> None:
    seq = 0
    while not stop.is_set():
        seq += 1
        frame = np.empty(shape, np.uint8)  # a decoder hands out a new frame each time
        frame.fill(pixel_value(seq))
        item = (index, seq, time.monotonic(), frame)
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                break
            except queue.Full:
                continue


def bench_queue(
    producers: int, shape: tuple[int, int, int], seconds: float, size: int
) -> Measurement:
    context = mp.get_context("spawn")
    frames: mp.Queue = context.Queue(maxsize=size)
    stop = context.Event()
    workers = [
        context.Process(target=queue_producer, args=(i, shape, frames, stop), daemon=True)
        for i in range(producers)
    ]
    for worker in workers:
        worker.start()
    buffer = np.empty(shape, np.uint8)
    result = Measurement("(a) queue", buffer.nbytes, f"maxsize {size}", seconds=seconds)
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(seen) < producers:  # every producer started and delivering
            index, _, _, frame = frames.get(timeout=max(0.1, deadline - time.monotonic()))
            seen.add(index)
        start = time.monotonic() + WARMUP_S
        end = start + seconds
        while (now := time.monotonic()) < end:
            index, seq, captured_at, frame = frames.get(timeout=10)
            np.copyto(buffer, frame)
            if now >= start:
                result.frames += 1
                result.latencies_ms.append((time.monotonic() - captured_at) * 1e3)
                result.wrong += int(buffer[-1, -1, -1]) != pixel_value(seq)
    finally:
        stop.set()
        # A producer cannot exit while its queue feeder still holds frames: drain, then join.
        while any(worker.is_alive() for worker in workers):
            try:
                frames.get(timeout=0.05)
            except queue.Empty:
                continue
        for worker in workers:
            worker.join(10)
        frames.close()
    return result


# -- (b) one FrameRing per producer, answers through a ResultRing ---------------------------


def ring_producer(
    frames_name: str,
    results_name: str,
    slots: int,
    shape: tuple[int, int, int],
    in_flight: int,
    stop: Event,
) -> None:
    ring = FrameRing.attach(frames_name, slots, shape[0], shape[1])
    answers = ResultRing.attach(results_name, slots, 1)
    published = answered = 0
    while not stop.is_set():
        if published - answered >= in_flight:
            # The consumer answers the newest frame it took; older ones were skipped.
            for seq in range(published, answered, -1):
                if answers.read(seq) is not None:
                    answered = seq
                    break
            else:
                time.sleep(PRODUCER_WAIT_S)
                continue
        seq = ring.next_seq
        ring.begin_write().fill(pixel_value(seq))
        ring.publish(
            FrameMeta(seq, seq, seq / 25, time.monotonic(), shape[1], shape[0], 1.0, 1.0, 0, 0)
        )
        published = seq
    ring.close()
    answers.close()


def bench_ring(
    producers: int, shape: tuple[int, int, int], seconds: float, slots: int, in_flight: int
) -> Measurement:
    context = mp.get_context("spawn")
    names = SegmentNames(run_prefix("bench"))
    height, width, _ = shape
    rings: list[FrameRing] = []
    answers: list[ResultRing] = []
    stop = context.Event()
    workers = [
        context.Process(
            target=ring_producer,
            args=(names.frames(i), names.results(i), slots, shape, in_flight, stop),
            daemon=True,
        )
        for i in range(producers)
    ]
    buffer = np.empty(shape, np.uint8)
    result = Measurement(
        "(b) ring", buffer.nbytes, f"{slots} slots, {in_flight} in flight", seconds=seconds, torn=0
    )
    torn = 0
    try:
        for i in range(producers):
            rings.append(FrameRing.create(names.frames(i), slots, height, width))
            answers.append(ResultRing.create(names.results(i), slots, 1))
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(ring.newest() for ring in rings):
            if time.monotonic() > deadline or not all(w.is_alive() for w in workers):
                raise RuntimeError("ring producers did not start")
            time.sleep(0.01)
        last = [0] * producers
        start = time.monotonic() + WARMUP_S
        end = start + seconds
        while (now := time.monotonic()) < end:
            took = False
            for index, ring in enumerate(rings):
                newest = ring.newest()
                if newest is None or newest[0] <= last[index]:
                    continue
                meta = ring.read_into(newest[1], buffer)
                if meta is None:
                    torn += 1
                    continue
                answers[index].write(meta.seq, NO_DETECTIONS, 1, 0.0)
                last[index] = meta.seq
                took = True
                if now >= start:
                    result.frames += 1
                    result.latencies_ms.append((time.monotonic() - meta.captured_at) * 1e3)
                    result.wrong += int(buffer[-1, -1, -1]) != pixel_value(meta.seq)
            if not took:
                time.sleep(CONSUMER_IDLE_S)
    finally:
        stop.set()
        for worker in workers:
            if worker.pid is not None:  # started
                worker.join(10)
        segments: list[FrameRing | ResultRing] = [*rings, *answers]
        for shared in segments:
            shared.close()
            shared.unlink()
    result.torn = torn
    return result


# -- (c) memcpy --------------------------------------------------------------------------


def last_level_cache_bytes(cpu: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Size of cpu0's highest-level cache in bytes (0 when sysfs does not say)."""
    best_level, best_size = 0, 0
    for index in cpu.glob("index*"):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        size = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
        if level > best_level or (level == best_level and size > best_size):
            best_level, best_size = level, size
    return best_size


def bench_memcpy(shape: tuple[int, int, int], seconds: float) -> Measurement:
    llc = last_level_cache_bytes()
    frame_bytes = math.prod(shape)
    pool_bytes = max(4 * llc, MIN_POOL_BYTES)
    count = max(4, math.ceil(pool_bytes / frame_bytes))
    pool = np.empty((count, *shape), np.uint8)
    pool.fill(1)  # fault every page in before timing
    half = count // 2  # a source was last written half a pool ago: long evicted from cache
    result = Measurement(
        "(c) memcpy",
        frame_bytes,
        f"1 thread, pool {pool.nbytes >> 20} MiB = {count} frames, LLC {llc >> 20} MiB",
    )
    for i in range(count):  # one untimed pass
        np.copyto(pool[(i + half) % count], pool[i])
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        np.copyto(pool[(i + half) % count], pool[i % count])
        i += 1
    result.frames, result.seconds = i, time.perf_counter() - start
    return result


# -- command line ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.transport", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--producers", type=int, default=4, help="producer processes (cameras)")
    parser.add_argument("--height", type=int, default=1080, help="frame height, pixels")
    parser.add_argument("--width", type=int, default=1920, help="frame width, pixels")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per method")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds of (a), (b), (c) sharing --seconds, so that background load "
        "drifting during the run weighs on every method alike",
    )
    parser.add_argument("--slots", type=int, default=4, help="FrameRing slots per producer")
    parser.add_argument(
        "--in-flight", type=int, default=1, help="unanswered frames a ring producer may have"
    )
    parser.add_argument(
        "--queue-size", type=int, default=0, help="mp.Queue maxsize (0: 2 per producer)"
    )
    args = parser.parse_args(argv)
    if min(args.producers, args.height, args.width, args.slots, args.rounds) < 1:
        parser.error("producers, height, width, slots and rounds must be at least 1")
    if args.seconds <= 0:
        parser.error("seconds must be positive")
    if not 1 <= args.in_flight <= args.slots:
        parser.error(f"--in-flight must be between 1 and --slots ({args.slots})")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    shape = (args.height, args.width, 3)
    queue_size = args.queue_size or 2 * args.producers
    seconds = args.seconds / args.rounds
    print(
        f"Frame transport: {args.producers} producers -> 1 consumer, {args.height}x{args.width}x3 "
        f"uint8 ({math.prod(shape) / 1e6:.1f} MB/frame), {args.seconds:g} s per method "
        f"in {args.rounds} interleaved rounds",
        flush=True,
    )
    totals: list[Measurement] = []
    for round_number in range(1, args.rounds + 1):
        measured = [
            bench_queue(args.producers, shape, seconds, queue_size),
            bench_ring(args.producers, shape, seconds, args.slots, args.in_flight),
            bench_memcpy(shape, seconds),
        ]
        print(
            f"round {round_number}: "
            + ", ".join(f"{m.method[4:]} {m.fps:,.1f}" for m in measured)
            + " frames/s",
            flush=True,
        )
        if not totals:
            totals = measured
        else:
            for total, more in zip(totals, measured, strict=True):
                total.add(more)
    by_queue, by_ring, by_memcpy = totals
    print(f"{'method':<12}{'frames/s':>11}{'GB/s':>9}   notes")
    for total in totals:
        print(total.row())
    print(
        f"ring/queue = {by_ring.fps / by_queue.fps:.1f}x, "
        f"ring = {100 * by_ring.fps / by_memcpy.fps:.0f}% of memcpy"
    )


if __name__ == "__main__":
    main()
