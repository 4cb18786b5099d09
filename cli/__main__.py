"""`python -m cli …` runs the `sohoa` command (the demo starts its server this way)."""

from cli.main import main

main()
