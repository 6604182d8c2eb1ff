"""Scripted visits of a compliance scene: the cases a PPE alert must get right, on purpose.

A compliance scene (`WorksiteScene(compliance=True)`) keeps the seed's camera, ground and
clutter, adds props and replaces the random crowd by scripted worker slots. Like the plain
crowd, each slot repeats with its own period and every repetition is a new worker whose
visit is a pure function of (seed, slot, cycle); what differs is what the visits do:

- `Visit.COMPLIANT`: wears hard hat and vest throughout (walks through, or stops to work).
- `Visit.HELMET_OFF_ON` / `Visit.VEST_OFF_ON`: stops inside the zone, takes the item off for
  5-12 s and puts it back on before walking out.
- `Visit.BRIEF_OFF`: the same, off for 0.6-1.5 s only (shorter than a violation takes).
- `Visit.BARE`: without the hard hat, the vest, or both, for the whole visit.
- `Visit.FAR`: bare-headed, standing at the far edge of the zone or beyond: too small to judge.
- `Visit.BEHIND`: bare-headed, walks behind the cabin (hidden for a few seconds) and on.
- `Visit.CROSSING`: the scene's two pair slots share period and phase: one worker walks
  left to right, the other right to left a little further away, and they pass each other
  inside the zone at the same moment; one or both of them without a hard hat.

Props (`props()`): a site cabin inside the zone, and a work spot inside the zone with a hard
hat lying on a crate and a tarp in vest colours; half the stopping visits stand just behind
the work spot, so that look-alikes sit next to workers. Times are seconds from the start of
a slot's cycle; ground positions metres (camera.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from pipeline.synthetic import palette
from pipeline.synthetic.background import Prop
from pipeline.synthetic.camera import PERSON_HEIGHT_M, GroundCamera
from pipeline.synthetic.clutter import CABIN_SIZE
from pipeline.synthetic.figures import Appearance
from pipeline.synthetic.seeding import Stream, stream
from pipeline.synthetic.trajectory import (
    PLAN_CACHE,
    SIDE_MARGIN_M,
    WorkerPlan,
    WorkerSlot,
    WorkerState,
    random_appearance,
)
from pipeline.synthetic.zone import GroundPatch, WorkZone


class Visit(str, Enum):
    COMPLIANT = "compliant"
    HELMET_OFF_ON = "helmet off and on"
    VEST_OFF_ON = "vest off and on"
    BRIEF_OFF = "brief off"
    BARE = "bare"
    FAR = "far"
    BEHIND = "behind the cabin"
    CROSSING = "crossing"


# How often each kind of visit is drawn for a single slot's cycle.
VISIT_WEIGHTS: dict[Visit, float] = {
    Visit.COMPLIANT: 0.24,
    Visit.HELMET_OFF_ON: 0.2,
    Visit.VEST_OFF_ON: 0.12,
    Visit.BRIEF_OFF: 0.1,
    Visit.BARE: 0.18,
    Visit.FAR: 0.06,
    Visit.BEHIND: 0.1,
}
# Person heights (fractions of the frame height) where stopping visits stand in the zone.
STOP_FRACTIONS = (0.17, 0.5)
FAR_FRACTIONS = (0.075, 0.115)


@dataclass(frozen=True)
class ScriptedPlan:
    """A worker's visit: the path of `motion`, with the hard hat and the vest taken off or
    put on at the given cycle times (each time toggles the item)."""

    motion: WorkerPlan
    visit: Visit
    helmet_switches: tuple[float, ...] = ()
    vest_switches: tuple[float, ...] = ()

    def state_at(self, t: float) -> WorkerState | None:
        state = self.motion.state_at(t)
        if state is None:
            return None
        helmet = self.motion.helmet_at_start ^ _odd(self.helmet_switches, t)
        appearance = state.appearance
        if appearance.vest is not None and _odd(self.vest_switches, t):
            appearance = replace(appearance, vest=None)
        return replace(state, wears_helmet=helmet, appearance=appearance)


@dataclass(frozen=True)
class Layout:
    """Where the props stand (ground metres): the cabin's front-face centre and the spot."""

    cabin: tuple[float, float]
    spot: tuple[float, float]

    def props(self, seed: int) -> tuple[Prop, ...]:
        x, z = self.spot
        return (
            Prop("cabin", self.cabin[0], self.cabin[1], seed * 8 + 1),
            Prop("helmet_on_crate", x - 0.9, z, seed * 8 + 2),
            Prop("tarp", x + 0.9, z + 0.2, seed * 8 + 3),
        )


