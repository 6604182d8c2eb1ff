"""Violation episodes per track: zones, cooldown, re-arming, id-switch carry-over, lost tracks.

Per track and required item the state follows evidence.py. On top of that, per track:

- Zones: a person is in a zone from the first frame its anchor is inside until `zone_exit_s`
  after the last (a box jittering on the boundary does not leave and re-enter). The items
  required are those of every zone the person is in; an item no longer required is reset,
  ending its violation (reason `left_zone`).
- Episode: opens when the first required item becomes a VIOLATION, closes when none is
  left (reason: the last item's). Items that become violations while it is open join it
  (the end event lists them) without a second start: one alert per worker.
- Cooldown: after an episode that raised a start ends, the track raises no new start for
  `cooldown_s`; it is re-armed sooner once it has been calm (no item suspect or in
  violation, or outside the zones) for `rearm_s`. A violation reached while not armed is
  held: its start is raised when the track is re-armed if it is still a violation (with its
  real onset), or dropped silently if it clears first. Per track: another worker's alert
  is never held back.
- Lost tracks: a track unseen for `lost_grace_s` is dropped, ending its episode (reason
  `track_lost`, ended at the last sighting). Within `takeover_s`, a new track found where
  the lost one would be now (its last box moved by its velocity, the speed capped at
  TAKEOVER_MAX_SPEED person heights per second) takes its place and its whole state: its
  box overlaps that place (IoU >= `takeover_iou`), or its centre is within
  `takeover_distance` person heights of that place's centre and the two heights differ by
  at most a third. The nearest pairs are matched first. So the tracker's id switch, or a
  worker walking out from behind a cabin, raises no second alert; the events list both
  ids. Where a lost track would be: motion.py (from its whole boxes only). A lost track
  predicted mostly outside the frame (less than LEFT_VIEW of its box in it) walked out of
  the picture: a worker coming in where he left is someone else, and takes over nothing.
- Swapped ids (crossings.py): two tracks that met within the last `clear_s` +
  `min_violation_s` seconds, where one has an item in violation from before they met that
  has shown present for `clear_s` / 2 since, and the other has the same item suspect (or in
  violation) only since they met, swap their workers' states (evidence, episode, cooldown),
  the evidence each gathered from the other worker dropped: the open episode goes on under
  the other id (the events list both), and neither a false end nor a second start is
  raised. A violation that begins after its track met one already in violation for the
  same item may be that worker's: its start waits for this check (at most the window, then
  raised with its real onset).

Memory: one record per track seen within `lost_grace_s`, and the pairs of tracks that met
within the swap window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, count

import numpy as np

from pipeline.analytics.crossings import Encounters, forget_since, looks_swapped
from pipeline.analytics.events import EndReason, Episode, EventSource, ViolationEvent
from pipeline.analytics.evidence import Evidence, ItemEvidence, ItemState
from pipeline.analytics.motion import LEFT_VIEW, Motion, inside_fraction, takeover_cost
from pipeline.config.compliance import PpeItem, ViolationRules

# The state of the worker a track follows; the rest of a record (boxes, motion, zones)
# belongs to the track's place in the picture. A repaired id swap exchanges these.
_WORKER_STATE = ("items", "episode", "armed", "cooldown_until", "calm_since")


@dataclass(frozen=True, eq=False)
class Observation:
    """One tracked person in one frame, as the book needs it."""

    track_id: int
    box: np.ndarray  # (4,) xyxy, original-frame pixels
    score: float
    zones: tuple[str, ...]  # zones whose polygon holds the person's anchor in this frame
    evidence: Mapping[PpeItem, Evidence]


@dataclass(frozen=True)
class TrackView:
    """A seen track's state after this frame, for the caller to draw and count."""

    track_id: int
    zones: tuple[str, ...]  # zones the person counts as in (with the exit hysteresis)
    required: tuple[PpeItem, ...]
    states: Mapping[PpeItem, ItemState]  # per required item
    judged: Mapping[PpeItem, bool]  # per required item: ever judged
    alerting: bool  # an open episode whose start was raised


