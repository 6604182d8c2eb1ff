"""Ground-truth violation episodes: per worker, the stretches of frames spent inside the work
zone without a required item (zone.WorkerCompliance.violating).

Two violating stretches of one worker are one episode when fewer than `merge_gap_s` seconds
lie between them (out of the zone, or wearing everything for a moment): alert rules with a
re-arm period raise one alert for them. But a worker out of sight (out of the frame, or less
than `hidden_visibility` visible) for longer than `lost_s` ends the episode even while
still violating: no tracker follows a person it cannot see, and the rules end an episode
whose track is lost for longer than their grace period, so what comes after is a new
episode. Times are seconds on the scene's timeline, frame index / fps; an episode covers
[first_index / fps, (last_index + 1) / fps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.config.compliance import PpeItem
from pipeline.synthetic.scene import WorksiteScene
from pipeline.synthetic.truth import FrameTruth
from pipeline.synthetic.zone import WorkerCompliance, judge_frame

HIDDEN_VISIBILITY = 0.3  # less visible than this is out of sight (the detector's own rule)


@dataclass
class TruthEpisode:
    """One worker's episode. `judged_frames`: its frames where the violation was judgeable
    (zone.WorkerCompliance.judgeable_violation); `first_judged_index`: the first of them."""

    worker_id: int
    first_index: int
    last_index: int
    fps: float
    judged_frames: int = 0
    first_judged_index: int | None = None
    missing: set[PpeItem] = field(default_factory=set)

    @property
    def start_s(self) -> float:
        return self.first_index / self.fps

    @property
    def end_s(self) -> float:
        return (self.last_index + 1) / self.fps

    @property
    def judged_s(self) -> float:
        """Seconds of the episode a detector could judge."""
        return self.judged_frames / self.fps

    @property
    def judged_from_s(self) -> float | None:
        """When the violation first became judgeable (seconds), None if it never did."""
        return None if self.first_judged_index is None else self.first_judged_index / self.fps

    def __str__(self) -> str:
        items = "+".join(sorted(item.value for item in self.missing))
        return (
            f"{self.start_s:.1f}-{self.end_s:.1f} s judgeable {self.judged_s:.1f} s without {items}"
        )

    def expected(self, min_violation_s: float, margin_s: float) -> bool:
        """Whether a rule needing `min_violation_s` of missing evidence must alert: judgeable
        for at least that long plus `margin_s` (for detection and tracking start-up)."""
        return self.judged_s >= min_violation_s + margin_s


@dataclass
class _Worker:
    episode: TruthEpisode | None = None
    last_visible: int | None = None  # the last frame index the worker was in sight


def truth_episodes(
    frames: Iterable[tuple[int, Sequence[WorkerCompliance]]],
    fps: float,
    merge_gap_s: float,
    lost_s: float = float("inf"),
    hidden_visibility: float = HIDDEN_VISIBILITY,
) -> list[TruthEpisode]:
    """Episodes from (frame index, every worker of that frame) in increasing index order,
    sorted by start (then worker)."""
    gap_frames = round(merge_gap_s * fps)
    lost_frames = lost_s * fps
    workers: dict[int, _Worker] = {}
    done: list[TruthEpisode] = []
    for index, in_frame in frames:
        for worker in in_frame:
            state = workers.setdefault(worker.id, _Worker())
            episode = state.episode
            if worker.visibility >= hidden_visibility:
                last = state.last_visible
                if (
                    episode is not None
                    and last is not None
                    and last >= episode.first_index
                    and index - last - 1 > lost_frames
                ):
                    # Seen in the episode, then out of sight too long: it ended where the
                    # worker was last seen.
                    episode.last_index = last
                    done.append(episode)
                    episode = state.episode = None
                state.last_visible = index
            if not worker.violating:
                continue
            if episode is not None and index - episode.last_index - 1 >= gap_frames:
                done.append(episode)
                episode = None
            if episode is None:
                episode = state.episode = TruthEpisode(worker.id, index, index, fps)
            episode.last_index = index
            episode.missing.update(worker.missing)
            if worker.judgeable_violation:
                episode.judged_frames += 1
                if episode.first_judged_index is None:
                    episode.first_judged_index = index
    done.extend(state.episode for state in workers.values() if state.episode is not None)
    return sorted(done, key=lambda e: (e.first_index, e.worker_id))


@dataclass
class ClipTruth:
    """A compliance clip's truth against its scene's zone: every worker of every frame
    (by frame index), the episodes, and each worker's scripted visit kind (script.Visit)."""

    frames: dict[int, tuple[WorkerCompliance, ...]]
    episodes: list[TruthEpisode]
    visits: dict[int, str] = field(default_factory=dict)


def clip_truth(
    truths: Iterable[FrameTruth],
    scene: WorksiteScene,
    input_size: tuple[int, int] | None,
    min_person_height_px: float,
    merge_gap_s: float,
    lost_s: float,
) -> ClipTruth:
    """Judge a compliance scene's frame truths (e.g. a clip's sidecar) against its zone
    (zone.judge_frame) and cut them into episodes (truth_episodes)."""
    if scene.zone is None or scene.script is None:
        raise ValueError(f"scene {scene.seed} is not a compliance scene: it has no zone")
    size = (scene.width, scene.height)
    frames = {
        truth.index: judge_frame(truth, scene.zone, size, input_size, min_person_height_px)
        for truth in truths
    }
    episodes = truth_episodes(sorted(frames.items()), scene.fps, merge_gap_s, lost_s)
    until = (max(frames, default=0) + 1) / scene.fps
    visits = {v.worker_id: v.visit.value for v in scene.script.visits(until)}
    return ClipTruth(frames, episodes, visits)
