"""`python -m engines.build SITE.yaml [--check] [--force]`: what `make engines` runs.

Builds an engine for every model of the site whose backend is tensorrt or auto and whose
engine is missing or stale; `--check` only says, per model, up to date / stale (why) /
missing, and exits 1 when any is not up to date. Exit codes: 0 all up to date (or built),
1 stale or missing under --check, or a build failed, 2 bad site file or model, 3 no TensorRT
or no GPU here (one line, no traceback, saying what to install).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.logging import RichHandler

from engines.availability import TensorRtMissing
from engines.builder import BuildError, build_engine
from engines.calibration import CalibrationError
from engines.checking import fix_command, target_verdict, this_machine
from engines.manifest import DeviceFacts
from engines.onnx_preparation import PreparationError
from engines.precision import PrecisionUnavailable
from engines.progress import RichBuildProgress
from engines.targets import EngineTarget, TargetError, site_targets
from pipeline.config.loading import ConfigError, load_site_config
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.backends.cuda_memory import CudaError

EXIT_OK, EXIT_NOT_CURRENT, EXIT_CONFIG, EXIT_NO_TENSORRT = 0, 1, 2, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m engines.build",
        description="Build the TensorRT engines a site's models need (missing or stale ones).",
    )
    parser.add_argument("site", type=Path, help="site YAML, e.g. configs/demo.yaml")
    parser.add_argument(
        "--check", action="store_true", help="only say which engines are up to date; build none"
    )
    parser.add_argument("--force", action="store_true", help="rebuild engines that are up to date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Messages are plain lines (a terminal's width never wraps one); rich draws the progress.
    console = Console(soft_wrap=True, highlight=False)
    errors = Console(stderr=True, soft_wrap=True, highlight=False)
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=errors)]
    )
    try:
        site = load_site_config(args.site)
        targets = site_targets(site)
    except ConfigError as error:
        errors.print(str(error), markup=False, highlight=False)
        return EXIT_CONFIG
    except (ModelLoadError, TargetError) as error:
        errors.print(f"engines: {error}", markup=False, highlight=False)
        return EXIT_CONFIG
    if not targets:
        console.print(f"{args.site}: no model has backend tensorrt or auto; no engine to build")
        return EXIT_OK
    try:
        trt, device = this_machine(site.tensorrt.device_id)
    except (TensorRtMissing, CudaError) as error:
        errors.print(f"engines: {error}", markup=False, highlight=False)
        return EXIT_NO_TENSORRT
    console.print(
        f"TensorRT {device.tensorrt_version}, CUDA {device.cuda_version}, {device.gpu_name} "
        f"(compute {device.compute_capability})",
        highlight=False,
    )
    failed = sum(not _handle(trt, target, device, args, console, errors) for target in targets)
    if failed and args.check:
        errors.print(f"{failed} engine(s) not up to date: {fix_command(args.site)}", markup=False)
    elif failed:
        errors.print(f"{failed} engine(s) could not be built (see above)", markup=False)
    return EXIT_NOT_CURRENT if failed else EXIT_OK


def _handle(
    trt: ModuleType,
    target: EngineTarget,
    device: DeviceFacts,
    args: argparse.Namespace,
    console: Console,
    errors: Console,
) -> bool:
    """Check (and unless --check, build) one target; False when it is not up to date after."""
    label = ", ".join(target.models)
    try:
        verdict = target_verdict(target, device)
    except CalibrationError as error:
        errors.print(f"{label}: {error}", markup=False, highlight=False)
        return False
    if args.check:
        console.print(f"{label}: {target.engine}: {verdict.describe()}", markup=False)
        return verdict.up_to_date
    if verdict.up_to_date and not args.force:
        console.print(f"{label}: {target.engine}: up to date", markup=False)
        return True
    console.print(f"{label}: building {target.engine} ({verdict.describe()})", markup=False)
    try:
        with RichBuildProgress(console) as progress:
            manifest = build_engine(trt, target, device, progress)
    except (
        BuildError,
        PrecisionUnavailable,
        CalibrationError,
        PreparationError,
        CudaError,
    ) as error:
        errors.print(f"{label}: {error}", markup=False, highlight=False)
        return False
    console.print(
        f"{label}: built {target.engine} in {manifest.build_seconds:.0f} s "
        f"({manifest.precision_route})",
        markup=False,
    )
    return True


if __name__ == "__main__":
    sys.exit(main())
