"""Intake throughput: flags per second the bot takes in and turns into cards, end to end.

An open loop of `reaction_added` on distinct messages: flag i is sent at start + i/rate
whether or not the bot kept up. Flag-to-card is from sending the reaction to the Slack
double accepting that incident's card. A rate holds when every flag was acked 2xx within
3 s, the client kept to the schedule (>= 95 % of the rate), every flag became exactly one
incident and one card, and the backlog drained within 5 s of the load stopping. The target
is 100 flags/s; the step run raises the rate until one fails to hold, on a fresh bot and
database of its own.
"""
from __future__ import annotations

import itertools
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from bench import cli
from bench.load import SLOW_SECONDS, Requests, open_loop, percentile, summarize
from bench.meter import Cpu, product_digest
from bench.rig import SERVE_THREADS, Rig, log, wait_until

TARGET_RATE = 100.0
TARGET_DRAIN_SECONDS = 5.0
KEEP_UP = 0.95  # share of the asked rate the client must achieve for a run to count
_channels = itertools.count(1)  # one channel per load


@dataclass
class Config:
    database: str = cli.database_field()
    seconds: float = field(default=60.0, metadata={"help": "length of the sustained run"})
    rate: float = field(default=TARGET_RATE, metadata={"help": "flags per second of the sustained run"})
    steps: tuple[float, ...] = field(default=(10, 25, 50, 75, 100, 125, 150, 200, 300),
                                     metadata={"help": "rates to step through"})
    step_seconds: float = 20.0
    workers: int = field(default=64, metadata={"help": "open connections (waitress accepts 100)"})
    threads: int = SERVE_THREADS
    max_drain_wait: float = field(default=300.0, metadata={"help": "how long to watch a backlog before calling it"})
    keep: bool = field(default=False, metadata={"help": "keep the work dir (logs, SQLite files)"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(seconds=2.0, rate=20.0, steps=(40,), step_seconds=1.5, workers=8,
                                           max_drain_wait=20.0)


class _Target:
    """One bot on one fresh database."""

    def __init__(self, rig: Rig, config: Config, name: str) -> None:
        self.rig, self.config = rig, config
        url = rig.database(name)
        self.bot = rig.bot(url, threads=config.threads, name=name).wait_healthy(60)
        self.probe = rig.probe(url)
        self.requests = Requests(rig.double.response_url_base)

    def incidents(self, channel: str) -> int:
        return self.probe.count("incident WHERE origin_channel = :c", c=channel)

    def load(self, rate: float, seconds: float) -> dict[str, Any]:
        """Flag ``rate * seconds`` new messages at ``rate``/s; watch until every card is out (or give up)."""
        channel, count, slack = f"CLOAD{next(_channels)}", max(1, round(rate * seconds)), self.rig.double.slack
        message_ts = slack.add_user_messages(channel, count, text="my order never arrived and nobody answers")
        prepared = [self.requests.react(ts, channel=channel) for ts in message_ts]
        owed_before = self.probe.outbox_owed()
        pids = {"bot": (self.bot.pid, True), "slack_double": (self.rig.double.pid, False)}  # with its background
        if self.rig.postmaster_pid:
            pids["postgresql"] = (self.rig.postmaster_pid, True)
        cpu, cpu_started = Cpu(pids).start(), time.monotonic()
        samples: list[tuple[float, int, int]] = []  # (monotonic, incidents, cards) while loading and draining
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), self.incidents(channel), slack.post_count(channel)))
                stop.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        run = open_loop(self.bot.port, prepared, rate=rate, workers=self.config.workers)
        load_end = max((r.sent_at + r.seconds for r in run.results), default=run.finished)
        at_load_end = (self.incidents(channel), slack.post_count(channel))
        wait_until(lambda: slack.post_count(channel) >= count and not self.probe.outbox_owed(),
                   self.config.max_drain_wait)
        stop.set()
        watcher.join()
        used, cpu_span = cpu.stop(), time.monotonic() - cpu_started

        first_post: dict[int, float] = {}
        posts = slack.posts(channel)
        for number, at in posts:
            first_post.setdefault(number, at)
        index_of_ts = {ts: i for i, ts in enumerate(message_ts)}
        sent_at = {r.index: r.sent_at for r in run.results}
        origin = self.probe.rows("SELECT number, origin_ts FROM incident WHERE origin_channel = :c", c=channel)
        end_to_end = [first_post[n] - sent_at[index_of_ts[ts]] for n, ts in origin
                      if n in first_post and index_of_ts.get(ts) in sent_at]
        all_out = len(first_post) >= count
        result = {
            "rate": rate, "seconds": seconds, "flags": count,
            "achieved_rate": count / (max(r.sent_at for r in run.results) - run.started) if count > 1 else rate,
            "client_lag_p99": percentile([r.sent_at - r.due_at for r in run.results], 99),
            "acks": summarize(run.results, run.wall), "incidents": self.incidents(channel),
            "cards_posted": len(posts), "cards_distinct": len(first_post), "duplicate_cards": len(posts) - len(first_post),
            "backlog_at_load_end": count - at_load_end[1], "incidents_at_load_end": at_load_end[0],
            "cards_per_s_during_load": _rate([s for s in samples if s[0] <= load_end]),
            "end_to_end_p50": percentile(end_to_end, 50), "end_to_end_p99": percentile(end_to_end, 99),
            "drain_seconds": max(0.0, max(first_post.values()) - load_end) if all_out else math.nan,
            "all_cards_out": all_out, "watched_for": time.monotonic() - load_end,
            "outbox_owed_before": owed_before, "outbox_owed_after": self.probe.outbox_owed(),
            "cpu_seconds": used, "cpu_cores": {name: round(value / cpu_span, 2) for name, value in used.items()},
            "samples": [(round(max(0.0, t - run.started), 2), i, c) for t, i, c in samples],
        }
        result["holds"], result["why_not"] = _holds(result)
        log(f"{self.rig.kind} {rate:g}/s x {seconds:g}s: incidents {result['incidents']}/{count}, cards "
            f"{len(first_post)}/{count}, drain {result['drain_seconds']:.1f} s -> "
            + ("holds" if result["holds"] else "fails: " + result["why_not"]))
        return result


