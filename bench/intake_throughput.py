"""Intake throughput: flags per second the bot takes in and turns into cards, end to end.

Load: ``reaction_added`` (the flag emoji) on distinct customer messages that exist in the
Slack double, sent open-loop at a fixed rate (request i is due at start + i/rate, as Slack
sends events whether or not we kept up), Slack-signed, against ``python -m bot serve`` with
SLACK_API_URL on the double. Counted: acks, incidents stored (database), cards posted (the
double), each flag's time from sending to its card being accepted by Slack, and the drain:
how long after the last ack the last card went out.

A rate holds when every flag was acked 2xx within 3 s, the client kept to the schedule
(>= 95 % of the rate), every flag became exactly one incident and one card, and the backlog
drained within 5 s of the load stopping. The target is 100 flags/s. The step run starts low
and raises the rate until one fails to hold, on a fresh bot and database of its own.

    python -m bench.intake_throughput [--database sqlite|postgresql] [--seconds 60] [--rate 100] [--quick]
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.common import (
    SERVE_DEFAULT_THREADS, SLOW_SECONDS, Cpu, Databases, Probe, Requests, Served, Workdir, emit, log, ms, open_loop,
    percentile, product_digest, start_recovery, summarize, table,
)
from bench.slack_double import RunningDouble, start_slack_double

TARGET_RATE = 100.0
TARGET_DRAIN_SECONDS = 5.0
KEEP_UP = 0.95  # share of the asked rate the client must achieve for a run to count
DEFAULT_STEPS = (10, 25, 50, 75, 100, 125, 150, 200, 300)
_channels = itertools.count(1)  # one channel per load, unique across bots sharing the double


@dataclass
class IntakeConfig:
    database: str = "sqlite"
    seconds: float = 60.0
    rate: float = TARGET_RATE
    steps: tuple[float, ...] = DEFAULT_STEPS
    step_seconds: float = 20.0
    workers: int = 64  # open connections; waitress accepts 100 by default
    threads: int = SERVE_DEFAULT_THREADS
    max_drain_wait: float = 300.0  # how long to keep watching a backlog before calling it
    keep: bool = False
    quick: bool = False

    @classmethod
    def quick_config(cls, **overrides: Any) -> IntakeConfig:
        values: dict[str, Any] = dict(seconds=2.0, rate=20.0, steps=(40,), step_seconds=1.5, workers=8,
                                      max_drain_wait=20.0, quick=True)
        values.update(overrides)
        return cls(**values)


class _Target:
    """One bot on one fresh database, with the double and a probe."""

    def __init__(self, config: IntakeConfig, double: RunningDouble, databases: Databases, workdir: Workdir,
                 name: str) -> None:
        self.config = config
        self.double = double
        self.databases = databases
        self.url = databases.new(name)
        self.bot: Served = start_recovery(database_url=self.url, api_url=double.api_url, workdir=workdir.path,
                                          threads=config.threads)
        self.probe = Probe(self.url)
        self.requests = Requests(double.response_url_base)

    def close(self) -> None:
        self.bot.stop()
        self.probe.dispose()

    def load(self, rate: float, seconds: float) -> dict[str, Any]:
        """Flag ``rate * seconds`` new messages at ``rate``/s; watch until every card is out (or give up)."""
        channel = f"CLOAD{next(_channels)}"
        count = max(1, int(round(rate * seconds)))
        slack = self.double.slack
        message_ts = slack.add_user_messages(channel, count, text="my order never arrived and nobody answers")
        prepared = [self.requests.react(ts, channel=channel) for ts in message_ts]
        owed_before = self.probe.outbox_owed()
        pids = {"bot": (self.bot.pid, True), "slack_double": (self.double.pid, False)}  # with its background process
        if self.databases.postmaster_pid:
            pids["postgresql"] = (self.databases.postmaster_pid, True)
        cpu = Cpu(pids=pids).start()
        cpu_started = time.monotonic()

        samples: list[tuple[float, int, int]] = []  # (monotonic, incidents, cards) while loading and draining
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), self.incidents(channel), slack.card_count(channel)))
                stop.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        run = open_loop(self.bot, prepared, rate=rate, workers=self.config.workers)
        load_end = max((r.sent_at + r.seconds for r in run.results), default=run.finished)
        at_load_end = (self.incidents(channel), slack.card_count(channel))
        deadline = time.monotonic() + self.config.max_drain_wait
        while time.monotonic() < deadline:
            if slack.card_count(channel) >= count and self.probe.outbox_owed() == 0:
                break
            time.sleep(0.1)
        stop.set()
        watcher.join()
        used = cpu.stop()
        cpu_span = time.monotonic() - cpu_started

        acks = summarize(run.results, run.wall)
        incidents = self.incidents(channel)
        posts = [(number, at) for number, at, where in slack.card_posts_detail() if where == channel]
        numbers = [number for number, _ in posts]
        distinct = len(set(numbers))
        sent_at = {r.index: r.sent_at for r in run.results}
        index_of_ts = {ts: i for i, ts in enumerate(message_ts)}
        origin = dict(self.probe.rows(
            "SELECT number, origin_ts FROM incident WHERE origin_channel = :c", c=channel))
        first_post: dict[int, float] = {}
        for number, at in posts:
            first_post.setdefault(number, at)
        end_to_end = [first_post[n] - sent_at[index_of_ts[ts]] for n, ts in origin.items()
                      if n in first_post and ts in index_of_ts and index_of_ts[ts] in sent_at]
        last_card = max(first_post.values(), default=math.nan)
        all_out = distinct >= count
        drain = max(0.0, last_card - load_end) if all_out else math.nan
        lag = [r.sent_at - r.due_at for r in run.results]
        achieved = count / (max(r.sent_at for r in run.results) - run.started) if count > 1 else rate
        during = [s for s in samples if s[0] <= load_end]
        card_rate = _rate(during, 2)
        result = {
            "rate": rate, "seconds": seconds, "flags": count,
            "achieved_rate": achieved,
            "client_lag_p99": percentile(lag, 99),
            "acks": acks,
            "incidents": incidents,
            "cards_posted": len(numbers),
            "cards_distinct": distinct,
            "duplicate_cards": len(numbers) - distinct,
            "backlog_at_load_end": count - at_load_end[1],
            "incidents_at_load_end": at_load_end[0],
            "cards_per_s_during_load": card_rate,
            "end_to_end_p50": percentile(end_to_end, 50),
            "end_to_end_p99": percentile(end_to_end, 99),
            "drain_seconds": drain,
            "all_cards_out": all_out,
            "watched_for": time.monotonic() - load_end,
            "outbox_owed_before": owed_before,
            "outbox_owed_after": self.probe.outbox_owed(),
            "cpu_seconds": used,
            "cpu_cores": {name: round(value / cpu_span, 2) for name, value in used.items()},
            "samples": [(round(max(0.0, t - run.started), 2), i, c) for t, i, c in samples],
        }
        result["holds"], result["why_not"] = _holds(result)
        log(f"{self.databases.kind} {rate:g}/s x {seconds:g}s: acks p99 {ms(acks['p99'])} ms, "
            f"incidents {incidents}/{count}, cards {distinct}/{count} (dup {result['duplicate_cards']}), "
            f"cards/s during load {card_rate:.1f}, backlog at end {result['backlog_at_load_end']}, drain "
            f"{'%.1f s' % drain if all_out else 'not done after %.0f s' % result['watched_for']}"
            f" -> {'holds' if result['holds'] else 'fails: ' + result['why_not']}")
        return result

    def incidents(self, channel: str) -> int:
        return int(self.probe.scalar("SELECT count(*) FROM incident WHERE origin_channel = :c", c=channel) or 0)


def _rate(samples: list[tuple[float, int, int]], column: int) -> float:
    """Cards (column 2) or incidents (1) per second between the first and last sample."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return math.nan
    return (samples[-1][column] - samples[0][column]) / (samples[-1][0] - samples[0][0])


