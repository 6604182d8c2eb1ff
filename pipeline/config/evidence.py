"""The `recording:` and `evidence:` sections of a site file.

```yaml
recording:
  enabled: true
  segment_s: 300                       # one file per camera every 5 minutes
  encoder: {preset: veryfast, crf: 23, keyframe_s: 2.0, threads: 1}
  queue_frames: 8                      # frames waiting for the encoder; beyond: dropped, counted
  retention: {max_age_h: 168, max_total_gb: 50}
evidence:
  enabled: true
  snapshot_quality: 90                 # JPEG quality of the snapshots
  best_snapshot: true                  # a second snapshot at the best-confidence moment
  clip: true
  pre_s: 5                             # the clip starts this long before the violation start
  post_s: 5                            # and ends this long after it
```

Recordings are H.264 in MP4 files (PyAV, libx264) that stay playable up to their last
fragment when the camera process is killed: at most about `keyframe_s` plus the encoder's
lookahead (about 1 s) is lost. Clips are cut from the same encoded stream, so evidence adds
almost nothing to a recording camera; without a recording the encoder runs for the clips alone.
Times are seconds; sizes as named.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, model_validator

from pipeline.config.frozen import Frozen


class X264Preset(str, Enum):
    """libx264 speed presets, fastest first: each is slower and writes smaller files."""

    ULTRAFAST = "ultrafast"
    SUPERFAST = "superfast"
    VERYFAST = "veryfast"
    FASTER = "faster"
    FAST = "fast"
    MEDIUM = "medium"


class EncoderConfig(Frozen):
    """The H.264 encoder of the annotated stream (recording and clips share it)."""

    preset: X264Preset = Field(
        X264Preset.VERYFAST,
        title="libx264 preset (ultrafast: about half the CPU, 3-5x the bytes of veryfast)",
    )
    crf: int = Field(23, ge=0, le=51, title="Constant rate factor: lower is better and larger")
    keyframe_s: float = Field(
        2.0,
        ge=0.2,
        le=10.0,
        title="Seconds between keyframes: a killed camera loses at most about this much",
    )
    threads: int = Field(
        1,
        ge=0,
        le=16,
        title="libx264 threads per camera (0: libx264 decides; each adds a frame of delay)",
    )


class RetentionConfig(Frozen):
    """What is deleted when a segment opens: oldest first, closed segments only, counted over
    every run folder of the site (`runs/<site>/*/recordings`)."""

    max_age_h: float | None = Field(
        168.0, gt=0, le=24 * 3650, title="Delete segments older than this (hours); null: never"
    )
    max_total_gb: float | None = Field(
        50.0,
        gt=0,
        le=1e6,
        title="Delete the oldest segments while the site's recordings exceed this; null: no cap",
    )
    check_interval_s: float = Field(
        60.0,
        ge=0,
        le=86400,
        title="At most one sweep per site in this many seconds (cameras take turns)",
    )


class RecordingConfig(Frozen):
    enabled: bool = Field(True, title="Record each camera's annotated frames")
    segment_s: float = Field(
        300.0, ge=10, le=86400, title="Seconds per segment file (cut at the next keyframe)"
    )
    encoder: EncoderConfig = EncoderConfig()
    queue_frames: int = Field(
        8,
        ge=1,
        le=256,
        title="Annotated frames waiting for the encoder; more are dropped (and counted)",
    )
    retention: RetentionConfig = RetentionConfig()

    @model_validator(mode="before")
    @classmethod
    def _no_fourcc(cls, data: object) -> object:
        if isinstance(data, dict) and "fourcc" in data:
            raise ValueError(
                "fourcc is gone: recordings are H.264 through PyAV now; remove the key "
                "(recording.encoder sets preset and crf)"
            )
        return data


class EvidenceConfig(Frozen):
    """Per violation episode: snapshots at its start (and its best moment) and a clip."""

    enabled: bool = Field(True, title="Write snapshots and clips for violation episodes")
    snapshot_quality: int = Field(90, ge=10, le=100, title="JPEG quality of snapshots")
    best_snapshot: bool = Field(
        True,
        title="Also a snapshot where the worker's detection score peaks (within post_s)",
    )
    clip: bool = Field(True, title="Write a clip from pre_s before the start to post_s after")
    pre_s: float = Field(5.0, ge=0, le=60, title="Seconds of clip before the violation start")
    post_s: float = Field(5.0, ge=0, le=120, title="Seconds of clip after the violation start")

    @model_validator(mode="after")
    def _a_clip_has_length(self) -> EvidenceConfig:
        if self.clip and self.pre_s + self.post_s <= 0:
            raise ValueError(
                "a clip needs pre_s + post_s > 0; write clip: false to have snapshots only"
            )
        return self
