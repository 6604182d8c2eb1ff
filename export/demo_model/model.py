"""A small anchor-free detector in the YOLOv8 mould, and its ONNX export.

Backbone of strided convolutions with C2f blocks, a PAN neck, and decoupled heads at strides
4, 8, 16 and 32 (the stride-4 level, as in YOLOv8-p2, sees a far worker's hard hat, 3-4 px
tall in the input, at twice the resolution the stride-8 level does). Each location predicts,
for each box side (left, top, right, bottom), a distribution over REG_BINS distances in units
of its stride (YOLOv8's distribution focal loss: its expectation localises small boxes to a
fraction of a pixel), and one logit per class. The exported graph decodes these into the
YOLOv8 output layout (B, 4 + classes, N): cx, cy, w, h in input pixels, then sigmoid scores.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

STRIDES = (4, 8, 16, 32)
REG_BINS = 16  # distances 0..15 strides: up to 60 px at stride 4, 480 px at stride 32
# Bin k stands for a side distance of k - DISTANCE_OFFSET strides. A side may lie half a
# stride past the cell centre, so a box smaller than a cell that contains no cell centre (a
# far worker's hard hat, 3-4 px tall against a stride of 8) can still be predicted exactly
# by its nearest cell.
DISTANCE_OFFSET = 0.5
FINE_HEAD_WIDTH = 24  # the stride-4 head's branches (48 elsewhere): its level has 4x the cells


class ConvBnAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBnAct(channels, channels)
        self.conv2 = ConvBnAct(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class C2f(nn.Module):
    """Split, a chain of bottlenecks whose every output is kept, concatenate, fuse."""

    def __init__(self, c_in: int, c_out: int, blocks: int = 1) -> None:
        super().__init__()
        self.hidden = c_out // 2
        self.reduce = ConvBnAct(c_in, 2 * self.hidden, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden) for _ in range(blocks))
        self.fuse = ConvBnAct((2 + blocks) * self.hidden, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.reduce(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.fuse(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): wide receptive field for large, near workers."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = ConvBnAct(channels, channels // 2, 1)
        self.fuse = ConvBnAct(channels * 2, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.reduce(x)]
        for _ in range(3):
            y.append(functional.max_pool2d(y[-1], 5, 1, 2))
        return self.fuse(torch.cat(y, dim=1))


class Head(nn.Module):
    """Decoupled box and class branches for one stride."""

    def __init__(self, c_in: int, num_classes: int, width: int) -> None:
        super().__init__()
        self.box = nn.Sequential(
            ConvBnAct(c_in, width), ConvBnAct(width, width), nn.Conv2d(width, 4 * REG_BINS, 1)
        )
        self.cls = nn.Sequential(
            ConvBnAct(c_in, width), ConvBnAct(width, width), nn.Conv2d(width, num_classes, 1)
        )
        self._initialise()

    def _initialise(self) -> None:
        box_out = self.box[-1]
        cls_out = self.cls[-1]
        assert isinstance(box_out, nn.Conv2d) and isinstance(cls_out, nn.Conv2d)
        assert box_out.bias is not None and cls_out.bias is not None
        nn.init.constant_(box_out.bias, 1.0)  # flat distributions at the start
        # Rare positives: start every class near 1% so the first steps are not all negatives.
        nn.init.constant_(cls_out.bias, -math.log(99.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.box(x), self.cls(x)


class PPEDetector(nn.Module):
    """Raw outputs: per stride, (B, 4 * REG_BINS, H, W) side-distance logits and (B, C, H, W)
    class logits."""

    def __init__(
        self,
        num_classes: int = 3,
        widths: tuple[int, int, int, int, int] = (16, 32, 64, 96, 128),
        blocks: int = 1,
    ) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.num_classes = num_classes
        self.stem = nn.Sequential(ConvBnAct(3, w0, 3, 2), ConvBnAct(w0, w1, 3, 2), C2f(w1, w1))
        self.stage3 = nn.Sequential(ConvBnAct(w1, w2, 3, 2), C2f(w2, w2, blocks))
        self.stage4 = nn.Sequential(ConvBnAct(w2, w3, 3, 2), C2f(w3, w3, blocks))
        self.stage5 = nn.Sequential(ConvBnAct(w3, w4, 3, 2), C2f(w4, w4), SPPF(w4))
        self.top_down4 = C2f(w4 + w3, w3)
        self.top_down3 = C2f(w3 + w2, w2)
        self.top_down2 = C2f(w2 + w1, w1)
        self.down2 = ConvBnAct(w1, w1, 3, 2)
        self.bottom_up3 = C2f(w1 + w2, w2)
        self.down3 = ConvBnAct(w2, w2, 3, 2)
        self.bottom_up4 = C2f(w2 + w3, w3)
        self.down4 = ConvBnAct(w3, w3, 3, 2)
        self.bottom_up5 = C2f(w3 + w4, w4)
        self.heads = nn.ModuleList(
            [Head(w1, num_classes, FINE_HEAD_WIDTH)]
            + [Head(c, num_classes, w2) for c in (w2, w3, w4)]
        )

    def forward(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        p2 = self.stem(images)
        p3 = self.stage3(p2)
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        n4 = self.top_down4(torch.cat([functional.interpolate(p5, scale_factor=2.0), p4], 1))
        n3 = self.top_down3(torch.cat([functional.interpolate(n4, scale_factor=2.0), p3], 1))
        o2 = self.top_down2(torch.cat([functional.interpolate(n3, scale_factor=2.0), p2], 1))
        o3 = self.bottom_up3(torch.cat([self.down2(o2), n3], 1))
        o4 = self.bottom_up4(torch.cat([self.down3(o3), n4], 1))
        o5 = self.bottom_up5(torch.cat([self.down4(o4), p5], 1))
        levels = (o2, o3, o4, o5)
        return [head(level) for head, level in zip(self.heads, levels, strict=True)]


def anchor_points(
    outputs: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres (N, 2) in input pixels and their strides (N, 1), in output order."""
    points, strides = [], []
    for (box, _), stride in zip(outputs, STRIDES, strict=True):
        height, width = box.shape[2], box.shape[3]
        ys = (torch.arange(height, dtype=torch.float32) + 0.5) * stride
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))
        strides.append(torch.full((height * width, 1), float(stride)))
    return torch.cat(points), torch.cat(strides)


