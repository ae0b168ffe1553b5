"""The one reporter: benchmark results (plain data) in, docs/PERFORMANCE.md's markdown out.

Each scenario returns its figures; ``section(name, results)`` renders one scenario's (what a
benchmark run alone prints) and ``document`` the whole report ``python -m bench.run`` writes.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import bench
from bench import ack_latency, digest_acks, intake_throughput, storm
from bench.load import STALE_SECONDS

ANALYSIS_START, ANALYSIS_END = "<!-- analysis:start -->", "<!-- analysis:end -->"
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
ACK_RATIO_TARGET, ACK_RATIO_AIM = 2.0, 1.5
DURABLE_RATIO_TARGET = 1.5  # bot / durable floor: the least a stored flag costs, at most half again
DEGRADED_LABELS = {
    "slack_429": "every call answered 429 (Retry-After 1 s)",
    "slack_drops": "every connection dropped without an answer",
    "slack_stall": "every answer held (the bot's client times out at 10 s)",
}
METHOD = (bench, ack_latency, intake_throughput, digest_acks, storm)  # their docstrings say how they measure
TITLES = {"ack": "Ack latency", "intake": "Intake throughput", "digest": "Acks while the digest runs",
          "storm": "The storm"}


def _bullet(doc: str) -> str:
    """A docstring as one markdown bullet, as the rest of the report writes its lines."""
    return "- " + " ".join(doc.split())


def _nan(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def ms(seconds: float | None) -> str:
    return "n/a" if _nan(seconds) else f"{seconds * 1000:.1f}"


def ratio(value: float | None) -> str:
    return "n/a" if _nan(value) else f"{value:.2f}x"


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if _nan(value) else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def ack_verdict(value: float) -> str:
    if _nan(value):
        return "n/a"
    return "met (and aim)" if value <= ACK_RATIO_AIM else met(value <= ACK_RATIO_TARGET)


def durable_verdict(value: float) -> str:
    return "n/a" if _nan(value) else met(value <= DURABLE_RATIO_TARGET)


def digest_verdict(value: float) -> str:
    return "n/a" if _nan(value) else met(value <= digest_acks.TARGET_RATIO)


# Ack latency


def ack(result: dict[str, Any]) -> str:
    config, main = result["config"], result["main"]
    stress = config["stress_concurrency"]
    lines = [f"Database: {result['database']}. Rounds: {config['rounds']}, {config['requests']} requests per phase "
             "(a quarter each of `/recovery list`, `/recovery new <summary>`, `reaction_added` on a new message, Claim "
             f"on a fresh incident's card); waitress threads: {config['threads']}; run took {result['seconds']:.0f} s; "
             f"product files digest `{result['product_digest']}`.", "",
             "Latency in ms (median over rounds of each round's percentile; max over all rounds):", "",
             table(["concurrency", "target", "p50", "p95", "p99", "max", "req/s", "errors", "non-2xx", "> 3 s",
                    "requests"],
                   [[c, target, *(ms(row[target][q]) for q in ("p50", "p95", "p99", "max")),
                     number(row[target]["rps"], 0), *(row[target][k] for k in ("errors", "non_2xx", "over_3s", "n"))]
                    for c, row in main.items() for target in ("recovery", "durable", "bare")]), "",
             "Bot / durable floor (Bolt storing each request with one committed INSERT) and bot / bare floor (Bolt "
             "that only acks), within each round, median over rounds:", "",
             table(["concurrency", "p99 / durable", "p50 / durable", "p99 / durable per round",
                    f"target <= {DURABLE_RATIO_TARGET:g}x", "p99 / bare", "p50 / bare", "p99 / bare per round"],
                   [[c, ratio(row["durable_p99_ratio"]), ratio(row["durable_p50_ratio"]),
                     ", ".join(f"{r:.1f}" for r in row["durable_p99_ratios"]),
                     durable_verdict(row["durable_p99_ratio"]), ratio(row["p99_ratio"]), ratio(row["p50_ratio"]),
                     ", ".join(f"{r:.1f}" for r in row["p99_ratios"])]
                    for c, row in main.items()]), "",
             f"Latency by request kind at concurrency {stress} (ms, median over rounds), the bot and the durable floor:",
             "",
             table(["kind", "bot p50", "bot p99", "durable p50", "durable p99", "p99 bot / durable"],
                   [[k, ms(v["p50"]), ms(v["p99"]), ms(result["durable_kinds_at_stress"][k]["p50"]),
                     ms(result["durable_kinds_at_stress"][k]["p99"]),
                     ratio(v["p99"] / result["durable_kinds_at_stress"][k]["p99"])]
                    for k, v in result["kinds_at_stress"].items()]),
             "",
             "CPU per request (ms of the server process's CPU and its background process's, which sends the outbox "
             "meanwhile, and of each alone; the Slack double's while the bot ran; PostgreSQL: the whole cluster; the "
             "load generator's own), what other processes on the machine "
             "used meanwhile (cores; not ours: the machine is shared), and the bot's outbox after a phase (median time "
             "from the end of the phase until the outbox owed nothing, and rows it sent):", "",
             table(["concurrency", "bot CPU ms/req", "bot server / background", "Slack double (bot)",
                    "durable CPU ms/req", "bare CPU ms/req", "PostgreSQL CPU ms/req",
                    "PostgreSQL CPU ms/req (durable)", "load generator CPU ms/req", "other processes (cores)",
                    "outbox drain s", "outbox rows", "always drained"],
                   [[c, number(row["recovery"]["cpu_ms"]),
                     f'{number(row["recovery"]["server_cpu_ms"])} / {number(row["recovery"]["background_cpu_ms"])}',
                     number(row["recovery"]["double_cpu_ms"]),
                     number(row["durable"]["cpu_ms"]), number(row["bare"]["cpu_ms"]),
                     number(row["postgres_cpu_ms"]), number(row["durable_postgres_cpu_ms"]),
                     number(row["client_cpu_ms"]), number(row["others_cores"], 2), number(row["drain_seconds"]),
                     number(row["outbox_rows"], 0), "yes" if row["all_drained"] else "NO"] for c, row in main.items()]),
             "", f"Busiest phase for other processes: {result['others_cores_max']:.2f} cores.", ""]
    forged = result["forged"]
    lines += [f"Forged requests at concurrency {stress}: after every third legitimate request, one with a wrong "
              f"secret, a timestamp {STALE_SECONDS // 60} minutes old, or no signature (cycling; as `/recovery new`, "
              "a reaction, and a Claim). Legitimate latency without and with them, same round:", "",
              table(["target", "clean p50", "mixed p50", "clean p99", "mixed p99", "p99 mixed/clean",
                     "legit errors + non-2xx", "forged sent", "forged statuses", "forged p99"],
                    [[name, ms(t["clean_p50"]), ms(t["mixed_p50"]), ms(t["clean_p99"]), ms(t["mixed_p99"]),
                      ratio(t["p99_slowdown"]), t["legit_errors"], t["forged_n"],
                      ", ".join(f"{k}: {v}" for k, v in sorted(t["forged_statuses"].items())), ms(t["forged_p99"])]
                     for name, t in forged["targets"].items()]), "",
              f"Rows written by forged requests (database checked afterwards): **{forged['rows_written_total']}** "
              f"({'; '.join(f'{k}: {v}' for k, v in forged['rows_written'].items())}). All forged answered 401: "
              f"**{'yes' if forged['all_401'] else 'NO'}**.", ""]
    healthy = main[stress]["recovery"]["p99"] if stress in main else math.nan
    lines += [f"Slack failing, at concurrency {stress} ({config['degraded_rounds']} rounds, bot and bare "
              "alternating). Acks must not depend on Slack:", "",
              table(["Slack double", "bot p50", "bot p99", "bare p99", "p99 bot/bare", "bot p99 vs Slack healthy",
                     "errors", "non-2xx", "> 3 s", "Slack calls failed/attempted", "outbox owed at end",
                     "outbox emptied after Slack healed"],
                    [[DEGRADED_LABELS[mode], ms(d["recovery"]["p50"]), ms(d["recovery"]["p99"]), ms(d["bare"]["p99"]),
                      ratio(d["p99_ratio"]), ratio(d["recovery"]["p99"] / healthy if healthy else math.nan),
                      d["errors"], d["non_2xx"], d["over_3s"], f"{d['slack_failed']}/{d['slack_attempts']}",
                      d["outbox_owed_at_end"],
                      f"{d['drain_after_heal_seconds']:.1f} s" if d["drained_after_heal"]
                      else f"not within {d['drain_after_heal_seconds']:.0f} s ({d['owed_after_wait']} owed)"]
                     for mode, d in result["degraded"].items()]), ""]
    totals = result["totals"]
    return "\n".join(lines + [f"All legitimate requests of this run: {totals['n']}, errors {totals['errors']}, "
                              f"non-2xx {totals['non_2xx']}, over 3 s {totals['over_3s']}.", ""])


# Intake


def _runs_table(runs: list[dict[str, Any]]) -> str:
    return table(["rate /s", "sent /s", "flags", "acked 2xx", "errors", "non-2xx", "> 3 s", "ack p50 ms", "ack p99 ms",
                  "incidents", "cards", "dup cards", "cards/s during load", "backlog at end", "drain s",
                  "flag-to-card p50 / p99 ms", "CPU cores used, load to drained (avg)", "holds"],
                 [[f"{r['rate']:g}", f"{r['achieved_rate']:.0f}", r["flags"], r["acks"]["ok_2xx"], r["acks"]["errors"],
                   r["acks"]["non_2xx"], r["acks"]["over_3s"], ms(r["acks"]["p50"]), ms(r["acks"]["p99"]),
                   r["incidents"], r["cards_distinct"], r["duplicate_cards"], number(r["cards_per_s_during_load"], 0),
                   r["backlog_at_load_end"],
                   f"{r['drain_seconds']:.1f}" if r["all_cards_out"] else f"> {r['watched_for']:.0f}",
                   f"{ms(r['end_to_end_p50'])} / {ms(r['end_to_end_p99'])}",
                   ", ".join(f"{name} {value:.2f}" for name, value in r["cpu_cores"].items()),
                   "yes" if r["holds"] else "no: " + r["why_not"]] for r in runs])


def _intake_verdict(run: dict[str, Any]) -> str:
    if run["rate"] < intake_throughput.TARGET_RATE:
        return f"not measured (this sustained run was at {run['rate']:g}/s)"
    return met(run["holds"]) + ("" if run["holds"] else f" ({run['why_not']})")


def intake(result: dict[str, Any]) -> str:
    config, main = result["config"], result["main"]
    samples = main["samples"]
    if len(samples) > 16:
        samples = [samples[round(i * (len(samples) - 1) / 15)] for i in range(16)]
    lines = [f"Database: {result['database']}. Open-loop reactions on distinct messages; waitress threads: "
             f"{config['threads']}; client workers: {config['workers']}; run took {result['seconds_total']:.0f} s; "
             f"product files digest `{result['product_digest']}`.", "",
             f"Sustained run at {main['rate']:g} flags/s for {main['seconds']:g} s:", "", _runs_table([main]), "",
             f"Target (100 flags/s end to end, drained within 5 s): **{_intake_verdict(main)}**.", "",
             "Backlog during that run (seconds from the start; incidents stored, cards posted):", "",
             "    " + "  ".join(f"{t:.0f}s {i}/{c}" for t, i, c in samples), ""]
    if result["steps"]:
        lines += [f"Stepping the rate up ({config['step_seconds']:g} s per step, "
                  + ("same bot as above" if config["quick"] else "fresh bot and database")
                  + ", each step after the previous one's backlog drained):", "", _runs_table(result["steps"]), ""]
    highest, failing = result["highest_holding_rate"], result["first_failing"]
    return "\n".join(lines + [f"Highest rate that holds: **{f'{highest:g} flags/s' if highest else 'none of the steps'}**"
                              + (f"; first failing step: {failing['rate']:g}/s ({failing['why_not']})." if failing
                                 else "."), ""])


# Acks while the digest runs


def digest(result: dict[str, Any]) -> str:
    config, per, ratios, setup = result["config"], result["phases"], result["ratios"], result["setup"]
    first, redo, b, previews = setup["first_digest"], setup["redo"], result["digest_b"], result["previews"]
    channel, labels = digest_acks.CHANNEL, dict(zip(digest_acks.PHASES, ("baseline", "scheduled digest",
                                                                         "lead previews the digest")))
    lines = [
        f"Database: {result['database']}. Channel {channel} holds {result['seeded']['incidents']:,} incidents "
        f"({config['old_incidents']:,} older than 14 days, {config['recent_incidents']:,} in the last 14 days with "
        f"their step records; `bench.timers_cost.seed`), plus those the benchmark opens. Rounds: {config['rounds']}, "
        f"{config['requests']} requests per phase at concurrency {config['concurrency']} (ack_latency's mix, in "
        f"{channel}), phase order rotating; waitress threads: {config['threads']}; load average "
        f"{' '.join(result['loadavg_start'])} at the start, {' '.join(result['loadavg_end'])} at the end; run took "
        f"{result['seconds']:.0f} s; product files digest `{result['product_digest']}`.", "",
        f"The bot's own tick posted today's {channel} digest "
        + (f"{first['seconds_after_start']:.1f} s after start" if first["posted"] else "**NOT** (settings?)")
        + f"; with that claim deleted and its dedupe key freed, it posted {redo['digests_posted']} more in "
        f"{redo['claim_deleted_waited_s']:.0f} s" + ("" if redo["digests_posted"] else
                                                     " (`Timers` remembers in the process that it did today's digests)")
        + ". Phase B's digests are computed by a worker process running the bot's `Timers.post_digest` back to back "
        "at nice 10, and sent by the bot's background process.", "",
        "Acks of the 16 clients, ms (median over rounds of each phase's percentile; max over all rounds), and p99 "
        "against the baseline's in the same round (median over rounds):", "",
        table(["phase", "p50", "p95", "p99", "max", "req/s", "p99 / A", "p99 / A per round", "errors / non-2xx / > 3 s",
               "requests", "server CPU (cores)", "background CPU (cores)", "PostgreSQL CPU (cores)",
               "outbox rows sent /s", "other processes (cores)"],
              [[f"{name}: {labels[name]}", *(ms(p[q]) for q in ("p50", "p95", "p99", "max")), number(p["rps"], 0),
                ratio(ratios[name]["p99_ratio"]) if name in ratios else "1.00x",
                ", ".join(f"{r:.2f}" for r in ratios[name]["p99_ratios"]) if name in ratios else "",
                f"{p['errors']} / {p['non_2xx']} / {p['over_3s']}", p["n"], number(p["server_cpu_cores"], 2),
                number(p["background_cpu_cores"], 2), number(p["postgresql_cpu_cores"], 2),
                number(p["outbox_sent_per_s"], 0), number(p["others_cores"], 2)] for name, p in per.items()]), "",
        f"Phase B: digests the Slack double received during each phase: "
        f"{', '.join(map(str, b['digests_posted']))}; share of each phase with a digest being computed: "
        f"{', '.join(f'{x:.0%}' for x in b['digest_busy_share'])}; one digest took {ms(b['digest_seconds_median'])} ms "
        f"(median, under load); the worker used {number(b['worker_cpu_cores'], 2)} cores."
        + (f" **{b['phases_without_digest']} phase(s) received no digest: those measured less than they claim.**"
           if b["phases_without_digest"] or b["phases_without_computing"] else ""), "",
        f"Phase C: the lead's previews (`/recovery digest` in {channel}, back to back beside the 16 clients): "
        f"{previews['n']} ({', '.join(map(str, previews['per_phase']))} per phase), p50 {ms(previews['p50'])} ms, p99 "
        f"{ms(previews['p99'])} ms, max {ms(previews['max'])} ms; errors {previews['errors']}, non-2xx "
        f"{previews['non_2xx']}, over 3 s {previews['over_3s']}, wrong answers {previews['bad_bodies']}: "
        f"{'met' if previews['met'] else '**NOT met**'} (each 2xx within 3 s). Before the rounds, one preview alone "
        f"took {ms(setup['warm_preview_seconds'])} ms.", "",
        table(["target", "scheduled digest (B)", "lead previews (C)"],
              [[f"acks unaffected: p99 at most {digest_acks.TARGET_RATIO}x the baseline's",
                *(f"{ratio(ratios[n]['p99_ratio'])}: {digest_verdict(ratios[n]['p99_ratio'])}" for n in "BC")]]), ""]
    t = result["totals"]
    return "\n".join(lines + [f"All requests of the 16 clients: {t['n']}, errors {t['errors']}, non-2xx "
                              f"{t['non_2xx']}, over 3 s {t['over_3s']}.", ""])


# The storm


def storm_section(result: dict[str, Any]) -> str:
    config, acks = result["config"], result["acks"]
    limited = ", ".join(f"{method} {count}" for method, count in sorted(result["limited_by_method"].items())) or "none"
    calls = ", ".join(f"{method} {count}" for method, count in sorted(result["calls_by_method"].items()))
    return "\n".join([
        f"Database: {result['database']}. {config['flags']} reactions on distinct messages of one channel over "
        f"{config['seconds']:g} s (sent in {result['flags_sent_in']:.1f} s); Slack's limits on, chat.postMessage "
        f"{config['post_rate']:g}/s per channel with a burst of {storm.DOUBLE_BURST}; run took "
        f"{result['seconds_total']:.0f} s; product files digest `{result['product_digest']}`.", "",
        table(["cards", "posted twice", "last card s", "floor s", "last / floor", "calls to Slack", "answered 429",
               "429 share", "cards older than their incident", "quotes on cards at the end", "ack p50 / p99 ms",
               "ack errors / non-2xx / > 3 s", "met"],
              [[f"{result['cards']}/{config['flags']}", result["duplicate_cards"], number(result["last_card_seconds"]),
                number(result["floor_seconds"]), ratio(result["ratio"]), result["slack_calls"], result["answered_429"],
                f"{result['share_429']:.2%}", result["stale_cards"], result["quotes_on_cards"],
                f"{ms(acks['p50'])} / {ms(acks['p99'])}", f"{acks['errors']} / {acks['non_2xx']} / {acks['over_3s']}",
                "yes" if result["met"] else "NO: " + result["why_not"]]]), "",
        f"429s by method: {limited}. Calls by method: {calls}.", ""])


# Scheduler tick and digest cost, memory, the outbox diagnosis


def timers(results: list[dict[str, Any]]) -> str:
    lines = ["In-process, medians of several rounds; the tick queues nudges but sends nothing.", ""]
    if any(r["ticks"] for r in results):
        lines += [table(["database", "open incidents", "tick, none due", "tick, 100 due"],
                        [[NAMES[r["database"]], f"{size:,}", f"{f['none_due_ms']:.2f} ms", f"{f['due_100_ms']:.1f} ms"]
                         for r in results for size, f in r["ticks"].items()]), ""]
    return "\n".join(lines + [table(
        ["database", "tick none due at largest (target ≤ 10 ms)", "100 due: largest / 1,000 (target ≤ 2x)",
         "digest, 100k incidents (target ≤ 1 s)"],
        [[NAMES[r["database"]], f"{r['none_due_at_largest_ms']:.2f} ms" if r["ticks"] else "–",
          ratio(r["due_ratio_largest_vs_smallest"]) if r["ticks"] else "–",
          f"{r['digest']['median_s'] * 1000:.0f} ms" if r["digest"] else "–"] for r in results]), ""])


def stats(results: list[dict[str, Any]]) -> str:
    return "\n".join(["In-process, medians of rounds: `RecoveryService.stats(days=30)` for one workspace, the work "
                      "`/recovery stats 30d` does after its ack; the floor (one aggregate pass over the window's "
                      "incidents), the Python path it replaced and the call without the 0008 indexes are measured "
                      "in the same run, and the SQL figures were checked equal to the Python path's.", "",
                      table(["database", "incidents", "stats 30d (target < 1 s)", "floor", "stats / floor",
                             "Python path (before)", "before / now", "without the 0008 indexes", "without / with"],
                            [[NAMES[r["database"]], f"{r['incidents']:,}",
                              f"{r['stats_s'] * 1000:.0f} ms ({met(r['met'])})", f"{r['floor_s'] * 1000:.0f} ms",
                              ratio(r["stats_over_floor"]), f"{r['python_path_s'] * 1000:.0f} ms",
                              ratio(r["python_path_over_stats"]), f"{r['without_indexes_s'] * 1000:.0f} ms",
                              ratio(r["without_over_with_indexes"])] for r in results]), ""])


def insights(results: list[dict[str, Any]]) -> str:
    return "\n".join(["In-process, medians of rounds: `bot.insights.workspace_insights` for one workspace, the work "
                      "`/recovery insights` does after its ack; the floor (one aggregate pass over the year's answers) "
                      "is measured in the same run, and every split and the weeks were checked to add up to the "
                      "answers seeded.", "",
                      table(["database", "incidents", "answers", "insights 365d (target < 1 s)", "insights 90d",
                             "floor", "365d / floor"],
                            [[NAMES[r["database"]], f"{r['incidents']:,}", f"{r['answers']:,}",
                              f"{r['insights_365d_s'] * 1000:.0f} ms ({met(r['met'])})",
                              f"{r['insights_90d_s'] * 1000:.0f} ms", f"{r['floor_s'] * 1000:.0f} ms",
                              ratio(r["over_floor"])] for r in results]), ""])


def home(results: list[dict[str, Any]]) -> str:
    def pair(r: dict[str, Any], what: str) -> str:
        c = r["cost"]
        return f"{c[f'{what}_agent_s'] * 1000:.1f} / {c[f'{what}_lead_s'] * 1000:.1f} ms"

    def over(r: dict[str, Any], what: str) -> str:
        c = r["cost"]
        return f"{ratio(c[f'{what}_agent_over_floor'])} / {ratio(c[f'{what}_lead_over_floor'])}"

    first = results[0]["config"]
    return "\n".join([
        f"In-process, medians of {first['rounds']} rounds, measured alternately with the floors; the Slack double over "
        f"HTTP in the same process. Cost: an agent owning {first['owned']} open incidents with {first['unclaimed']} "
        f"unclaimed in their channels, {first['approvals']} of theirs waiting for approval, steps overdue and "
        "escalated; the lead's Home on the same data. Build: `bot.home.home_view`; send: `HomeSender.send` on a "
        "leased row (build, then views.publish with Slack's hash). Floors: one read transaction of the rows the "
        "agent's Home lists; views.publish of a one-block Home.", "",
        table(["database", "build agent / lead", "read floor", "build / floor", "send agent / lead", "publish floor",
               "send / floor", "blocks agent / lead", "view bytes agent / lead"],
              [[NAMES[r["database"]], pair(r, "build"), f"{r['cost']['read_floor_s'] * 1000:.1f} ms", over(r, "build"),
                pair(r, "send"), f"{r['cost']['publish_floor_s'] * 1000:.1f} ms", over(r, "send"),
                f"{r['cost']['sizes']['agent']['blocks']} / {r['cost']['sizes']['lead']['blocks']}",
                f"{r['cost']['sizes']['agent']['bytes']:,} / {r['cost']['sizes']['lead']['bytes']:,}"]
               for r in results]), "",
        "Burst: claims spread evenly over one second of the clock, round robin across people who all opened their "
        "Home, the sender draining after each; then the clock on in the same steps until the debounced rows went.", "",
        table(["database", "changes / people", "views.publish calls", "per person", "publishes per second of burst",
               "per change", "sent after the last change", "Homes older than the last change",
               "sender: publishing them (wall)", "most blocks in any Home (limit 100)"],
              [[NAMES[r["database"]], f"{b['changes']} / {b['people']}", b["publishes"],
                ", ".join(map(str, b["publishes_per_person"])), number(b["publishes_per_clock_second"]),
                number(b["publishes_per_change"], 2),
                f"{b['first_publish_after_last_change_s']:.2f}-{b['last_publish_after_last_change_s']:.2f} s",
                b["stale_homes"],
                f"{b['publish_wall_s'] * 1000:.0f} ms ({number(b['publishes_per_wall_second'], 0)}/s)", r["max_blocks"]]
               for r in results for b in [r["burst"]]]), ""])


def memory(result: dict[str, Any]) -> str:
    return "\n".join([
        f"`serve` on {NAMES[result['database']]}, server and background process together: a warm-up of 200 flags, "
        f"then {result['rounds']} rounds of {result['per_round']:,} flags on new messages, each drained to Slack "
        "before RSS is read.", "",
        f"- RSS (MiB): {' → '.join(f'{value:.1f}' for value in result['samples_mib'])}",
        f"- growth per 10,000 incidents, round by round (MiB): "
        f"{', '.join(f'{value:.2f}' for value in result['growth_mib_per_10k'])} (target ≤ 5, and flat)",
        f"- incidents stored: {result['incidents']:,}; failed requests: {result['errors']}", ""])


def outbox(result: dict[str, Any]) -> str:
    r, flags = result, result["flags"]
    return (f"{NAMES[r['database']]}: {flags} flags queued -> {r['rows']} outbox rows sent in {r['seconds']:.1f} s: "
            f"{flags / r['seconds']:.0f} flags/s, {r['seconds'] / flags * 1000:.1f} ms wall and "
            f"{r['cpu_seconds'] / flags * 1000:.1f} ms CPU per flag; one due-rows query with the whole backlog due "
            f"(fastest of 3): {r['due_query_ms_at_start']:.1f} ms; Slack calls {r['slack_calls']}")


def ack_profile(result: dict[str, Any]) -> str:
    """Per kind: what the busy samples of the bot's server, its background and the durable floor were doing."""
    config = result["config"]
    lines = [f"Database: {result['database']}. {config['requests']} requests of each kind at concurrency "
             f"{config['concurrency']}, py-spy at {config['rate']} samples/s (raw stacks in {result['raw']}). "
             "Shares of busy samples (idle threads left out):", ""]
    for kind, targets in result["kinds"].items():
        bot, floor = targets["recovery"], targets["durable"]
        buckets = list(dict.fromkeys([*bot["server"], *bot["background"], *floor["server"]]))
        lines += [f"**{kind}**: bot {bot['wall']:.2f} s ({bot['server_busy_samples']} busy samples in the server, "
                  f"{bot['background_busy_samples']} in the background), durable floor {floor['wall']:.2f} s "
                  f"({floor['server_busy_samples']}).", "",
                  table(["where", "bot server", "bot background", "durable floor"],
                        [[name, *(f"{t.get(name, 0):.0%}" for t in (bot["server"], bot["background"],
                                                                    floor["server"]))] for name in buckets]), ""]
    return "\n".join(lines)


