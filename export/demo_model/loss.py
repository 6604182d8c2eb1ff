"""Training loss: task-aligned assignment (as in YOLOv8), quality-aware class targets, IoU
box loss with a distribution focal loss on the side distances, and ignore regions that cost
nothing.

For each ground-truth box the assigner ranks candidate output cells by how well the cell
already does on it (class score ** ALPHA * IoU ** BETA) and takes the best TOP_K. Candidates
are cells whose centre lies in the box, or, for boxes smaller than a cell, the cell nearest
its centre, so even a 4-pixel helmet gets cells. A positive cell's class target is its
alignment normalised to the box's best IoU, which teaches scores that rank well-placed boxes
first (what average precision rewards).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional

from export.demo_model.model import DISTANCE_OFFSET, REG_BINS

TOP_K = 10
ALPHA, BETA = 0.5, 6.0
# YOLOv8's balance of the three terms.
BOX_WEIGHT, DISTRIBUTION_WEIGHT, CLASS_WEIGHT = 7.5, 1.5, 0.5
# Per-class weights of the class loss (person, helmet, vest): a helmet is a few pixels of a
# far worker's head and easily confused with hair or a cap, so its channel gets more of the
# network's attention.
CHANNEL_WEIGHTS = (1.0, 2.0, 1.5)


@dataclass
class Targets:
    """Ground truth of a batch, padded to M boxes per image.

    boxes (B, M, 4) x1, y1, x2, y2 input pixels; classes (B, M) int64; valid (B, M) bool for
    real (non-padding) entries; ignore (B, M) bool for boxes that must cost nothing.
    """

    boxes: torch.Tensor
    classes: torch.Tensor
    valid: torch.Tensor
    ignore: torch.Tensor


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of (..., M, 1, 4) against (..., 1, N, 4) -> (..., M, N)."""
    top_left = torch.maximum(a[..., :2], b[..., :2])
    bottom_right = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + 1e-7)


def complete_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """CIoU of matching rows of (K, 4) boxes."""
    iou = pairwise_iou(a, b)
    enclose = torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])
    diagonal = enclose.pow(2).sum(-1) + 1e-7
    centre = ((a[:, :2] + a[:, 2:]) - (b[:, :2] + b[:, 2:])).pow(2).sum(-1) / 4
    wa, ha = (a[:, 2] - a[:, 0]).clamp(min=1e-3), (a[:, 3] - a[:, 1]).clamp(min=1e-3)
    wb, hb = (b[:, 2] - b[:, 0]).clamp(min=1e-3), (b[:, 3] - b[:, 1]).clamp(min=1e-3)
    v = (4 / torch.pi**2) * (torch.atan(wb / hb) - torch.atan(wa / ha)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + 1 + 1e-7)
    return iou - centre / diagonal - alpha * v


