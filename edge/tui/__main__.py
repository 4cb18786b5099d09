"""`python -m edge.tui --config edge.toml`: the kiosk without the `sohoa` command's other
imports (the server's, FastAPI's): what an appliance's service starts, a second sooner than
`sohoa edge tui`. No `--demo` here (the demo starts a server; `sohoa edge tui --demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import load_edge_settings
from edge.errors import EdgeError
from edge.tui.run import run_kiosk


def main() -> None:
    """Parse `--config`, run the kiosk; a setting that does not work exits 6 with one line."""
    parser = argparse.ArgumentParser(prog="python -m edge.tui", description=__doc__)
    parser.add_argument("--config", type=Path, help="the appliance's TOML settings")
    args = parser.parse_args()
    try:
        settings = load_edge_settings(args.config)
    except EdgeError as e:
        print(f"sohoa: error: {e}", file=sys.stderr)
        sys.exit(6)
    run_kiosk(settings)


if __name__ == "__main__":
    main()
