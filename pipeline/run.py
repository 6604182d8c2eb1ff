"""`python -m pipeline.run SITE.yaml`: run a site until stopped (or for --duration seconds).

The predecessor's flags keep working and override the YAML: --config, --prompts, --roi,
--roi-polys, --log-file, --heartbeat-timeout, --max-restarts, --restart-window.

SIGINT, SIGTERM and SIGHUP (the terminal closed) stop the site cleanly; a second SIGINT or
SIGTERM forces. Exit codes (pipeline/lifecycle.py, ExitCode): 0 stopped on request or every
source finished; 1 nothing can run (inference, or every camera, FATAL after crashing);
2 bad configuration or too little shared memory (nothing was started); 3 the model cannot
run (also when a tensorrt model's engine is missing or stale, found before anything starts);
4 no camera's source can work (every camera OFFLINE).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

from pipeline.config import ConfigError, Override
from pipeline.config.loading import load_site
from pipeline.lifecycle import ExitCode
from pipeline.shm.segments import ShmSpaceError

logger = logging.getLogger(__name__)


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("site", nargs="?", type=Path, help="site YAML (same as --config)")
    parser.add_argument("--config", type=Path, help="site YAML")
    parser.add_argument(
        "--prompts", type=Path, help="prompts YAML (the classes the detector was exported with)"
    )
    parser.add_argument("--roi", type=Path, help="ROI polygons JSON, for every camera")
    parser.add_argument(
        "--roi-polys", nargs="+", metavar="NAME", help="names of the ROI polygons to use"
    )
    parser.add_argument(
        "--log-file", type=Path, help="central log (default: <run folder>/pipeline.log)"
    )
    parser.add_argument("--heartbeat-timeout", type=float, metavar="SECONDS", help="default 30")
    parser.add_argument(
        "--max-restarts", type=int, help="per process inside --restart-window (default 5)"
    )
    parser.add_argument("--restart-window", type=float, metavar="SECONDS", help="default 3600")
    parser.add_argument(
        "--output-dir", type=Path, help="run folder (default runs/<site>/<UTC time>)"
    )
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop cleanly after this long"
    )
    parser.add_argument(
        "--no-dashboard", action="store_true", help="status lines instead of the live view"
    )
    return parser


FLAG_KEYS = {
    "prompts": ("prompts", "--prompts"),
    "roi": ("roi", "--roi"),
    "roi_polys": ("roi_polys", "--roi-polys"),
    "log_file": ("log_file", "--log-file"),
    "heartbeat_timeout": ("supervisor_heartbeat_timeout", "--heartbeat-timeout"),
    "max_restarts": ("supervisor_max_restarts", "--max-restarts"),
    "restart_window": ("supervisor_restart_window", "--restart-window"),
    "output_dir": ("output_dir", "--output-dir"),
}


def overrides_from(args: argparse.Namespace) -> list[Override]:
    result = []
    for attribute, (key, flag) in FLAG_KEYS.items():
        value = getattr(args, attribute)
        if value is None:
            continue
        if attribute == "roi_polys":  # also accept "a,b" as the predecessor's users may type it
            value = [name for item in value for name in item.split(",") if name]
        result.append(Override(key, str(value) if isinstance(value, Path) else value, flag))
    return result


def main(argv: list[str] | None = None, prog: str = "python -m pipeline.run") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.site and args.config and args.site != args.config:
        parser.error(f"two site files given ({args.site} and --config {args.config}); give one")
    config_path = args.config or args.site
    if config_path is None:
        parser.error("give the site file: python -m pipeline.run configs/demo.yaml")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be > 0 seconds")

    # Heavy imports after argument parsing, so `--help` and config errors answer at once.
    from supervisor.arbiter import RunOptions, Supervisor
    from supervisor.engine_check import EngineNotReady
    from supervisor.logsink import LogSink
    from supervisor.preflight import prepare_site
    from supervisor.terminal import Terminal

    try:
        loaded = load_site(config_path, overrides_from(args))
        config = loaded.config
        plan = prepare_site(config, config_path, loaded.locator)
    except EngineNotReady as error:
        print(f"{prog}: the model cannot run, nothing started:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return ExitCode.MODEL
    except ConfigError as error:
        print(f"{prog}: configuration error, nothing started:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return ExitCode.CONFIG

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = config.output_dir or Path("runs") / config.site / stamp
    log_file = config.log_file or run_dir / "pipeline.log"
    run_dir.mkdir(parents=True, exist_ok=True)
    # Nothing but the terminal thread writes to the terminal from here on: a terminal that
    # stops reading must never stall supervision (supervisor/terminal.py).
    terminal = Terminal()
    terminal.start()
    logs = LogSink(log_file, terminal)
    logs.start()
    options = RunOptions(
        run_dir, log_file, args.duration, dashboard=not args.no_dashboard, terminal=terminal
    )
    terminal.status_line(
        f"{prog}: site {config.site}, {len(config.cameras)} cameras, run folder {run_dir}"
    )
    try:
        return Supervisor(plan, options).run(logs)
    except ShmSpaceError as error:
        logger.error("Cannot start: %s", error.strerror)  # pipeline.log and the terminal
        return ExitCode.CONFIG
    finally:
        logs.close()
        terminal.close()


if __name__ == "__main__":
    sys.exit(main())