def depth_for(camera: GroundCamera, fraction: float) -> float:
    """Ground depth (metres) where a person is `fraction` of the frame height tall."""
    return camera.focal_px * PERSON_HEIGHT_M / (fraction * camera.height)


def plan_layout(seed: int, camera: GroundCamera, zone: WorkZone) -> Layout:
    """The cabin and the work spot, both inside the zone and the view, on opposite sides."""
    rng = stream(seed, Stream.SCRIPT_PROPS)
    ground = zone.ground
    side = 1.0 if rng.random() < 0.5 else -1.0
    spot_z = camera.log_uniform_depth(rng, depth_for(camera, 0.45), depth_for(camera, 0.28))
    spot_x = _inside(ground, camera, spot_z, side * float(rng.uniform(0.15, 0.45)))
    # Far enough that the cabin is at most a fifth of the view wide.
    cabin_z = max(
        camera.log_uniform_depth(rng, depth_for(camera, 0.26), depth_for(camera, 0.18)),
        5.0 * CABIN_SIZE[0] * camera.focal_px / camera.width,
    )
    cabin_x = _inside(ground, camera, cabin_z, -side * float(rng.uniform(0.2, 0.5)))
    return Layout(cabin=(cabin_x, cabin_z), spot=(spot_x, spot_z))


@dataclass(frozen=True)
class ScheduledVisit:
    """A visit placed on the scene's timeline: the plan's cycle times + `offset_s`."""

    worker_id: int
    visit: Visit
    offset_s: float  # scene time (seconds) at which the slot's cycle starts
    plan: ScriptedPlan

    def scene_time(self, cycle_time: float) -> float:
        return self.offset_s + cycle_time


