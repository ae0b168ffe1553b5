"""The storm: an outage's burst of flags into one channel, drained at the rate Slack allows.

Reactions on distinct messages of one channel, sent open loop (``flags`` over ``seconds``),
against the Slack double enforcing Slack's limits (`rate_limits`), with chat.postMessage's
per-channel rate scaled up to ``post_rate`` a second (burst 3 as Slack's, the workspace
limit out of the way) to keep the run short: the ratio to the limit is what counts. The bot
is told the same rate (SLACK_POSTS_PER_SECOND). The floor is what the limit allows: the
burst at once, then one card per 1/rate, from the first flag. Measured: time from the first
flag until the double accepted the last card, against 1.2x that floor; 429s among every
call the bot made; cards posted more than once; cards left showing an older state than their
incident (a quote or link the incident has and the card lacks, with no redraw queued); acks.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from bench import cli
from bench.load import Requests, open_loop, summarize
from bench.meter import product_digest
from bench.rig import SERVE_THREADS, Rig, log, wait_until

CHANNEL = "CSTORM"
DOUBLE_BURST = 3
TARGET_RATIO = 1.2
TARGET_429_SHARE = 0.01


@dataclass
class Config:
    database: str = cli.database_field()
    flags: int = field(default=300, metadata={"help": "flags into the one channel"})
    seconds: float = field(default=10.0, metadata={"help": "over how long they arrive"})
    post_rate: float = field(default=20.0, metadata={"help": "chat.postMessage per second per channel, double and bot"})
    workers: int = 16
    threads: int = SERVE_THREADS
    max_wait: float = field(default=120.0, metadata={"help": "how long to wait for the last card"})
    keep: bool = field(default=False, metadata={"help": "keep the work dir (logs, SQLite files)"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(flags=40, seconds=1.0, max_wait=30.0)


def floor_seconds(flags: int, rate: float, burst: int = DOUBLE_BURST) -> float:
    """The soonest the last of ``flags`` cards can be in one channel from the first flag."""
    return max(0, flags - burst) / rate


def _stale_cards(rig: Rig, probe: Any) -> int:
    """Cards lacking a quote or link their incident has, with no redraw of theirs queued."""
    incidents = probe.rows("SELECT number, excerpt, permalink FROM incident WHERE origin_channel = :c", c=CHANNEL)
    queued = {row[0] for row in probe.rows(
        "SELECT i.number FROM outbox o JOIN incident i ON i.id = o.incident_id "
        "WHERE o.kind = 'update_card' AND o.state IN ('pending', 'in_flight')")}
    cards = {card["number"]: card for card in rig.double.slack.cards()}
    stale = 0
    for number, excerpt, permalink in incidents:
        card = cards.get(number)
        if card is None or number in queued:
            continue
        shown = str(card["blocks"])
        if (excerpt and excerpt[:40] not in shown) or (permalink and permalink not in shown):
            stale += 1
    return stale


def run(config: Config) -> dict[str, Any]:
    started_run = time.monotonic()
    rate = config.post_rate
    double = {"rate_limits": True, "channel_posts": (DOUBLE_BURST, rate), "workspace_posts": (10 * rate, 5 * rate)}
    with Rig(config.database, keep=config.keep, double=double) as rig:
        url = rig.database("storm")
        bot = rig.bot(url, threads=config.threads, env={"SLACK_PACING": "on", "SLACK_POSTS_PER_SECOND": f"{rate:g}"},
                      name="storm").wait_healthy(60)
        probe = rig.probe(url)
        slack = rig.double.slack
        message_ts = slack.add_user_messages(CHANNEL, config.flags, text="checkout is down, I was charged twice")
        prepared = [Requests(rig.double.response_url_base).react(ts, channel=CHANNEL) for ts in message_ts]
        before = slack.counts()
        flags = open_loop(bot.port, prepared, rate=config.flags / config.seconds, workers=config.workers)
        all_out = wait_until(lambda: slack.post_count(CHANNEL) >= config.flags, config.max_wait)
        posts = slack.posts(CHANNEL)
        last_card = max((at for _, at in posts), default=math.nan) - flags.started
        wait_until(lambda: not probe.count("outbox WHERE kind = 'update_card' AND state IN ('pending', 'in_flight')"),
                   10.0)
        stale = _stale_cards(rig, probe)
        counts, limited = slack.counts(), slack.rate_limited()
        quotes = probe.count("incident WHERE origin_channel = :c AND coalesce(excerpt, '') <> ''", c=CHANNEL)
    attempts = sum(counts["attempts"].values()) - sum(before["attempts"].values())
    refused = sum(limited.values())
    numbers = [number for number, _ in posts]
    floor = floor_seconds(config.flags, rate)
    result = {
        "config": asdict(config), "database": rig.description, "product_digest": product_digest(),
        "acks": summarize(flags.results, flags.wall), "flags_sent_in": flags.wall,
        "cards": len(set(numbers)), "duplicate_cards": len(numbers) - len(set(numbers)), "all_cards_out": all_out,
        "last_card_seconds": last_card, "floor_seconds": floor, "ratio": last_card / floor if floor else math.nan,
        "slack_calls": attempts, "answered_429": refused, "share_429": refused / attempts if attempts else math.nan,
        "limited_by_method": limited, "calls_by_method": counts["attempts"], "stale_cards": stale,
        "quotes_on_cards": quotes, "seconds_total": round(time.monotonic() - started_run, 1),
    }
    result["met"], result["why_not"] = _met(result)
    log(f"storm on {config.database}: {result['cards']}/{config.flags} cards, last at {last_card:.1f} s "
        f"(floor {floor:.1f} s, {result['ratio']:.2f}x), 429s {refused}/{attempts}, stale {stale}")
    return result


def _met(r: dict[str, Any]) -> tuple[bool, str]:
    acks, problems = r["acks"], []
    if not r["all_cards_out"] or r["cards"] != r["config"]["flags"]:
        problems.append(f"{r['cards']} of {r['config']['flags']} cards")
    if r["duplicate_cards"]:
        problems.append(f"{r['duplicate_cards']} cards posted twice")
    if not r["ratio"] <= TARGET_RATIO:
        problems.append(f"last card at {r['ratio']:.2f}x the floor")
    if not r["share_429"] < TARGET_429_SHARE:
        problems.append(f"{r['share_429']:.1%} of calls answered 429")
    if r["stale_cards"]:
        problems.append(f"{r['stale_cards']} cards older than their incident")
    if acks["errors"] or acks["non_2xx"] or acks["over_3s"]:
        problems.append(f"acks: {acks['errors']} errors, {acks['non_2xx']} non-2xx, {acks['over_3s']} over 3 s")
    return not problems, "; ".join(problems)


if __name__ == "__main__":
    sys.exit(cli.main("storm", Config, run, __doc__))