def ack_cpu(result: dict[str, Any]) -> str:
    """Per kind: the server's CPU and SQL statements for one request, the bot beside the durable floor."""
    lines = [f"{NAMES[result['database']]}: {result['requests']} requests of each kind, each alone, the WSGI app called "
             "in-process (thread CPU per request; SQL statements per request):", "",
             table(["kind", "bot CPU ms", "floor CPU ms", "bot / floor", "bot statements", "floor statements"],
                   [[kind, number(t["bot"]["cpu_ms"], 2), number(t["floor"]["cpu_ms"], 2),
                     ratio(t["bot"]["cpu_ms"] / t["floor"]["cpu_ms"]), number(t["bot"]["statements"]),
                     number(t["floor"]["statements"])] for kind, t in result["kinds"].items()]), ""]
    if result["profile"]:
        lines += ["```", result["profile"].rstrip(), "```", ""]
    return "\n".join(lines)


_SECTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "ack_latency": ack, "intake_throughput": intake, "digest_acks": digest, "memory": memory, "diagnose": outbox,
    "storm": storm_section, "ack_profile": ack_profile, "ack_cpu": ack_cpu}


def section(name: str, results: list[dict[str, Any]]) -> str:
    """What a benchmark run alone prints."""
    if name == "timers_cost":
        return timers(results)
    if name == "stats_cost":
        return stats(results)
    if name == "insights_cost":
        return insights(results)
    if name == "home_cost":
        return home(results)
    return "\n".join(_SECTIONS[name](result) for result in results)