class ScriptedCrowd:
    """The worker slots of a compliance scene: `states_at(t)` as trajectory.Crowd's."""

    def __init__(self, seed: int, camera: GroundCamera, zone: WorkZone, layout: Layout) -> None:
        self.seed, self.camera, self.zone, self.layout = seed, camera, zone, layout
        rng = stream(seed, Stream.SCRIPT_SLOTS)
        singles = int(rng.integers(4, 7))
        self.slots = [
            WorkerSlot(i, float(rng.uniform(30.0, 50.0)), float(rng.uniform(0.0, 1.0)))
            for i in range(singles)
        ]
        period, phase = float(rng.uniform(36.0, 50.0)), float(rng.uniform(0.0, 1.0))
        self.pair = (singles, singles + 1)
        self.slots += [WorkerSlot(i, period, phase) for i in self.pair]
        self._plans: dict[tuple[int, int], ScriptedPlan] = {}

    def states_at(self, t: float) -> list[WorkerState]:
        states = []
        for slot in self.slots:
            position = t / slot.period_s + slot.phase
            cycle = math.floor(position)
            state = self.plan(slot, cycle).state_at((position - cycle) * slot.period_s)
            if state is not None:
                states.append(state)
        return states

    def visits(self, until_s: float) -> list[ScheduledVisit]:
        """Every visit whose cycle starts before scene time `until_s`, by start time."""
        scheduled = []
        for slot in self.slots:
            for cycle in range(math.floor(until_s / slot.period_s + slot.phase) + 1):
                plan = self.plan(slot, cycle)
                offset = (cycle - slot.phase) * slot.period_s
                scheduled.append(ScheduledVisit(plan.motion.worker_id, plan.visit, offset, plan))
        return sorted(scheduled, key=lambda v: (v.offset_s, v.worker_id))

    def plan(self, slot: WorkerSlot, cycle: int) -> ScriptedPlan:
        """The visit of `slot` in `cycle` (cached; a pure function of its arguments)."""
        plan = self._plans.get((slot.index, cycle))
        if plan is not None:
            return plan
        if len(self._plans) >= PLAN_CACHE:  # bound memory on endless live sources
            self._plans.clear()
        if slot.index in self.pair:
            first, second = self._crossing(slot, cycle)
            self._plans[(self.pair[0], cycle)] = first
            self._plans[(self.pair[1], cycle)] = second
        else:
            self._plans[(slot.index, cycle)] = self._single(slot, cycle)
        return self._plans[(slot.index, cycle)]

    def _worker_id(self, slot_index: int, cycle: int) -> int:
        return cycle * len(self.slots) + slot_index

    def _single(self, slot: WorkerSlot, cycle: int) -> ScriptedPlan:
        rng = stream(self.seed, Stream.SCRIPT_VISIT, slot.index, cycle)
        kinds = list(VISIT_WEIGHTS)
        weights = np.array([VISIT_WEIGHTS[k] for k in kinds])
        visit = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        appearance = _with_vest(random_appearance(rng), rng)
        if visit is Visit.BEHIND:
            return self._behind(slot, cycle, rng, appearance)
        camera = self.camera
        helmet = True
        if visit is Visit.FAR:
            lo, hi = depth_for(camera, FAR_FRACTIONS[1]), depth_for(camera, FAR_FRACTIONS[0])
            z = camera.log_uniform_depth(rng, lo, hi)
            stop = (float(rng.uniform(-0.6, 0.6)) * camera.half_view_width_m(z), z)
            helmet, pause = False, float(rng.uniform(3.0, 10.0))
        else:
            stop = self._stop(rng, near_spot=visit is not Visit.BARE and rng.random() < 0.5)
            pause = float(rng.uniform(3.0, 10.0)) if rng.random() < 0.5 else 0.0
        off: tuple[float, float] | None = None  # seconds after the arrival
        vest_item = False
        if visit in (Visit.HELMET_OFF_ON, Visit.VEST_OFF_ON, Visit.BRIEF_OFF):
            lead, tail = float(rng.uniform(1.0, 3.0)), float(rng.uniform(3.0, 6.0))
            brief = visit is Visit.BRIEF_OFF
            duration = float(rng.uniform(0.6, 1.5) if brief else rng.uniform(5.0, 12.0))
            pause, off = lead + duration + tail, (lead, lead + duration)
            vest_item = visit is Visit.VEST_OFF_ON or (brief and rng.random() < 0.3)
        elif visit is Visit.BARE:
            # 28%: neither item; 42%: no hard hat; 30%: no vest.
            roll = rng.random()
            helmet = roll >= 0.7
            if roll < 0.28 or roll >= 0.7:
                appearance = replace(appearance, vest=None)
        worker_id = self._worker_id(slot.index, cycle)
        motion = _motion(worker_id, appearance, camera, slot, rng, stop, pause, helmet)
        if off is None:
            return ScriptedPlan(motion, visit)
        times = (motion.arrive_time + off[0], motion.arrive_time + off[1])
        if vest_item:
            return ScriptedPlan(motion, visit, vest_switches=times)
        return ScriptedPlan(motion, visit, helmet_switches=times)

    def _stop(self, rng: np.random.Generator, near_spot: bool) -> tuple[float, float]:
        """Where a stopping visit stands: just behind the work spot, or anywhere in the zone."""
        camera = self.camera
        if near_spot:
            x, z = self.layout.spot
            return (x + float(rng.uniform(-0.4, 0.4)), z + float(rng.uniform(1.3, 2.0)))
        lo, hi = depth_for(camera, STOP_FRACTIONS[1]), depth_for(camera, STOP_FRACTIONS[0])
        z = camera.log_uniform_depth(rng, lo, hi)
        return (_inside(self.zone.ground, camera, z, float(rng.uniform(-0.8, 0.8))), z)

    def _behind(
        self, slot: WorkerSlot, cycle: int, rng: np.random.Generator, appearance: Appearance
    ) -> ScriptedPlan:
        """Bare-headed, straight across behind the cabin, from one side of the view to the
        other, without stopping."""
        camera = self.camera
        cabin_x, cabin_z = self.layout.cabin
        z = cabin_z + CABIN_SIZE[1] + float(rng.uniform(0.3, 1.2))
        reach = camera.half_view_width_m(z) + SIDE_MARGIN_M
        direction = 1.0 if rng.random() < 0.5 else -1.0
        start, end = (-direction * reach, z), (direction * reach, z)
        speed = float(rng.uniform(1.0, 1.4))
        length = 2 * reach
        speed = max(speed, length / (slot.period_s - 1.0))
        enter = float(rng.uniform(0.0, max(0.0, slot.period_s - 0.5 - length / speed)))
        motion = WorkerPlan(
            worker_id=self._worker_id(slot.index, cycle),
            appearance=appearance,
            start=start,
            stop=(cabin_x, z),
            end=end,
            speed_m_s=speed,
            enter_time=enter,
            pause_s=0.0,
            works_while_stopped=False,
            helmet_at_start=False,
            helmet_switch_time=None,
        )
        return ScriptedPlan(motion, Visit.BEHIND)

    def _crossing(self, slot: WorkerSlot, cycle: int) -> tuple[ScriptedPlan, ScriptedPlan]:
        """The pair's visits: they pass each other at the same point at the same time."""
        camera, ground = self.camera, self.zone.ground
        rng = stream(self.seed, Stream.SCRIPT_VISIT, self.pair[0], cycle)
        near_z = camera.log_uniform_depth(rng, depth_for(camera, 0.42), depth_for(camera, 0.2))
        depths = (near_z, near_z * float(rng.uniform(1.1, 1.3)))
        meet_x = _inside(ground, camera, near_z, float(rng.uniform(-0.3, 0.3)))
        speeds = (float(rng.uniform(1.0, 1.5)), float(rng.uniform(1.0, 1.5)))
        roll = rng.random()  # 30%: both bare-headed; else one of them
        helmets = (roll >= 0.65, 0.3 <= roll < 0.65)
        legs = []
        for index, (z, speed) in enumerate(zip(depths, speeds, strict=True)):
            direction = 1.0 if index == 0 else -1.0
            reach = camera.half_view_width_m(z) + SIDE_MARGIN_M
            legs.append(((-direction * reach, z), (meet_x, z), (direction * reach, z), speed))
        lead = max(_distance(a, b) / v for a, b, _, v in legs)
        trail = max(_distance(b, c) / v for _, b, c, v in legs)
        slack = slot.period_s - 0.5 - lead - trail
        if slack < 0:  # too wide a view for the period: walk faster
            factor = (lead + trail) / (slot.period_s - 1.0)
            legs = [(a, b, c, v * factor) for a, b, c, v in legs]
            lead, trail, slack = lead / factor, trail / factor, 0.0
        meet_t = lead + float(rng.uniform(0.0, slack))
        plans = []
        for index, (start, meet, end, speed) in enumerate(legs):
            slot_index = self.pair[index]
            appearance = _with_vest(random_appearance(rng), rng)
            motion = WorkerPlan(
                worker_id=self._worker_id(slot_index, cycle),
                appearance=appearance,
                start=start,
                stop=meet,
                end=end,
                speed_m_s=speed,
                enter_time=meet_t - _distance(start, meet) / speed,
                pause_s=0.0,
                works_while_stopped=False,
                helmet_at_start=helmets[index],
                helmet_switch_time=None,
            )
            plans.append(ScriptedPlan(motion, Visit.CROSSING))
        return plans[0], plans[1]