@dataclass
class _Record:
    serial: int  # unique in the book (track ids change with takeovers)
    track_ids: list[int]
    box: np.ndarray  # the latest box, as seen
    last_seen: float
    motion: Motion  # where the worker is going
    items: dict[PpeItem, ItemEvidence] = field(default_factory=dict)
    last_inside: dict[str, float] = field(default_factory=dict)
    episode: Episode | None = None
    armed: bool = True
    cooldown_until: float = float("-inf")
    calm_since: float | None = None

    @classmethod
    def first_seen(cls, serial: int, track_id: int, box: np.ndarray, t: float) -> _Record:
        box = box.astype(np.float64)
        return cls(serial, [track_id], box.copy(), t, Motion.start(box, t))


class ViolationBook:
    """All tracks of one camera. `update` once per answered frame, in time order."""

    def __init__(self, rules: ViolationRules, source: EventSource) -> None:
        self.rules = rules
        self.source = source
        self._records: dict[int, _Record] = {}
        self._serials = count()
        self._encounters = Encounters(rules.clear_s + rules.min_violation_s)

    def __len__(self) -> int:
        """Tracks remembered (seen within lost_grace_s): bounded by the people in view."""
        return len(self._records)

    @property
    def open_episodes(self) -> int:
        """Episodes whose start was raised and whose end was not, tracks in view or not."""
        return sum(
            1
            for record in self._records.values()
            if record.episode is not None and record.episode.raised_at is not None
        )

    def update(
        self,
        observations: Sequence[Observation],
        t: float,
        dt: float,
        requirements: Mapping[str, tuple[PpeItem, ...]],
        frame_size: tuple[int, int] | None = None,
    ) -> tuple[list[TrackView], list[ViolationEvent]]:
        """Advance to frame time `t` (`dt`: seconds this frame's evidence stands for).
        `requirements`: zone name -> items required, for the zones usable on this frame;
        `frame_size`: (width, height) of the frame, to tell a worker who walked out of it.
        Returns a view per observation (same order) and the events raised, in order."""
        events: list[ViolationEvent] = []
        seen = {o.track_id for o in observations}
        self._take_over(observations, seen, t, frame_size)
        for track_id in [i for i in self._records if i not in seen]:
            lost = self._records[track_id]
            if t - lost.last_seen > self.rules.lost_grace_s:
                del self._records[track_id]
                if lost.episode is not None and lost.episode.raised_at is not None:
                    lost.episode.end_reason = EndReason.TRACK_LOST
                    events.append(lost.episode.end(self.source, lost.box, t, lost.last_seen))
        for observation in observations:
            if observation.track_id not in self._records:
                self._records[observation.track_id] = _Record.first_seen(
                    next(self._serials), observation.track_id, observation.box, t
                )
        self._repair_swaps(observations, t)
        views = [
            self._advance(self._records[o.track_id], o, t, dt, requirements, events)
            for o in observations
        ]
        return views, events

    def close(self, t: float) -> list[ViolationEvent]:
        """End every open episode (the camera stops); forget all tracks."""
        events = []
        for record in self._records.values():
            if record.episode is not None and record.episode.raised_at is not None:
                record.episode.end_reason = EndReason.STOPPED
                events.append(record.episode.end(self.source, record.box, t, t))
        self._records.clear()
        return events

    def _take_over(
        self,
        observations: Sequence[Observation],
        seen: set[int],
        t: float,
        frame_size: tuple[int, int] | None,
    ) -> None:
        """Hand lost tracks' records to new tracks appearing where they would be."""
        new = [o for o in observations if o.track_id not in self._records]
        lost = [
            (track_id, record, record.motion.predicted_box(t))
            for track_id, record in self._records.items()
            if track_id not in seen and t - record.last_seen <= self.rules.takeover_s
        ]
        if frame_size is not None and lost:
            inside = inside_fraction(np.array([place for *_, place in lost]), frame_size)
            lost = [entry for entry, share in zip(lost, inside, strict=True) if share >= LEFT_VIEW]
        if not new or not lost:
            return
        cost = takeover_cost(
            np.array([o.box for o in new]), np.array([place for *_, place in lost]), self.rules
        )
        while cost.size and np.isfinite(cost.min()):
            row, column = np.unravel_index(int(np.argmin(cost)), cost.shape)
            old_id, record, _ = lost[column]
            new_id = new[row].track_id
            del self._records[old_id]
            record.track_ids.append(new_id)
            if record.episode is not None:
                record.episode.track_ids.append(new_id)
            self._records[new_id] = record
            cost[row, :] = np.inf
            cost[:, column] = np.inf

    def _repair_swaps(self, observations: Sequence[Observation], t: float) -> None:
        """Note which tracks meet in this frame; give back each other's worker state to two
        that met and whose evidence since says their ids were swapped."""
        records = [self._records[o.track_id] for o in observations]
        self._encounters.update(
            [r.serial for r in records], np.array([o.box for o in observations]), t
        )
        for first, second in combinations(records, 2):
            met = self._encounters.met(first.serial, second.serial)
            if met is None:
                continue
            if self._swapped(first, second, met) or self._swapped(second, first, met):
                for name in _WORKER_STATE:
                    value = getattr(first, name)
                    setattr(first, name, getattr(second, name))
                    setattr(second, name, value)
                _drop_other_workers_evidence(first, met)
                _drop_other_workers_evidence(second, met)

    def _may_be_swapped(self, record: _Record) -> bool:
        """The record's violation began after it met a track already in violation for the
        same item, whose id it may have taken: its start waits until that is settled (a
        repaired swap, or the swap window passing)."""
        for partner in self._records.values():
            met = self._encounters.met(record.serial, partner.serial)
            if (
                met is not None
                and partner.episode is not None
                and partner.episode.raised_at is not None
                and self._swapped(partner, record, met, shown_s=0.0)
            ):
                return True
        return False

    def _swapped(
        self, violator: _Record, other: _Record, met: float, shown_s: float | None = None
    ) -> bool:
        """crossings.looks_swapped, for a violator whose item has shown present for
        `shown_s` (default clear_s / 2) since `met`, and another track raising nothing."""
        if other.episode is not None and other.episode.raised_at is not None:
            return False
        shown = self.rules.clear_s / 2 if shown_s is None else shown_s
        return looks_swapped(violator.items, other.items, met, shown)

    def _advance(
        self,
        record: _Record,
        observation: Observation,
        t: float,
        dt: float,
        requirements: Mapping[str, tuple[PpeItem, ...]],
        events: list[ViolationEvent],
    ) -> TrackView:
        self._move(record, observation, t)
        zones, required = self._membership(record, observation, t, requirements)
        self._observe_items(record, observation, t, dt, required)
        episode = record.episode
        violating = [i for i in required if record.items[i].state is ItemState.VIOLATION]
        calm = all(record.items[i].state is ItemState.COMPLIANT for i in required)
        if not calm:
            record.calm_since = None
        elif record.calm_since is None:
            record.calm_since = t - dt
        if episode is None and violating:
            episode = record.episode = self._open(record, violating, zones, requirements)
        elif episode is not None:
            episode.missing.extend(i for i in violating if i not in episode.missing)
            if not violating:
                record.episode = None
                if episode.raised_at is not None:
                    events.append(episode.end(self.source, record.box, t, t))
                    record.armed, record.cooldown_until = False, t + self.rules.cooldown_s
                    record.calm_since = t
                episode = None
        self._arm(record, t)
        if episode is not None:
            episode.score_sum += observation.score
            episode.score_frames += 1
            if episode.raised_at is None and record.armed and not self._may_be_swapped(record):
                events.append(episode.start(self.source, record.box, t))
        return TrackView(
            track_id=record.track_ids[-1],
            zones=zones,
            required=required,
            states={item: record.items[item].state for item in required},
            judged={item: record.items[item].judged for item in required},
            alerting=episode is not None and episode.raised_at is not None,
        )

    def _membership(
        self,
        record: _Record,
        observation: Observation,
        t: float,
        requirements: Mapping[str, tuple[PpeItem, ...]],
    ) -> tuple[tuple[str, ...], tuple[PpeItem, ...]]:
        """(zones the person counts as in, items they require), with the exit hysteresis."""
        for zone in observation.zones:
            record.last_inside[zone] = t
        record.last_inside = {
            zone: since
            for zone, since in record.last_inside.items()
            if zone in requirements and t - since <= self.rules.zone_exit_s
        }
        zones = tuple(zone for zone in requirements if zone in record.last_inside)
        required = tuple(
            item for item in PpeItem if any(item in requirements[zone] for zone in zones)
        )
        return zones, required

    def _observe_items(
        self,
        record: _Record,
        observation: Observation,
        t: float,
        dt: float,
        required: tuple[PpeItem, ...],
    ) -> None:
        """Advance each required item; reset those no longer required; note why items of
        the open episode stopped being violations, and its evidence for the confidence."""
        episode = record.episode
        for item in PpeItem:
            state = record.items.get(item)
            if item not in required:
                if state is not None and state.state is ItemState.VIOLATION and episode:
                    episode.end_reason = EndReason.LEFT_ZONE
                record.items.pop(item, None)
                continue
            if state is None:
                state = record.items[item] = ItemEvidence()
            before = state.state
            held = state.held
            state.observe(observation.evidence.get(item, Evidence.UNJUDGED), t, dt, self.rules)
            if episode and item in episode.missing and before is ItemState.VIOLATION:
                if held is Evidence.PRESENT:
                    episode.seen_s += dt
                elif held in (Evidence.ABSENT, Evidence.MISSING):
                    episode.unseen_s += dt
                if state.state is not ItemState.VIOLATION:
                    # The presence that ended it says nothing against the episode.
                    episode.seen_s = max(0.0, episode.seen_s - self.rules.clear_s)
                    episode.end_reason = EndReason.COMPLIED

    def _move(self, record: _Record, observation: Observation, t: float) -> None:
        record.box, record.last_seen = observation.box.astype(np.float64), t
        record.motion.observe(record.box, t)

    def _open(
        self,
        record: _Record,
        violating: list[PpeItem],
        zones: tuple[str, ...],
        requirements: Mapping[str, tuple[PpeItem, ...]],
    ) -> Episode:
        onsets = [record.items[i].onset for i in violating]
        started = min(onset for onset in onsets if onset is not None)
        zone = next(z for z in zones if any(i in requirements[z] for i in violating))
        unseen = sum(record.items[i].unseen_s for i in violating)
        seen = sum(record.items[i].seen_s for i in violating)
        return Episode(
            started, zone, list(violating), [record.track_ids[-1]], unseen_s=unseen, seen_s=seen
        )

    def _arm(self, record: _Record, t: float) -> None:
        if record.armed:
            return
        calm_long = record.calm_since is not None and t - record.calm_since >= self.rules.rearm_s
        if t >= record.cooldown_until or calm_long:
            record.armed = True


def _drop_other_workers_evidence(record: _Record, met: float) -> None:
    """After a repaired swap, `record` holds the worker state that the other track
    gathered; what that track saw since the two met (`met`) was of this record's worker."""
    forget_since(record.items, met)
    episode = record.episode
    if episode is None:
        return
    if episode.raised_at is None and not any(
        record.items.get(i, ItemEvidence()).state is ItemState.VIOLATION for i in episode.missing
    ):
        record.episode = None
    elif record.track_ids[-1] not in episode.track_ids:
        episode.track_ids.append(record.track_ids[-1])