# The whole report


def document(info: dict[str, Any], command: str, results: dict[str, dict[str, Any]], *, quick: bool,
             analysis: str = "") -> str:
    """docs/PERFORMANCE.md: the machine, the targets, the analysis carried over, the method, each section."""
    digests = {result.get("product_digest") for group in results.values() for result in group.values()}
    lines = ["# Performance", ""]
    if quick:
        lines += ["> **Quick run**: a few seconds per benchmark, to check that they work. These figures are not "
                  "measurements; run `python -m bench.run` for those.", ""]
    lines += [
        f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB memory "
        f"({info['memory_available_gib']} GiB available at the start), Linux {info['kernel']}, Python "
        f"{info['python']}; load average at the start {' '.join(info['loadavg'])}. The machine is shared: figures "
        "are medians of rounds, and every bot figure is compared with a floor measured alternately with it in the "
        f"same run. The whole run took {info.get('minutes', 0)} minutes.", "",
        f"Command: `{command}` (from the repository root, with the project's virtualenv). Code: commit "
        f"`{info['commit']}`" + (f", plus uncommitted changes to {', '.join(info['uncommitted'])}"
                                 if info["uncommitted"] else "")
        + f" (product files digest `{info['product_digest']}` at the start)."
        + (" **The product files changed during the run** (other work in progress): each section below names the "
           "digest of the code it measured." if len(digests) > 1 else ""), "",
        "## Targets", "", _targets(results), "",
        *(["## Analysis", ""] if analysis else []), ANALYSIS_START, *([analysis] if analysis else []), ANALYSIS_END, "",
        "## How it is measured", "", *(_bullet(module.__doc__) for module in METHOD), ""]
    renderers = {"ack": ack, "intake": intake, "digest": digest, "memory": memory, "storm": storm_section}
    for kind, group in results.items():
        if kind == "timers" and group:
            lines += ["## Scheduler tick and digest", "", timers(list(group.values()))]
        if kind == "stats" and group:
            lines += ["## `/recovery stats` over 100,000 incidents", "", stats(list(group.values()))]
        if kind == "home" and group:
            lines += ["## The App Home: cost and debounce", "", home(list(group.values()))]
        for database, result in group.items() if kind in renderers else ():
            lines += [f"## {TITLES.get(kind, kind.title())}: {NAMES[database]}", "", renderers[kind](result)]
    return "\n".join(lines).rstrip() + "\n"