def _rate(samples: list[tuple[float, int, int]]) -> float:
    """Cards per second between the first and last sample."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return math.nan
    return (samples[-1][2] - samples[0][2]) / (samples[-1][0] - samples[0][0])


def _holds(r: dict[str, Any]) -> tuple[bool, str]:
    acks, problems = r["acks"], []
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


def run(config: Config) -> dict[str, Any]:
    started, warmup = time.monotonic(), 0.5 if config.quick else 1.0
    with Rig(config.database, keep=config.keep) as rig:
        out: dict[str, Any] = {"config": asdict(config), "database": rig.description,
                               "product_digest": product_digest()}
        target = _Target(rig, config, "intake_main")
        target.load(min(config.rate, 5), warmup)  # warm-up: imports, auth, first connections
        out["main"] = target.load(config.rate, config.seconds)
        if not config.quick:  # the steps get a bot and database of their own
            target.bot.stop()
            target = _Target(rig, config, "intake_steps")
            target.load(5, warmup)
        steps: list[dict[str, Any]] = []
        for rate in config.steps:
            if not target.probe.wait_drained(config.max_drain_wait)[0]:
                break
            steps.append(target.load(rate, config.step_seconds))
            if not steps[-1]["holds"]:
                break
    holding = [s["rate"] for s in steps if s["holds"]]
    return out | {"steps": steps, "highest_holding_rate": max(holding, default=None),
                  "first_failing": next((s for s in steps if not s["holds"]), None),
                  "seconds_total": round(time.monotonic() - started, 1)}


if __name__ == "__main__":
    sys.exit(cli.main("intake_throughput", Config, run, __doc__))