def _holds(r: dict[str, Any]) -> tuple[bool, str]:
    problems = []
    acks = r["acks"]
    if acks["errors"] or acks["non_2xx"]:
        problems.append(f"{acks['errors']} errors, {acks['non_2xx']} non-2xx acks")
    if acks["over_3s"]:
        problems.append(f"{acks['over_3s']} acks over {SLOW_SECONDS:g} s")
    if r["achieved_rate"] < KEEP_UP * r["rate"]:
        problems.append(f"client sent only {r['achieved_rate']:.0f}/s")
    if r["incidents"] != r["flags"]:
        problems.append(f"{r['incidents']} incidents for {r['flags']} flags")
    if r["duplicate_cards"]:
        problems.append(f"{r['duplicate_cards']} duplicate cards")
    if not r["all_cards_out"]:
        problems.append(f"{r['flags'] - r['cards_distinct']} cards still owed {r['watched_for']:.0f} s after the load")
    elif r["drain_seconds"] > TARGET_DRAIN_SECONDS:
        problems.append(f"drained in {r['drain_seconds']:.1f} s")
    return not problems, "; ".join(problems)


def run(config: IntakeConfig) -> dict[str, Any]:
    workdir = Workdir(keep=config.keep)
    started = time.monotonic()
    double = start_slack_double()
    databases = None
    try:
        databases = Databases(config.database, workdir.path)
        out: dict[str, Any] = {"config": asdict(config), "database": databases.description,
                               "product_digest": product_digest()}
        warmup = 0.5 if config.quick else 1.0
        target = _Target(config, double, databases, workdir, "intake_main")
        steps: list[dict[str, Any]] = []
        try:
            target.load(min(config.rate, 5), warmup)  # warm-up: imports, auth, first connections
            out["main"] = target.load(config.rate, config.seconds)
            if not config.quick:  # the steps get a bot and database of their own
                target.close()
                target = _Target(config, double, databases, workdir, "intake_steps")
                target.load(5, warmup)
            for rate in config.steps:
                drained, _ = target.probe.wait_drained(config.max_drain_wait)
                if not drained:
                    break
                step = target.load(rate, config.step_seconds)
                steps.append(step)
                if not step["holds"]:
                    break
        finally:
            target.close()
        out["steps"] = steps
        holding = [s["rate"] for s in steps if s["holds"]]
        out["highest_holding_rate"] = max(holding) if holding else None
        out["first_failing"] = next((s for s in steps if not s["holds"]), None)
        out["seconds_total"] = round(time.monotonic() - started, 1)
        return out
    finally:
        double.stop()
        if databases is not None:
            databases.close()
        workdir.close()


