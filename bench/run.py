"""Runs every benchmark on SQLite and PostgreSQL and writes docs/PERFORMANCE.md.

    python -m bench.run                 # the real figures: several minutes per database
    python -m bench.run --quick         # a few seconds each, to see that it all still works

A quick run prints its report and writes it only where ``--output`` says: its figures are
too short to be worth keeping, and must not overwrite a real run's. Text between the
``analysis`` markers of the existing report is carried over into the new one.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import ack_latency, digest_acks, intake_throughput
from bench.common import REPO, SERVE_DEFAULT_THREADS, log, machine, ratio, table

DEFAULT_OUTPUT = REPO / "docs" / "PERFORMANCE.md"
ANALYSIS_START, ANALYSIS_END = "<!-- analysis:start -->", "<!-- analysis:end -->"
DATABASES = ("sqlite", "postgresql")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per benchmark; prints, writes only "
                                                             "with --output")
    parser.add_argument("--databases", default=",".join(DATABASES), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--only", choices=("ack", "intake", "digest"), help="run one benchmark only")
    parser.add_argument("--output", help=f"where to write the report (default {DEFAULT_OUTPUT.relative_to(REPO)}; "
                                         "a quick run writes nothing unless given)")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    for name in databases:
        if name not in DATABASES:
            parser.error(f"unknown database {name!r}; choose from {', '.join(DATABASES)}")
    command = "python -m bench.run" + ("" if argv is None and len(sys.argv) <= 1 else
                                       " " + shlex.join(argv if argv is not None else sys.argv[1:]))
    started = time.monotonic()
    info = machine()
    results: dict[str, dict[str, Any]] = {"ack": {}, "intake": {}, "digest": {}}
    for database in databases:
        if args.only in (None, "ack"):
            log(f"ack latency on {database}")
            config = (ack_latency.AckConfig.quick_config(database=database) if args.quick
                      else ack_latency.AckConfig(database=database))
            results["ack"][database] = ack_latency.run(config)
        if args.only in (None, "intake"):
            log(f"intake throughput on {database}")
            config = (intake_throughput.IntakeConfig.quick_config(database=database) if args.quick
                      else intake_throughput.IntakeConfig(database=database))
            results["intake"][database] = intake_throughput.run(config)
        if args.only in (None, "digest"):
            log(f"acks while the digest runs on {database}")
            config = (digest_acks.DigestAcksConfig.quick_config(database=database) if args.quick
                      else digest_acks.DigestAcksConfig(database=database))
            results["digest"][database] = digest_acks.run(config)
    info["minutes"] = round((time.monotonic() - started) / 60, 1)
    if args.json:  # first, so that the figures survive a failure to render them
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=2, default=str))
    output = Path(args.output) if args.output else (None if args.quick else DEFAULT_OUTPUT)
    previous = output.read_text() if output is not None and output.exists() else ""
    report = render(info, command, results, quick=args.quick, analysis=_analysis(previous))
    if output is None:
        print(report)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
        log(f"wrote {output}")
    return 0


def _analysis(previous: str) -> str:
    if ANALYSIS_START in previous and ANALYSIS_END in previous:
        return previous[previous.index(ANALYSIS_START) + len(ANALYSIS_START):previous.index(ANALYSIS_END)].strip()
    return ""


def render(info: dict[str, Any], command: str, results: dict[str, dict[str, Any]], *, quick: bool,
           analysis: str = "") -> str:
    lines = ["# Performance", ""]
    if quick:
        lines += ["> **Quick run**: a few seconds per benchmark, to check that they work. These figures are not "
                  "measurements; run `python -m bench.run` for those.", ""]
    lines += [
        f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB memory "
        f"({info['memory_available_gib']} GiB available at the start), Linux {info['kernel']}, Python "
        f"{info['python']}; load average at the start {' '.join(info['loadavg'])}. The machine is shared: "
        "figures are medians of rounds, and every bot figure is compared with a floor measured alternately "
        "with it in the same run. The whole run took " f"{info.get('minutes', 0)} minutes.",
        "",
        f"Command: `{command}` (from the repository root, with the project's virtualenv). Code: commit "
        f"`{info.get('commit', 'unknown')}`" + (f", plus uncommitted changes to {', '.join(info['uncommitted'])}"
                                                 if info.get("uncommitted") else "")
        + f" (product files digest `{info.get('product_digest', '?')}` at the start)." + _code_drift(results),
        "",
        "## Targets", "",
        _summary(results), "",
    ]
    if analysis:
        lines += ["## Analysis", "", ANALYSIS_START, analysis, ANALYSIS_END, ""]
    else:
        lines += [ANALYSIS_START, ANALYSIS_END, ""]
    lines += ["## How it is measured", "", *_method(), ""]
    for database, result in results["ack"].items():
        lines += [f"## Ack latency: {_name(database)}", "", ack_latency.markdown(result)]
    for database, result in results["intake"].items():
        lines += [f"## Intake throughput: {_name(database)}", "", intake_throughput.markdown(result)]
    for database, result in results.get("digest", {}).items():
        lines += [f"## Acks while the digest runs: {_name(database)}", "", digest_acks.markdown(result)]
    return "\n".join(lines).rstrip() + "\n"


def _code_drift(results: dict[str, dict[str, Any]]) -> str:
    digests = {result.get("product_digest") for group in results.values() for result in group.values()}
    if len(digests) <= 1:
        return ""
    return (" **The product files changed during the run** (other work in progress): each section below names "
            "the digest of the code it measured.")


def _name(database: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(database, database)


def _summary(results: dict[str, dict[str, Any]]) -> str:
    databases = sorted(set(results["ack"]) | set(results["intake"]) | set(results.get("digest", {})),
                       key=DATABASES.index)
    rows: list[list[str]] = []

    def row(label: str, target: str, cell) -> None:  # noqa: ANN001
        rows.append([label, target] + [cell(d) for d in databases])

    def ack(database: str) -> dict[str, Any] | None:
        return results["ack"].get(database)

    def intake(database: str) -> dict[str, Any] | None:
        return results["intake"].get(database)

    def p99_ratio(d: str) -> str:
        a = ack(d)
        if not a:
            return "not run"
        stress = a["config"]["stress_concurrency"]
        r = a["main"].get(stress, {}).get("p99_ratio", math.nan)
        bot, bare = a["main"][stress]["recovery"]["p99"], a["main"][stress]["bare"]["p99"]
        return f"{ratio(r)} ({bot * 1000:.0f} ms / {bare * 1000:.0f} ms): {ack_latency._verdict(r)}"

    def ack_errors(d: str) -> str:
        a = ack(d)
        if not a:
            return "not run"
        t = a["totals"]
        ok = t["errors"] == 0 and t["non_2xx"] == 0 and t["over_3s"] == 0
        return f"{t['errors']} / {t['non_2xx']} / {t['over_3s']} of {t['requests']}: {'met' if ok else 'NOT met'}"

    def slack_down(d: str) -> str:
        a = ack(d)
        if not a:
            return "not run"
        stress = a["config"]["stress_concurrency"]
        healthy = a["main"][stress]["recovery"]["p99"]
        parts, ok = [], True
        for mode, result in a["degraded"].items():
            bad = result["errors"] + result["non_2xx"] + result["over_3s"]
            ok &= bad == 0
            parts.append(f"{mode.removeprefix('slack_')}: p99 {result['recovery']['p99'] * 1000:.0f} ms "
                         f"({ratio(result['recovery']['p99'] / healthy)} of healthy), {bad} failed/slow")
        return "; ".join(parts) + (": met" if ok else ": NOT met")

    def forged(d: str) -> str:
        a = ack(d)
        if not a:
            return "not run"
        f = a["forged"]
        slow = f["targets"]["recovery"]["p99_slowdown"]
        ok = f["all_401"] and f["rows_written_total"] == 0
        return (f"all 401: {'yes' if f['all_401'] else 'NO'}, rows written {f['rows_written_total']}, legit p99 "
                f"with/without {ratio(slow)}: {'met' if ok else 'NOT met'}")

    def intake_main(d: str) -> str:
        i = intake(d)
        if not i:
            return "not run"
        m = i["main"]
        drain = f"drained in {m['drain_seconds']:.1f} s" if m["all_cards_out"] else \
            f"{m['flags'] - m['cards_distinct']} cards still owed {m['watched_for']:.0f} s after"
        verdict = ("met" if m["holds"] else "NOT met") if m["rate"] >= intake_throughput.TARGET_RATE \
            else "not measured at 100/s"
        return (f"{m['rate']:g}/s x {m['seconds']:g} s: {m['incidents']}/{m['flags']} stored, "
                f"{m['cards_distinct']} cards, {m['cards_per_s_during_load']:.0f} cards/s during load, {drain}: "
                f"{verdict}")

    def highest(d: str) -> str:
        i = intake(d)
        if not i:
            return "not run"
        h = i["highest_holding_rate"]
        failing = i["first_failing"]
        return (f"{h:g} flags/s" if h else "none") + (f" (next step {failing['rate']:g}/s: {failing['why_not']})"
                                                      if failing else "")

    row("Ack p99 at concurrency 16, bot / bare Bolt", "<= 2x (aim 1.5x)", p99_ratio)
    row("Acks: errors / non-2xx / over 3 s", "0", ack_errors)
    row("Acks while Slack answers 429, drops connections, stalls", "no errors, no slowdown", slack_down)
    row("Forged requests (wrong secret, stale, unsigned)", "all 401, 0 rows, no slowdown", forged)
    row("Intake end to end", "100 flags/s, drained within 5 s", intake_main)
    row("Highest intake rate that holds", "at least 100 flags/s", highest)
    row("Acks while the digest of a 100,000-incident channel runs (p99 / no digest, same round)",
        f"<= {digest_acks.TARGET_RATIO:g}x; previews 2xx within 3 s",
        lambda d: digest_acks.summary_cell(results.get("digest", {}).get(d)))
    return table(["what", "target"] + [_name(d) for d in databases], rows)


def _method() -> list[str]:
    return [
        "- The benchmarks drive the real `python -m bot serve` (a subprocess, waitress, "
        f"{SERVE_DEFAULT_THREADS} threads as `serve`'s default) with Slack-signed HTTP requests shaped as "
        "`bot/slack_driver.py` shapes them, on keep-alive connections from a Python client on the same machine. "
        "`SLACK_API_URL` points at the Slack double (`bot/fake_slack.py`'s `FakeSlack`) in a process of its own, "
        "with indexed lookups and `conversations.history` honouring `latest`/`oldest` as Slack does "
        "(`bench/slack_double.py`).",
        "- The floor is `bench/bare_app.py`: Bolt with the same settings, secret, adapter, waitress and thread "
        "count, listeners that only ack. Bot and floor run alternately (bot, bare, bot, bare...) at each "
        "concurrency, each round; a ratio is taken within a round and the median of rounds is reported. Before "
        "every bot phase and after it, the benchmark waits until the bot's outbox owes nothing, so the floor is "
        "never measured while the bot still works in the background.",
        "- Ack latency is from sending the request to reading the whole answer. The load is a closed loop at "
        "the given concurrency. The mix is a quarter each of `/recovery list`, `/recovery new <summary>`, "
        "`reaction_added` on a message never flagged before, and Claim on a card of an incident nobody claimed "
        "(incidents opened through the bot before the timed phases).",
        "- Intake is an open loop: flag i is sent at start + i/rate whether or not the bot kept up. Flag-to-card "
        "is from sending the reaction to the Slack double accepting that incident's card.",
        "- PostgreSQL is the throwaway cluster of `bot/devkit/postgres.py` (fsync=off: commits cost less than on a "
        "production server). SQLite is a file with the bot's own settings (WAL, synchronous=NORMAL).",
        "- CPU figures are read from /proc for the bot's process, the floor's, the Slack double's and (for "
        "PostgreSQL) the whole cluster.",
        "- Acks while the digest runs (`bench/digest_acks.py`): one channel seeded with 100,000 incidents "
        "(`bench.timers_cost.seed`), the bot's tick every second with that channel's digest due; rounds of three "
        "phases at concurrency 16 with the ack mix above, order rotating: no digest; the tick's digest work "
        "(`Timers.post_digest`) looped back to back at nice 10 in a worker process (the bot's tick does a "
        "channel's digest once a day per process, so it cannot be made to repeat it); and the lead sending "
        "`/recovery digest` back to back beside the 16 clients. Ratios are each phase's p99 over the "
        "no-digest phase's in the same round, median of rounds.",
    ]


if __name__ == "__main__":
    sys.exit(main())
