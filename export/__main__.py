"""`python -m export ultralytics SOURCE --out FILE.onnx ...`, `python -m export parity ...`.

These run in the export venv (requirements-export.txt, `make export-venv`); from a Python
without its packages the command says how to set it up and exits with 2.
"""

from __future__ import annotations

import sys

from export.ultralytics.environment import missing_packages, setup_hint

COMMANDS = ("ultralytics", "parity")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] in COMMANDS:
        missing = missing_packages()
        if missing:
            print(f"export: {setup_hint(missing)}", file=sys.stderr)
            return 2
    # Imported only now: it needs the export venv's packages (argparse handles --help and
    # unknown commands before anything heavy loads).
    from export.ultralytics.cli import main as cli_main

    return cli_main(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
