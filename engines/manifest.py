"""The manifest beside every engine: what it was built from, how, and on what.

`<engine>.json` next to `<engine>`. A TensorRT engine runs only on the TensorRT version and
the GPU architecture that built it (shared/API_NOTES.md §1, portability), and silently
encodes the ONNX, precision and batch profile it was built with: the manifest records all of
it so that a stale engine is named as such, with the reason, before TensorRT is asked to
load it. Pure: JSON in and out, no TensorRT.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import Field, ValidationError

from pipeline.config.backends import Precision
from pipeline.config.frozen import Frozen

MANIFEST_FORMAT = 1


class ManifestError(ValueError):
    """The manifest cannot be read or is not one this code wrote."""


class TensorInfo(Frozen):
    """One tensor of the source ONNX graph: name and dims (ints, or names of open axes)."""

    name: str
    dims: tuple[int | str, ...]


class DeviceFacts(Frozen):
    """The build machine's side of an engine's identity."""

    tensorrt_version: str = Field(title="trt.__version__")
    cuda_version: str = Field(title="CUDA runtime, major.minor")
    gpu_name: str
    compute_capability: str = Field(title="major.minor, e.g. 8.6")

    @property
    def tensorrt_major(self) -> int:
        return int(self.tensorrt_version.split(".")[0])


class BuildSettings(Frozen):
    """The site's side of an engine's identity: what it asks to be built."""

    onnx_sha256: str = Field(min_length=64, max_length=64)
    precision: Precision
    batch_profile: tuple[int, int, int] = Field(title="min, opt, max images per call")
    frames_input: str = Field(title="The engine's uint8 (B, H, W, 3) BGR input")
    input_shape: tuple[int, int, int, int] = Field(title="Frames input at max batch: B, H, W, 3")
    dla_core: int | None = None
    calibration: str | None = Field(None, title="int8: id of the calibration frames used")


class EngineManifest(Frozen):
    format: int = MANIFEST_FORMAT
    source_onnx: str = Field(title="The ONNX file built from, as the site named it")
    settings: BuildSettings
    device: DeviceFacts
    onnx_inputs: tuple[TensorInfo, ...] = Field(title="Source graph's inputs (model spec)")
    onnx_outputs: tuple[TensorInfo, ...]
    metadata: dict[str, str] = Field(title="Source graph's metadata_props (names, imgsz...)")
    classes: tuple[str, ...]
    layout: str
    precision_route: str = Field(title="How the precision was obtained (builder flag, AutoCast...)")
    built_at: str = Field(title="UTC, ISO 8601")
    build_seconds: float = Field(ge=0)


def manifest_path(engine: Path) -> Path:
    """`models/engines/ppe-demo.fp16.engine` -> `models/engines/ppe-demo.fp16.engine.json`."""
    return engine.with_name(engine.name + ".json")


def read_manifest(path: Path) -> EngineManifest:
    """The manifest at `path`; ManifestError naming the file if it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest beside the engine") from None
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the manifest: {error.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ManifestError(
            f"{path}: manifest format {found!r}, this version reads {MANIFEST_FORMAT}"
        )
    try:
        return EngineManifest.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ManifestError(f"{path}: manifest key {where}: {first['msg']}") from None


def write_manifest(path: Path, manifest: EngineManifest) -> None:
    """Write atomically (temp file, then rename): a killed build never leaves half a file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_tensors(
    path: Path,
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], dict[str, str]]:
    """(inputs, outputs, metadata_props) of the ONNX graph at `path`, as the manifest keeps
    them so that the engine describes its model without the ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initializers = {init.name for init in graph.initializer}

    def info(value: onnx.ValueInfoProto) -> TensorInfo:
        dims = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value.type.tensor_type.shape.dim
        )
        return TensorInfo(name=value.name, dims=dims)

    inputs = tuple(info(v) for v in graph.input if v.name not in initializers)
    outputs = tuple(info(v) for v in graph.output)
    return inputs, outputs, {prop.key: prop.value for prop in model.metadata_props}