def flatten_outputs(
    outputs: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 4 * REG_BINS) side-distance logits and (B, N, C) class logits, all strides
    concatenated."""
    boxes = torch.cat([box.flatten(2) for box, _ in outputs], dim=2).transpose(1, 2)
    logits = torch.cat([cls.flatten(2) for _, cls in outputs], dim=2).transpose(1, 2)
    return boxes, logits


def side_distances(raw: torch.Tensor) -> torch.Tensor:
    """Side-distance logits (B, N, 4 * REG_BINS) -> expected distances (B, N, 4) in strides,
    from -DISTANCE_OFFSET to REG_BINS - 1 - DISTANCE_OFFSET."""
    bins = torch.arange(REG_BINS, dtype=raw.dtype, device=raw.device) - DISTANCE_OFFSET
    probabilities = raw.unflatten(-1, (4, REG_BINS)).softmax(-1)
    return (probabilities * bins).sum(-1)


def decode_boxes(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Side-distance logits (B, N, 4 * REG_BINS) -> boxes x1, y1, x2, y2 (B, N, 4) in input
    pixels."""
    distances = side_distances(raw) * strides
    return torch.cat([points - distances[..., :2], points + distances[..., 2:]], dim=-1)


class ExportedDetector(nn.Module):
    """The graph that ships: images (B, 3, H, W) RGB 0-1 -> (B, 4 + C, N) YOLOv8 layout."""

    def __init__(self, detector: PPEDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = self.detector(images)
        points, strides = anchor_points(outputs)
        raw, logits = flatten_outputs(outputs)
        xyxy = decode_boxes(raw, points, strides)
        centre = (xyxy[..., :2] + xyxy[..., 2:]) / 2
        size = (xyxy[..., 2:] - xyxy[..., :2]).clamp(min=0.0)  # sides may cross (offset bins)
        return torch.cat([centre, size, logits.sigmoid()], dim=-1).transpose(1, 2)
