"""`python -m simulator`: the `perps-sim` command line."""

from simulator.server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