def _targets(results: dict[str, dict[str, Any]]) -> str:
    databases = [d for d in NAMES if any(d in group for group in results.values())]

    def row(label: str, target: str, kind: str, cell: Callable[[dict[str, Any]], str]) -> list[str]:
        return [label, target, *(cell(results[kind][d]) if d in results.get(kind, {}) else "not run"
                                 for d in databases)]

    def p99_ratio(a: dict[str, Any]) -> str:
        main = a["main"][a["config"]["stress_concurrency"]]
        return (f"{ratio(main['p99_ratio'])} ({main['recovery']['p99'] * 1000:.0f} ms / "
                f"{main['bare']['p99'] * 1000:.0f} ms): {ack_verdict(main['p99_ratio'])}")

    def durable_ratio(a: dict[str, Any]) -> str:
        main = a["main"][a["config"]["stress_concurrency"]]
        return (f"{ratio(main['durable_p99_ratio'])} ({main['recovery']['p99'] * 1000:.0f} ms / "
                f"{main['durable']['p99'] * 1000:.0f} ms): {durable_verdict(main['durable_p99_ratio'])}")

    def ack_errors(a: dict[str, Any]) -> str:
        t = a["totals"]
        return (f"{t['errors']} / {t['non_2xx']} / {t['over_3s']} of {t['n']}: "
                f"{met(not (t['errors'] or t['non_2xx'] or t['over_3s']))}")

    def slack_down(a: dict[str, Any]) -> str:
        healthy = a["main"][a["config"]["stress_concurrency"]]["recovery"]["p99"]
        bad = {mode: d["errors"] + d["non_2xx"] + d["over_3s"] for mode, d in a["degraded"].items()}
        return "; ".join(f"{mode.removeprefix('slack_')}: p99 {d['recovery']['p99'] * 1000:.0f} ms "
                         f"({ratio(d['recovery']['p99'] / healthy)} of healthy), {bad[mode]} failed/slow"
                         for mode, d in a["degraded"].items()) + f": {met(not any(bad.values()))}"

    def forged(a: dict[str, Any]) -> str:
        f = a["forged"]
        return (f"all 401: {'yes' if f['all_401'] else 'NO'}, rows written {f['rows_written_total']}, legit p99 "
                f"with/without {ratio(f['targets']['recovery']['p99_slowdown'])}: "
                f"{met(f['all_401'] and f['rows_written_total'] == 0)}")

    def intake_main(i: dict[str, Any]) -> str:
        m = i["main"]
        drain = (f"drained in {m['drain_seconds']:.1f} s" if m["all_cards_out"]
                 else f"{m['flags'] - m['cards_distinct']} cards still owed {m['watched_for']:.0f} s after")
        verdict = met(m["holds"]) if m["rate"] >= intake_throughput.TARGET_RATE else "not measured at 100/s"
        return (f"{m['rate']:g}/s x {m['seconds']:g} s: {m['incidents']}/{m['flags']} stored, {m['cards_distinct']} "
                f"cards, {number(m['cards_per_s_during_load'], 0)} cards/s during load, {drain}: {verdict}")

    def highest(i: dict[str, Any]) -> str:
        h, failing = i["highest_holding_rate"], i["first_failing"]
        return (f"{h:g} flags/s" if h else "none") + (f" (next step {failing['rate']:g}/s: {failing['why_not']})"
                                                      if failing else "")

    def digest_cell(r: dict[str, Any]) -> str:
        ratios, p, empty = r["ratios"], r["previews"], r["digest_b"]["phases_without_digest"]
        return (f"scheduled digest {ratio(ratios['B']['p99_ratio'])}: {digest_verdict(ratios['B']['p99_ratio'])}"
                + (f" (but {empty} of its phases got no digest posted)" if empty else "")
                + f"; lead previews {ratio(ratios['C']['p99_ratio'])}: {digest_verdict(ratios['C']['p99_ratio'])} "
                f"(previews p99 {ms(p['p99'])} ms, {p['non_2xx'] + p['errors'] + p['over_3s']} failed/slow: "
                f"{met(p['met'])})")

    def storm_cell(r: dict[str, Any]) -> str:
        return (f"{r['cards']}/{r['config']['flags']} cards, last at {ratio(r['ratio'])} the floor, "
                f"429s {r['share_429']:.2%}, {r['stale_cards']} stale, {r['duplicate_cards']} twice: "
                + met(r["met"]))

    rows = [row("Ack p99 at concurrency 16, bot / durable floor (Bolt + one committed INSERT)",
                f"<= {DURABLE_RATIO_TARGET:g}x", "ack", durable_ratio),
            row("Ack p99 at concurrency 16, bot / bare Bolt (acks only)", "<= 2x (aim 1.5x)", "ack", p99_ratio),
            row("Acks: errors / non-2xx / over 3 s", "0", "ack", ack_errors),
            row("Acks while Slack answers 429, drops connections, stalls", "no errors, no slowdown", "ack", slack_down),
            row("Forged requests (wrong secret, stale, unsigned)", "all 401, 0 rows, no slowdown", "ack", forged),
            row("Intake end to end", "100 flags/s, drained within 5 s", "intake", intake_main),
            row("Highest intake rate that holds", "at least 100 flags/s", "intake", highest),
            row("Acks while the digest of a 100,000-incident channel runs (p99 / no digest, same round)",
                f"<= {digest_acks.TARGET_RATIO:g}x; previews 2xx within 3 s", "digest", digest_cell),
            row("The storm: 300 flags into one channel in 10 s, Slack's limits enforced",
                f"last card <= {storm.TARGET_RATIO:g}x the floor, 429s < {storm.TARGET_429_SHARE:.0%}, no stale card, "
                "acks unaffected", "storm", storm_cell)]
    return table(["what", "target"] + [NAMES[d] for d in databases], rows)