def assign(
    scores: torch.Tensor,
    boxes: torch.Tensor,
    points: torch.Tensor,
    strides: torch.Tensor,
    targets: Targets,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Task-aligned assignment for a batch.

    scores (B, N, C) sigmoid; boxes (B, N, 4) predicted xyxy; points (N, 2); strides (N, 1).
    Returns the class targets (B, N, C), the assigned box per cell (B, N, 4), the positive
    mask (B, N) and the class-loss weight (B, N, C): 0 where a negative cell lies in an
    ignored box of that class.
    """
    cells, num_classes = scores.shape[1], scores.shape[2]
    gt = targets.boxes  # (B, M, 4)
    counted = targets.valid & ~targets.ignore
    # Candidate cells: centre inside the box grown to at least one cell of the cell's stride.
    centre = (gt[..., :2] + gt[..., 2:]) / 2
    half = torch.maximum((gt[..., 2:] - gt[..., :2]) / 2, torch.zeros_like(centre))
    half = torch.maximum(half[:, :, None, :], strides[None, None, :, :] / 2)  # (B, M, N, 2)
    offset = (points[None, None] - centre[:, :, None, :]).abs()
    candidate = (offset < half).all(-1) & counted[..., None]  # (B, M, N)

    with torch.no_grad():
        iou = pairwise_iou(gt[:, :, None, :], boxes[:, None, :, :])  # (B, M, N)
        class_index = targets.classes.clamp(min=0)[:, :, None].expand(-1, -1, cells)
        class_scores = scores.detach().transpose(1, 2).gather(1, class_index)  # (B, M, N)
        alignment = class_scores.pow(ALPHA) * iou.pow(BETA) * candidate
        k = min(TOP_K, cells)
        top = alignment.topk(k, dim=-1).indices
        chosen = torch.zeros_like(candidate).scatter_(-1, top, True) & candidate
        # A cell claimed by several boxes goes to the one it overlaps most.
        overlap = torch.where(chosen, iou, torch.full_like(iou, -1.0))
        owner = overlap.argmax(1)  # (B, N)
        positive = chosen.any(1)
        chosen = torch.zeros_like(chosen).scatter_(1, owner[:, None, :], True) & chosen

        aligned = alignment * chosen
        best_alignment = aligned.amax(-1, keepdim=True).clamp(min=1e-9)
        best_iou = (iou * chosen).amax(-1, keepdim=True)
        quality = (aligned / best_alignment * best_iou).amax(1)  # (B, N)
        assigned_class = targets.classes.gather(1, owner)  # (B, N)
        class_targets = torch.zeros_like(scores)
        class_targets.scatter_(2, assigned_class.clamp(min=0)[..., None], quality[..., None])
        class_targets *= positive[..., None]
        assigned_boxes = gt.gather(1, owner[..., None].expand(-1, -1, 4))

        ignored = targets.valid & targets.ignore  # (B, M)
        inside = (points[None, None] > gt[..., None, :2]) & (points[None, None] < gt[..., None, 2:])
        inside = inside.all(-1) & ignored[..., None]  # (B, M, N)
        weight = torch.ones_like(scores)
        for cls in range(num_classes):
            of_class = inside & (targets.classes == cls)[..., None]
            weight[..., cls] = torch.where(of_class.any(1) & ~positive, 0.0, 1.0)
    return class_targets, assigned_boxes, positive, weight


def distribution_focal_loss(
    raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor, boxes: torch.Tensor
) -> torch.Tensor:
    """Per-cell DFL (K,): raw (K, 4 * REG_BINS) logits, points (K, 2), strides (K, 1), target
    boxes (K, 4). Each side's target distance (in bins) is split between its two nearest
    bins, and both are trained with cross-entropy by that split."""
    target = torch.cat([points - boxes[:, :2], boxes[:, 2:] - points], dim=-1) / strides
    target = (target + DISTANCE_OFFSET).clamp(0.0, REG_BINS - 1 - 0.01)  # in bins
    left = target.floor().long()
    right_weight = target - left
    logits = raw.view(-1, 4, REG_BINS).reshape(-1, REG_BINS)
    left_loss = functional.cross_entropy(logits, left.reshape(-1), reduction="none")
    right_loss = functional.cross_entropy(logits, (left + 1).reshape(-1), reduction="none")
    loss = left_loss * (1 - right_weight.reshape(-1)) + right_loss * right_weight.reshape(-1)
    return loss.view(-1, 4).mean(-1)


def detection_loss(
    raw_boxes: torch.Tensor,
    logits: torch.Tensor,
    boxes: torch.Tensor,
    points: torch.Tensor,
    strides: torch.Tensor,
    targets: Targets,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch: raw_boxes (B, N, 4 * REG_BINS) side-distance logits, logits (B, N, C),
    boxes (B, N, 4) decoded from raw_boxes, points (N, 2) and strides (N, 1) of the cells."""
    scores = logits.sigmoid()
    class_targets, assigned_boxes, positive, weight = assign(
        scores, boxes, points, strides, targets
    )
    normaliser = class_targets.sum().clamp(min=1.0)
    class_loss = (
        functional.binary_cross_entropy_with_logits(logits, class_targets, reduction="none")
        * weight
        * logits.new_tensor(CHANNEL_WEIGHTS)
    ).sum() / normaliser
    if positive.any():
        box_weight = class_targets.sum(-1)[positive]
        ciou = complete_iou(boxes[positive], assigned_boxes[positive])
        box_loss = ((1.0 - ciou) * box_weight).sum() / normaliser
        cell = positive.nonzero()[:, 1]
        dfl = distribution_focal_loss(
            raw_boxes[positive], points[cell], strides[cell], assigned_boxes[positive]
        )
        distribution_loss = (dfl * box_weight).sum() / normaliser
    else:
        box_loss = boxes.sum() * 0.0
        distribution_loss = raw_boxes.sum() * 0.0
    total = (
        CLASS_WEIGHT * class_loss + BOX_WEIGHT * box_loss + DISTRIBUTION_WEIGHT * distribution_loss
    )
    parts = {
        "cls": float(class_loss.detach()),
        "box": float(box_loss.detach()),
        "dfl": float(distribution_loss.detach()),
    }
    return total, parts
