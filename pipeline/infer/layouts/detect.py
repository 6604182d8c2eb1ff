"""Tell a model's output layout from its inputs, outputs and metadata, or check a configured one.

Names decide first (EfficientNMS's four outputs, RT-DETR's `labels`/`boxes`/`scores`), then the
shape of a single output together with the metadata. A (B, K, 6) output reads as end2end
(x1, y1, x2, y2 in pixels) or as RT-DETR (normalised cx, cy, w, h): only the metadata (the
detection head, `end2end`, the `nms=True` export) or the configuration tells them apart, never
the numbers; when nothing does, the model is refused with a message saying what to set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.infer.layouts.layout import (
    DEFAULT_PREPROCESSING,
    Dim,
    Layout,
    LayoutError,
    LayoutInfo,
    Preprocessing,
    TensorDescription,
    describe_tensors,
    supported_layouts,
)
from pipeline.infer.layouts.metadata import (
    RTDETR_SIX_COLUMNS_SINCE,
    Family,
    ModelMetadata,
    read_metadata,
)

COUNT_NAMES = ("num_dets", "num_detections")
BOXES_NAMES = ("det_boxes", "detection_boxes")
SCORES_NAMES = ("det_scores", "detection_scores")
CLASSES_NAMES = ("det_classes", "detection_classes")
ORIGINAL_RTDETR_OUTPUTS = ("labels", "boxes", "scores")
ORIGINAL_RTDETR_SIZE_INPUT = "orig_target_sizes"


@dataclass(frozen=True)
class _Model:
    """The description being judged, so helpers can word their refusals."""

    inputs: Sequence[TensorDescription]
    outputs: Sequence[TensorDescription]
    meta: ModelMetadata
    names: int | None  # class names known: metadata `names`, else the caller's count

    def refuse(self, reason: str) -> LayoutError:
        return _refusal(reason, self.inputs, self.outputs)


def _refusal(
    reason: str, inputs: Sequence[TensorDescription], outputs: Sequence[TensorDescription]
) -> LayoutError:
    choices = ", ".join(layout.value for layout in Layout)
    return LayoutError(
        f"{reason.rstrip('.')}.\nOutputs: {describe_tensors(outputs)}; "
        f"inputs: {describe_tensors(inputs)}.\n"
        f"Supported layouts:\n{supported_layouts()}\n"
        f"When the file cannot tell, set `layout:` in the model's entry of the site file "
        f"(one of: {choices})."
    )


def detect_layout(
    inputs: Sequence[TensorDescription],
    outputs: Sequence[TensorDescription],
    metadata: Mapping[str, str],
    configured: Layout | None = None,
    *,
    num_classes: int | None = None,
    preprocessing: Preprocessing | None = None,
) -> LayoutInfo:
    """Decide how to read a model's outputs.

    `inputs`/`outputs`: (name, shape) as the model file describes them, dims `int` or `str`
    (symbolic). `metadata`: the file's `metadata_props`. `configured`: the site file's
    `layout:`, checked against the outputs (a contradiction is refused, never overridden).
    `num_classes`: how many class names the caller has from elsewhere (prompts, config) for a
    file whose metadata has none. `preprocessing`: the site file's choice, else the file's own
    declaration, else the layout's default (DEFAULT_PREPROCESSING).
    Raises LayoutError naming the outputs and the supported layouts.
    """
    try:
        meta = read_metadata(metadata)
    except LayoutError as error:
        raise _refusal(str(error), inputs, outputs) from error
    if meta.num_names is not None and num_classes is not None and meta.num_names != num_classes:
        raise _refusal(
            f"the model's metadata lists {meta.num_names} class names but {num_classes} were "
            f"given for it",
            inputs,
            outputs,
        )
    names = meta.num_names if meta.num_names is not None else num_classes
    model = _Model(inputs, outputs, meta, names)
    if meta.task not in (None, "detect"):
        raise model.refuse(f"the model's metadata says task {meta.task!r}: only detectors run")
    if configured is not None and meta.declared_layout not in (None, configured):
        raise model.refuse(
            f"the site file says `layout: {configured.value}` but the model's metadata declares "
            f"{meta.declared_layout.value if meta.declared_layout else ''}"
        )
    wanted = configured or meta.declared_layout
    image_input, others = _image_input(model)
    info = _by_names(model, wanted) or _by_shape(model, wanted)
    if wanted is not None and info.layout is not wanted:
        raise model.refuse(
            f"`layout: {wanted.value}` does not fit this model: {info.reason} reads as "
            f"{info.layout.value}"
        )
    unfed = [name for name, _ in others if name != info.size_input]
    if unfed:
        raise model.refuse(
            f"the model has inputs the runtime does not feed ({', '.join(unfed)}); only the "
            f"image input (B, 3, H, W) is fed, plus orig_target_sizes for rtdetr_original"
        )
    chosen = preprocessing or meta.declared_preprocessing or DEFAULT_PREPROCESSING[info.layout]
    return LayoutInfo(
        layout=info.layout,
        preprocessing=chosen,
        num_classes=info.num_classes if info.num_classes is not None else model.names,
        normalised_boxes=info.normalised_boxes,
        image_input=image_input,
        outputs=info.outputs,
        class_scores=info.class_scores,
        size_input=info.size_input,
        reason=info.reason,
    )


def _image_input(model: _Model) -> tuple[str, list[TensorDescription]]:
    images = [(name, shape) for name, shape in model.inputs if len(shape) == 4]
    if len(images) != 1:
        raise model.refuse(
            f"expected one image input (B, 3, H, W), found {len(images)} four-dimensional inputs"
        )
    others = [(name, shape) for name, shape in model.inputs if name != images[0][0]]
    return images[0][0], others


def _fixed(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _found(
    layout: Layout,
    outputs: tuple[str, ...],
    reason: str,
    *,
    num_classes: int | None = None,
    normalised_boxes: bool = False,
    class_scores: bool = False,
    size_input: str | None = None,
) -> LayoutInfo:
    """A partial LayoutInfo: detect_layout fills in the preprocessing and the image input."""
    return LayoutInfo(
        layout=layout,
        preprocessing=DEFAULT_PREPROCESSING[layout],
        num_classes=num_classes,
        normalised_boxes=normalised_boxes,
        image_input="",
        outputs=outputs,
        class_scores=class_scores,
        size_input=size_input,
        reason=reason,
    )


def _by_names(model: _Model, wanted: Layout | None) -> LayoutInfo | None:
    shapes = {name: list(shape) for name, shape in model.outputs}
    count, boxes, scores, classes = (
        next((name for name in names if name in shapes), None)
        for names in (COUNT_NAMES, BOXES_NAMES, SCORES_NAMES, CLASSES_NAMES)
    )
    if count and boxes and scores and classes:
        return _efficient_nms(model, (count, boxes, scores, classes), "output names")
    if wanted is Layout.EFFICIENT_NMS and len(model.outputs) == 4:
        # The plugin's documented order; the names are whatever the graph's builder chose.
        names = tuple(name for name, _ in model.outputs)
        return _efficient_nms(model, names, "the configured layout and the plugin's output order")
    if all(name in shapes for name in ORIGINAL_RTDETR_OUTPUTS):
        return _rtdetr_original(model, shapes)
    return None


def _efficient_nms(model: _Model, names: tuple[str, ...], evidence: str) -> LayoutInfo:
    shapes = dict(model.outputs)
    count, boxes, scores, classes = (list(shapes[name]) for name in names)
    detections = {_fixed(boxes[1]) if len(boxes) == 3 else None, _fixed(scores[-1])}
    fits = (
        len(count) == 2
        and _fixed(count[1]) in (1, None)
        and len(boxes) == 3
        and boxes[2] == 4
        and len(scores) == 2
        and len(classes) == 2
        and len(detections - {None}) <= 1
    )
    if not fits:
        raise model.refuse(
            "EfficientNMS outputs need count (B, 1), boxes (B, K, 4), scores (B, K) and "
            "classes (B, K)"
        )
    return _found(Layout.EFFICIENT_NMS, names, f"outputs {', '.join(names)} ({evidence})")


def _rtdetr_original(model: _Model, shapes: dict[str, list[Dim]]) -> LayoutInfo:
    labels, boxes, scores = (shapes[name] for name in ORIGINAL_RTDETR_OUTPUTS)
    if not (len(labels) == 2 and len(boxes) == 3 and boxes[2] == 4 and len(scores) == 2):
        raise model.refuse("RT-DETR outputs need labels (B, K), boxes (B, K, 4) and scores (B, K)")
    sizes = dict(model.inputs).get(ORIGINAL_RTDETR_SIZE_INPUT)
    if sizes is None or len(sizes) != 2 or _fixed(sizes[1]) not in (2, None):
        raise model.refuse(
            "outputs labels, boxes and scores are RT-DETR's own export, which scales its boxes "
            f"by an input {ORIGINAL_RTDETR_SIZE_INPUT} (B, 2); this model has no such input"
        )
    return _found(
        Layout.RTDETR_ORIGINAL,
        ORIGINAL_RTDETR_OUTPUTS,
        f"outputs labels, boxes, scores and input {ORIGINAL_RTDETR_SIZE_INPUT}",
        size_input=ORIGINAL_RTDETR_SIZE_INPUT,
    )


def _by_shape(model: _Model, wanted: Layout | None) -> LayoutInfo:
    if len(model.outputs) != 1:
        raise model.refuse(f"{len(model.outputs)} outputs match no multi-output layout by name")
    if wanted in (Layout.RTDETR_ORIGINAL, Layout.EFFICIENT_NMS):
        raise model.refuse(f"`layout: {wanted.value}` needs several outputs, the model has one")
    name, shape = model.outputs[0]
    if len(shape) != 3:
        raise model.refuse(f"output {name} has {len(shape)} dimensions, the layouts have 3")
    meta, names = model.meta, model.names
    rows, columns = _fixed(shape[1]), _fixed(shape[2])
    described = f"output {name} {list(shape)}"
    evidence = meta.family_evidence or "no metadata naming the detector"
    family = meta.family
    if wanted is Layout.YOLO or (wanted is None and family is Family.YOLO and columns != 6):
        if family is Family.RTDETR:
            raise model.refuse(f"{described} is an RT-DETR output ({evidence})")
        return _yolo(model, name, rows, columns, f"{described} with {evidence}")
    if wanted is Layout.END2END or (wanted is None and family is Family.YOLO):
        return _end2end(model, name, columns, f"{described} with {evidence}")
    if wanted is Layout.RTDETR or (wanted is None and family is Family.RTDETR):
        if family is Family.YOLO:
            raise model.refuse(f"{described} is a YOLO output ({evidence})")
        return _rtdetr(model, name, columns, f"{described} with {evidence}", wanted)
    # No metadata names the detector: only unambiguous shapes pass.
    if columns == 6 and meta.nms:
        return _found(Layout.END2END, (name,), f"{described} from an nms=True export")
    if columns == 6:
        raise model.refuse(
            f"{described} reads as end2end (x1, y1, x2, y2 in pixels) or as rtdetr "
            f"(normalised cx, cy, w, h) and no metadata (head, end2end, nms) tells which"
        )
    if names is None:
        raise model.refuse(
            f"{described} and no class names: without them the class axis cannot be told "
            f"(add names to the model's metadata or to the site file)"
        )
    if rows == 4 + names and columns != 4 + names:
        return _yolo(model, name, rows, columns, f"{described} with {names} class names")
    raise model.refuse(f"{described} fits no layout for {names} class names")


def _yolo(
    model: _Model, name: str, rows: int | None, columns: int | None, reason: str
) -> LayoutInfo:
    if columns == 6:
        # 6 cells is no raw YOLO grid (a 32x32 input already has 21): these are 6 columns.
        raise model.refuse(f"{reason}: (B, K, 6) is an end2end or rtdetr output, not yolo")
    if rows is not None and rows < 5:
        raise model.refuse(f"a yolo output needs 4 + classes >= 5 rows, {name} has {rows}")
    if rows is not None and model.names is not None and rows != 4 + model.names:
        raise model.refuse(
            f"{name} has {rows - 4} class rows but {model.names} class names are known"
        )
    return _found(Layout.YOLO, (name,), reason, num_classes=None if rows is None else rows - 4)


def _end2end(model: _Model, name: str, columns: int | None, reason: str) -> LayoutInfo:
    if model.meta.family is Family.RTDETR:
        raise model.refuse(f"{reason}: an RT-DETR output, not end2end")
    if columns != 6:
        raise model.refuse(f"an end2end output is (B, K, 6), {name} has {columns} columns")
    # A YOLO family's raw output cannot have 6 cells (a 32x32 input already has 21), so a
    # YOLO detector's (B, K, 6) is its post-NMS form.
    return _found(Layout.END2END, (name,), reason)


def _rtdetr(
    model: _Model, name: str, columns: int | None, reason: str, wanted: Layout | None
) -> LayoutInfo:
    names, meta = model.names, model.meta
    if columns == 6:
        # With 2 classes (or none known) the older per-class form has 6 columns too. The
        # current exporter's form is read when the file says it comes from that exporter or
        # when the site file sets the layout.
        recent = bool(meta.end2end) or (meta.version or (0,)) >= RTDETR_SIX_COLUMNS_SINCE
        if names in (None, 2) and not (recent or wanted is Layout.RTDETR):
            raise model.refuse(
                f"{reason}: 6 columns are cx, cy, w, h, score, class (Ultralytics 8.4 and "
                f"later) or two per-class scores (older exports); set `layout: rtdetr` for the "
                f"first, or export again with a current Ultralytics"
            )
        per_class = False
    elif columns is None or (columns >= 5 and names in (None, columns - 4)):
        per_class = True  # only the per-class form has a class axis (maybe symbolic)
    else:
        raise model.refuse(
            f"{reason}: an RT-DETR output has 6 or 4 + classes columns, {name} has {columns} "
            f"for {names} class names"
        )
    return _found(
        Layout.RTDETR,
        (name,),
        reason,
        num_classes=(columns - 4) if per_class and columns else None,
        normalised_boxes=True,
        class_scores=per_class,
    )
