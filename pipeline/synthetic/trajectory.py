"""Where each worker is at time t: periodic worker slots with parametric walking paths.

A scene has a fixed number of worker *slots*. Each slot repeats with its own period; every
repetition (a *cycle*) is a new worker with its own look and path, derived from
(seed, slot, cycle) alone. Within a cycle the worker walks in from outside the view (left,
right or the far distance) to a spot inside it, may stop there for a while (and take the
helmet off or put it on), then walks out again. So the state at time t needs no history:
any frame can be rendered first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from pipeline.synthetic import palette
from pipeline.synthetic.camera import GroundCamera
from pipeline.synthetic.figures import Appearance, HeadCover, Pose
from pipeline.synthetic.seeding import Stream, stream

SIDE_MARGIN_M = 1.0  # beyond the view edge: a figure this far out is wholly outside
# Worker plans kept per crowd. A live source needs only each slot's current cycle; a plan costs
# ~0.2 ms to make, so a small cache keeps an endless source's memory flat within minutes
# (at 4,096 plans it grew for hours: ~16 plans a minute, ~0.8 kB each).
PLAN_CACHE = 64
STRIDE_PER_HEIGHT = 0.83  # stride length (two steps) per metre of body height


class Edge(Enum):
    LEFT = "left"
    RIGHT = "right"
    FAR = "far"


@dataclass(frozen=True)
class WorkerState:
    """One worker at one instant: ground position in metres, posture and clothing."""

    worker_id: int
    x_m: float
    z_m: float
    pose: Pose
    appearance: Appearance
    wears_helmet: bool


@dataclass(frozen=True)
class WorkerPlan:
    """One worker's visit: times are seconds from the start of the slot's cycle."""

    worker_id: int
    appearance: Appearance
    start: tuple[float, float]
    stop: tuple[float, float]
    end: tuple[float, float]
    speed_m_s: float
    enter_time: float
    pause_s: float
    works_while_stopped: bool
    helmet_at_start: bool
    helmet_switch_time: float | None  # when the helmet comes off (or goes on), if it does

    @property
    def arrive_time(self) -> float:
        return self.enter_time + _distance(self.start, self.stop) / self.speed_m_s

    @property
    def leave_time(self) -> float:
        return self.arrive_time + self.pause_s

    @property
    def exit_time(self) -> float:
        return self.leave_time + _distance(self.stop, self.end) / self.speed_m_s

    def state_at(self, t: float) -> WorkerState | None:
        """The worker at cycle time `t`, or None when not on stage."""
        if not self.enter_time <= t <= self.exit_time:
            return None
        first_leg = _distance(self.start, self.stop)
        stride_m = STRIDE_PER_HEIGHT * self.appearance.height_m
        if t < self.arrive_time:
            travelled = (t - self.enter_time) * self.speed_m_s
            position = _along(self.start, self.stop, travelled)
            heading, stride, arm_work = _heading(self.start, self.stop), 1.0, 0.0
        elif t < self.leave_time:
            travelled = first_leg
            position = self.stop
            heading, stride = _heading(self.start, self.stop), 0.0
            arm_work = 0.5 + 0.5 * math.sin(2.4 * t) if self.works_while_stopped else 0.0
        else:
            walked = (t - self.leave_time) * self.speed_m_s
            travelled = first_leg + walked
            position = _along(self.stop, self.end, walked)
            heading, stride, arm_work = _heading(self.stop, self.end), 1.0, 0.0
        lateral = min(1.0, abs(heading[0]) * 1.15)
        pose = Pose(
            gait_phase=2 * math.pi * travelled / stride_m,
            stride=stride,
            lateral=lateral,
            facing=1 if heading[0] >= 0 else -1,
            towards_camera=heading[1] < 0,
            arm_work=arm_work,
        )
        wears = self.helmet_at_start
        if self.helmet_switch_time is not None and t >= self.helmet_switch_time:
            wears = not wears
        return WorkerState(self.worker_id, position[0], position[1], pose, self.appearance, wears)


@dataclass(frozen=True)
class WorkerSlot:
    index: int
    period_s: float
    phase: float  # fraction of a period already elapsed at t = 0


class Crowd:
    """All worker slots of one scene."""

    def __init__(self, seed: int, camera: GroundCamera) -> None:
        self.seed = seed
        self.camera = camera
        rng = stream(seed, Stream.SLOTS)
        count = int(rng.integers(3, 9))
        self.slots = [
            WorkerSlot(i, float(rng.uniform(22.0, 45.0)), float(rng.uniform(0.0, 1.0)))
            for i in range(count)
        ]
        self._plans: dict[tuple[int, int], WorkerPlan] = {}

    def states_at(self, t: float) -> list[WorkerState]:
        states = []
        for slot in self.slots:
            position = t / slot.period_s + slot.phase
            cycle = math.floor(position)
            plan = self._plan(slot, cycle)
            state = plan.state_at((position - cycle) * slot.period_s)
            if state is not None:
                states.append(state)
        return states

    def _plan(self, slot: WorkerSlot, cycle: int) -> WorkerPlan:
        key = (slot.index, cycle)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= PLAN_CACHE:
                self._plans.clear()
            worker_id = cycle * len(self.slots) + slot.index
            plan = plan_worker(self.seed, self.camera, slot, cycle, worker_id)
            self._plans[key] = plan
        return plan


def plan_worker(
    seed: int, camera: GroundCamera, slot: WorkerSlot, cycle: int, worker_id: int
) -> WorkerPlan:
    """The visit of slot `slot` in cycle `cycle`, a pure function of its arguments."""
    rng = stream(seed, Stream.WORKER, slot.index, cycle)
    appearance = random_appearance(rng)
    near, far = camera.near_depth_m, camera.far_depth_m
    start = _edge_point(rng, camera, _pick_edge(rng))
    end = _edge_point(rng, camera, _pick_edge(rng))
    stop_z = camera.log_uniform_depth(rng, near, far * 0.7)
    stop = (float(rng.uniform(-0.85, 0.85)) * camera.half_view_width_m(stop_z), stop_z)
    pause = 0.0 if rng.random() < 0.45 else float(rng.uniform(1.5, 12.0))
    pause = min(pause, 0.3 * slot.period_s)
    length = _distance(start, stop) + _distance(stop, end)
    budget = slot.period_s - 1.0 - pause
    speed = max(float(rng.uniform(0.9, 1.6)), length / budget)
    duration = length / speed + pause
    enter = float(rng.uniform(0.0, max(0.0, slot.period_s - 0.5 - duration)))
    arrive = enter + _distance(start, stop) / speed

    wears = bool(rng.random() < 0.72)
    switch_chance = 0.3 if wears else 0.12
    switch = None
    if rng.random() < switch_chance:
        switch = arrive + 0.5 + pause * float(rng.uniform(0.2, 0.8))
    return WorkerPlan(
        worker_id=worker_id,
        appearance=appearance,
        start=start,
        stop=stop,
        end=end,
        speed_m_s=speed,
        enter_time=enter,
        pause_s=pause,
        works_while_stopped=bool(rng.random() < 0.5),
        helmet_at_start=wears,
        helmet_switch_time=switch,
    )


def random_appearance(rng: np.random.Generator) -> Appearance:
    helmet_name = list(palette.HELMET_COLOURS)[int(rng.integers(len(palette.HELMET_COLOURS)))]
    vest = None
    if rng.random() < 0.7:
        vest_name = "orange" if rng.random() < 0.5 else "yellow-green"
        vest = palette.jitter(palette.VEST_COLOURS[vest_name], rng, 12)
    cover_roll = rng.random()
    head_cover = (
        HeadCover.BEANIE
        if cover_roll < 0.2
        else HeadCover.BALD
        if cover_roll < 0.3
        else HeadCover.HAIR
    )
    return Appearance(
        height_m=float(rng.uniform(1.6, 1.92)),
        build=float(rng.uniform(0.9, 1.15)),
        skin=palette.jitter(palette.pick(rng, palette.SKIN_COLOURS), rng, 10),
        hair=palette.jitter(palette.pick(rng, palette.HAIR_COLOURS), rng, 8),
        head_cover=head_cover,
        beanie=palette.jitter(palette.pick(rng, palette.BEANIE_COLOURS), rng, 10),
        shirt=palette.jitter(palette.pick(rng, palette.SHIRT_COLOURS), rng, 15),
        trousers=palette.jitter(palette.pick(rng, palette.TROUSER_COLOURS), rng, 12),
        boots=palette.pick(rng, palette.BOOT_COLOURS),
        helmet=palette.jitter(palette.HELMET_COLOURS[helmet_name], rng, 10),
        vest=vest,
    )


def _pick_edge(rng: np.random.Generator) -> Edge:
    roll = rng.random()
    return Edge.LEFT if roll < 0.42 else Edge.RIGHT if roll < 0.84 else Edge.FAR


def _edge_point(rng: np.random.Generator, camera: GroundCamera, edge: Edge) -> tuple[float, float]:
    if edge is Edge.FAR:
        z = camera.far_depth_m * 1.15
        return (float(rng.uniform(-0.8, 0.8)) * camera.half_view_width_m(z), z)
    z = camera.log_uniform_depth(rng, camera.near_depth_m * 1.05, camera.far_depth_m * 0.85)
    x = camera.half_view_width_m(z) + SIDE_MARGIN_M
    return (-x if edge is Edge.LEFT else x, z)


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def _heading(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    length = _distance(a, b)
    if length < 1e-9:
        return (1.0, 0.0)
    return ((b[0] - a[0]) / length, (b[1] - a[1]) / length)


def _along(a: tuple[float, float], b: tuple[float, float], metres: float) -> tuple[float, float]:
    length = _distance(a, b)
    if length < 1e-9:
        return a
    fraction = min(1.0, metres / length)
    return (a[0] + (b[0] - a[0]) * fraction, a[1] + (b[1] - a[1]) * fraction)