# Report


def markdown(result: dict[str, Any]) -> str:
    config, main = result["config"], result["main"]
    lines = [f"Database: {result['database']}. Open-loop reactions on distinct messages; waitress threads: "
             f"{config['threads']}; client workers: {config['workers']}; run took {result['seconds_total']:.0f} s; "
             f"product files digest `{result.get('product_digest', '?')}`.",
             ""]
    lines += [f"Sustained run at {main['rate']:g} flags/s for {main['seconds']:g} s:", "",
              _runs_table([main]), ""]
    if main["rate"] < TARGET_RATE:
        verdict = f"not measured (this sustained run was at {main['rate']:g}/s)"
    else:
        verdict = "met" if main["holds"] else f"NOT met ({main['why_not']})"
    lines += [f"Target (100 flags/s end to end, drained within 5 s): **{verdict}**.", ""]
    if main["samples"]:
        lines += ["Backlog during that run (seconds from the start; incidents stored, cards posted):", "",
                  "    " + "  ".join(f"{t:.0f}s {i}/{c}" for t, i, c in _thin(main["samples"], 16)), ""]
    steps = result["steps"]
    if steps:
        lines += [f"Stepping the rate up ({config['step_seconds']:g} s per step, "
                  + ("same bot as above" if config["quick"] else "fresh bot and database")
                  + ", each step after the previous one's backlog drained):", "", _runs_table(steps), ""]
    highest = result["highest_holding_rate"]
    failing = result["first_failing"]
    lines += [f"Highest rate that holds: **{'%g flags/s' % highest if highest else 'none of the steps'}**"
              + (f"; first failing step: {failing['rate']:g}/s ({failing['why_not']})." if failing else "."), ""]
    return "\n".join(lines)


def _thin(samples: list, keep: int) -> list:
    if len(samples) <= keep:
        return samples
    step = (len(samples) - 1) / (keep - 1)
    return [samples[round(i * step)] for i in range(keep)]


def _runs_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for r in runs:
        a = r["acks"]
        cpu_text = ", ".join(f"{name} {value:.2f}" for name, value in r["cpu_cores"].items())
        rows.append([
            f"{r['rate']:g}", f"{r['achieved_rate']:.0f}", r["flags"], f"{a['ok_2xx']}", a["errors"], a["non_2xx"],
            a["over_3s"], ms(a["p50"]), ms(a["p99"]), r["incidents"], r["cards_distinct"], r["duplicate_cards"],
            f"{r['cards_per_s_during_load']:.0f}" if not math.isnan(r["cards_per_s_during_load"]) else "n/a",
            r["backlog_at_load_end"],
            f"{r['drain_seconds']:.1f}" if r["all_cards_out"] else f"> {r['watched_for']:.0f}",
            f"{ms(r['end_to_end_p50'])} / {ms(r['end_to_end_p99'])}",
            cpu_text, "yes" if r["holds"] else "no: " + r["why_not"],
        ])
    return table(["rate /s", "sent /s", "flags", "acked 2xx", "errors", "non-2xx", "> 3 s", "ack p50 ms",
                  "ack p99 ms", "incidents", "cards", "dup cards", "cards/s during load", "backlog at end",
                  "drain s", "flag-to-card p50 / p99 ms", "CPU cores used, load to drained (avg)", "holds"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a few seconds at a low rate")
    parser.add_argument("--seconds", type=float, help="length of the sustained run (default 60)")
    parser.add_argument("--rate", type=float, help="flags per second of the sustained run (default 100)")
    parser.add_argument("--steps", help="comma-separated rates to step through (default %s)"
                        % ",".join(str(s) for s in DEFAULT_STEPS))
    parser.add_argument("--step-seconds", type=float)
    parser.add_argument("--threads", type=int, default=SERVE_DEFAULT_THREADS)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, SQLite files)")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"database": args.database, "threads": args.threads, "keep": args.keep}
    for name in ("seconds", "rate", "step_seconds"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.steps:
        overrides["steps"] = tuple(float(s) for s in args.steps.split(",") if s.strip())
    config = IntakeConfig.quick_config(**overrides) if args.quick else IntakeConfig(**overrides)
    result = run(config)
    emit(result, markdown(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
