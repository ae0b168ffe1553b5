"""The recovery playbook as data: which steps, in which order, how long each may take.

The built-in table is SPEC section 2; a TOML file may override titles, whys, SLAs and the
root-cause list. Parsing takes the file's text, not a path, so it stays pure.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.domain.parsing import parse_duration
from bot.domain.types import StepKey


class PlaybookError(ValueError):
    """A playbook file we refuse to start with; str() is one line for the admin."""


@dataclass(frozen=True, slots=True)
class StepDef:
    key: StepKey
    title: str
    why: str
    sla: timedelta


@dataclass(frozen=True, slots=True)
class Playbook:
    steps: tuple[StepDef, ...]
    root_causes: tuple[str, ...]

    def step(self, key: StepKey) -> StepDef:
        for step in self.steps:
            if step.key is key:
                return step
        raise KeyError(key)

    def next_after(self, key: StepKey) -> StepKey | None:
        order = [step.key for step in self.steps]
        position = order.index(key)
        return order[position + 1] if position + 1 < len(order) else None


ROOT_CAUSES: tuple[str, ...] = (
    "product defect",
    "delivery",
    "billing",
    "wrong information",
    "staff behaviour",
    "process",
    "other",
)

DEFAULT_PLAYBOOK = Playbook(
    steps=(
        StepDef(StepKey.CLAIM, "Claim",
                "One named owner makes sure nobody assumes someone else has it.",
                timedelta(minutes=10)),
        StepDef(StepKey.ACKNOWLEDGE, "Acknowledge and take ownership",
                "Reach the customer on the channel they used; customers calm down once they feel heard.",
                timedelta(minutes=15)),
        StepDef(StepKey.APOLOGIZE, "Apologize",
                "A sincere, personal apology, not a formula, is what restores trust.",
                timedelta(minutes=30)),
        StepDef(StepKey.FIX, "Understand and fix",
                "Fix the problem and name its root cause so it does not happen again.",
                timedelta(hours=4)),
        StepDef(StepKey.MAKE_IT_RIGHT, "Go above and beyond",
                "A gesture beyond the fix is what turns a complaint into loyalty.",
                timedelta(hours=24)),
        StepDef(StepKey.BUY_IN, "Customer buy-in",
                "The recovery is only done when the customer agrees it is.",
                timedelta(hours=24)),
        StepDef(StepKey.FOLLOW_UP, "Follow up",
                "Asking later how satisfied they are shows the care was real, and measures it.",
                timedelta(hours=24)),
    ),
    root_causes=ROOT_CAUSES,
)


def load_playbook(text: str, *, base: Playbook = DEFAULT_PLAYBOOK, source: str = "PLAYBOOK_FILE") -> Playbook:
    """Overlay a TOML playbook on ``base``; steps not listed keep their defaults."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PlaybookError(f"{source}: not valid TOML ({error})") from None
    unknown_top = set(data) - {"steps", "root_causes"}
    if unknown_top:
        raise PlaybookError(f"{source}: unknown section {sorted(unknown_top)[0]!r}; expected [[steps]] or root_causes")
    steps = {step.key: step for step in base.steps}
    entries = data.get("steps", [])
    if not isinstance(entries, list):
        raise PlaybookError(f"{source}: 'steps' must be a list of [[steps]] tables")
    for position, entry in enumerate(entries, start=1):
        steps_key = _step_key(entry, position, source)
        steps[steps_key] = _overlay_step(steps[steps_key], entry, position, source)
    root_causes = data.get("root_causes", list(base.root_causes))
    if (not isinstance(root_causes, list) or not root_causes
            or not all(isinstance(cause, str) and cause.strip() for cause in root_causes)):
        raise PlaybookError(f"{source}: root_causes must be a non-empty list of names")
    return Playbook(
        steps=tuple(steps[step.key] for step in base.steps),
        root_causes=tuple(cause.strip() for cause in root_causes),
    )


def _step_key(entry: object, position: int, source: str) -> StepKey:
    if not isinstance(entry, dict) or "key" not in entry:
        raise PlaybookError(f"{source}: step {position} has no key")
    try:
        return StepKey(entry["key"])
    except ValueError:
        known = ", ".join(key.value for key in StepKey)
        raise PlaybookError(f"{source}: unknown step key {entry['key']!r} (known: {known})") from None


def _overlay_step(step: StepDef, entry: dict, position: int, source: str) -> StepDef:
    unknown = set(entry) - {"key", "title", "why", "sla"}
    if unknown:
        raise PlaybookError(f"{source}: step {step.key.value!r} has unknown field {sorted(unknown)[0]!r}")
    changes: dict[str, object] = {}
    for name in ("title", "why"):
        if name in entry:
            value = entry[name]
            if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
                raise PlaybookError(f"{source}: step {step.key.value!r} {name} must be one non-empty line")
            changes[name] = value.strip()
    if "sla" in entry:
        try:
            changes["sla"] = parse_duration(str(entry["sla"]))
        except ValueError:
            raise PlaybookError(
                f"{source}: step {step.key.value!r} has a bad sla {entry['sla']!r}; "
                "expected a duration like 90s, 15m, 4h or 3d") from None
    return replace(step, **changes)