def _motion(
    worker_id: int,
    appearance: Appearance,
    camera: GroundCamera,
    slot: WorkerSlot,
    rng: np.random.Generator,
    stop: tuple[float, float],
    pause: float,
    helmet: bool,
) -> WorkerPlan:
    """In from a side (or the far distance) near the stop's depth, stop, out again."""
    start, end = (_edge(rng, camera, stop[1]) for _ in range(2))
    pause = min(pause, 0.6 * slot.period_s)
    length = _distance(start, stop) + _distance(stop, end)
    speed = max(float(rng.uniform(0.9, 1.5)), length / (slot.period_s - 1.0 - pause))
    duration = length / speed + pause
    return WorkerPlan(
        worker_id=worker_id,
        appearance=appearance,
        start=start,
        stop=stop,
        end=end,
        speed_m_s=speed,
        enter_time=float(rng.uniform(0.0, max(0.0, slot.period_s - 0.5 - duration))),
        pause_s=pause,
        works_while_stopped=bool(rng.random() < 0.5),
        helmet_at_start=helmet,
        helmet_switch_time=None,
    )


def _edge(rng: np.random.Generator, camera: GroundCamera, depth: float) -> tuple[float, float]:
    if rng.random() < 0.15:
        z = camera.far_depth_m * 1.15
        return (float(rng.uniform(-0.8, 0.8)) * camera.half_view_width_m(z), z)
    z = float(
        np.clip(depth * rng.uniform(0.8, 1.25), camera.near_depth_m * 1.05, camera.far_depth_m)
    )
    x = camera.half_view_width_m(z) + SIDE_MARGIN_M
    return (-x if rng.random() < 0.5 else x, z)


def _inside(ground: GroundPatch, camera: GroundCamera, z: float, fraction: float) -> float:
    """Ground x at depth z: `fraction` (-1..1) of the half view there, kept inside the zone's
    side lines and 0.9 of the view."""
    half = 0.9 * camera.half_view_width_m(z)
    x = fraction * half
    return float(np.clip(x, max(ground.left_m, -half) + 0.3, min(ground.right_m, half) - 0.3))


def _with_vest(appearance: Appearance, rng: np.random.Generator) -> Appearance:
    """Scripted workers wear a vest unless the script takes it away."""
    if appearance.vest is not None:
        return appearance
    name = "orange" if rng.random() < 0.5 else "yellow-green"
    return replace(appearance, vest=palette.jitter(palette.VEST_COLOURS[name], rng, 12))


def _odd(switches: tuple[float, ...], t: float) -> bool:
    return sum(1 for switch in switches if t >= switch) % 2 == 1


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])
