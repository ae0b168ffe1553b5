"""Who pressed which button on which incident, read defensively from a block_actions payload."""
from __future__ import annotations

from bot.service import Locator
from handlers.payload import incident_value, slack_id, text, token, workspace_of


class Click:
    def __init__(self, body: dict, value: str | None = None) -> None:
        raw = value if value is not None else text(body, "actions", 0, "value")
        self.parsed = incident_value(raw)
        self.workspace = workspace_of(body)
        self.user = slack_id(body, "user", "id")
        self.channel = slack_id(body, "channel", "id") or slack_id(body, "container", "channel_id")
        self.trigger = token(body, "trigger_id")
        # A button on the person's Home tab: no channel; a refusal goes to them by DM.
        self.from_home = text(body, "container", "type") == "view" and text(body, "view", "type") == "home"

    @property
    def on_incident(self) -> bool:
        """A card button (the incident, who pressed it and where are all known), or the same
        button on the presser's Home tab, which has no channel."""
        return bool(self.parsed and self.workspace and self.user and (self.channel or self.from_home))

    @property
    def on_step(self) -> bool:
        """A step button: also which step instance it was drawn for."""
        return self.on_incident and self.parsed is not None and self.parsed[1] is not None

    @property
    def where(self) -> Locator:
        return Locator(self.workspace or "", incident_id=self.parsed[0] if self.parsed else None)

    @property
    def seq(self) -> int:
        return self.parsed[1] if self.parsed and self.parsed[1] is not None else -1
