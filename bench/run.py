"""Runs the benchmarks on SQLite and PostgreSQL and writes docs/PERFORMANCE.md.

    python -m bench.run                 # the real figures: several minutes per database
    python -m bench.run --quick         # a few seconds each, to see that it all still works

By default: ack latency, intake throughput, acks while the digest runs and the storm; ``--only`` picks
one, the tick and digest cost, the stats cost, the Home's cost and memory included. A quick run prints its report and writes
it only where ``--output`` says: its figures must not overwrite a real run's. Text between
the ``analysis`` markers of the existing report is carried over into the new one.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import (ack_latency, digest_acks, home_cost, intake_throughput, memory, report, stats_cost, storm,
                   timers_cost)
from bench.cli import DATABASES, configure
from bench.meter import REPO, machine
from bench.rig import log

DEFAULT_OUTPUT = REPO / "docs" / "PERFORMANCE.md"
SCENARIOS: dict[str, Any] = {"ack": ack_latency, "intake": intake_throughput, "digest": digest_acks,
                             "timers": timers_cost, "stats": stats_cost, "memory": memory, "storm": storm,
                             "home": home_cost}
DEFAULT = ("ack", "intake", "digest", "storm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per benchmark; prints, writes only "
                                                             "with --output")
    parser.add_argument("--databases", default=",".join(DATABASES), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--only", choices=tuple(SCENARIOS), help="run one benchmark only")
    parser.add_argument("--output", help=f"where to write the report (default {DEFAULT_OUTPUT.relative_to(REPO)}; "
                                         "a quick run writes nothing unless given)")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    for name in databases:
        if name not in DATABASES:
            parser.error(f"unknown database {name!r}; choose from {', '.join(DATABASES)}")
    given = sys.argv[1:] if argv is None else argv
    command = "python -m bench.run" + (" " + shlex.join(given) if given else "")
    started, info = time.monotonic(), machine()
    chosen = (args.only,) if args.only else DEFAULT
    results: dict[str, dict[str, Any]] = {kind: {} for kind in chosen}
    for database in databases:
        for kind in chosen:
            log(f"{kind} on {database}")
            module = SCENARIOS[kind]
            results[kind][database] = module.run(configure(module.Config, quick=args.quick, database=database))
    info["minutes"] = round((time.monotonic() - started) / 60, 1)
    if args.json:  # first, so that the figures survive a failure to render them
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=2, default=str))
    output = Path(args.output) if args.output else (None if args.quick else DEFAULT_OUTPUT)
    previous = output.read_text() if output is not None and output.exists() else ""
    analysis = ""
    if report.ANALYSIS_START in previous and report.ANALYSIS_END in previous:
        analysis = previous.split(report.ANALYSIS_START, 1)[1].split(report.ANALYSIS_END, 1)[0].strip()
    text = report.document(info, command, results, quick=args.quick, analysis=analysis)
    if output is None:
        print(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
