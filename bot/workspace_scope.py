"""Which workspace's settings are in force now: a context variable, set around each request
(bot/app.py), each outbox row (bot/outbox.py) and each timer's work for a workspace
(bot/timers.py), and read by RecoveryService.settings/.playbook/.leads.

Why a context variable: every listener, timer and renderer already reads the service's
settings, playbook, policy and leads; scoping them around the unit of work routes all of them
to the workspace's values without threading a workspace through every signature, and a
thread of Bolt's lazy listeners gets a copy of it (bot/app.py).

Why a few seconds' cache: a workspace's overrides are one primary-key read of a few rows,
but a read transaction of its own on every request is a round trip or three on PostgreSQL
in every ack (bench/ack_profile.py). So they are read at most every FRESH_SECONDS per
workspace and process: the replica that saves a change forgets its copy at once
(``forget``), the others see it within FRESH_SECONDS. What is built from them (Settings,
Playbook, a Leads with its group cache) is kept while the rows stay the same.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlmodel import Session

from bot import workspace_config
from bot.domain.playbook import Playbook
from bot.leads import Leads
from bot.settings import Settings
from storage import settings_store
from storage.db import Database

log = logging.getLogger(__name__)

MakeLeads = Callable[[str, frozenset[str], str | None], Leads]
"""(workspace, lead user ids, lead group) -> that workspace's Leads."""
FRESH_SECONDS = 5


@dataclass(frozen=True, slots=True)
class WorkspaceConfig:
    """A workspace's effective settings: the environment's with its own values over them."""

    workspace_id: str
    settings: Settings
    playbook: Playbook
    leads: Leads
    overridden: frozenset[str]
    """The keys the workspace set itself; the others are the environment's."""


_current: ContextVar[WorkspaceConfig | None] = ContextVar("workspace_config", default=None)


def current() -> WorkspaceConfig | None:
    """The workspace in force in this request, row or tick; None outside any."""
    return _current.get()


class WorkspaceConfigs:
    """Builds each workspace's WorkspaceConfig from the environment's defaults and its rows."""

    def __init__(self, *, db: Database, defaults: Settings, playbook: Playbook, leads: Leads,
                 make_leads: MakeLeads, now: Callable[[], datetime]) -> None:
        self._db = db
        self._now = now
        self._defaults = defaults
        self._playbook = playbook
        self._default_leads = leads
        self._make_leads = make_leads
        self._lock = threading.Lock()
        self._built: dict[str, tuple[frozenset[tuple[str, str]], WorkspaceConfig]] = {}
        self._read_at: dict[str, datetime] = {}  # when each workspace's rows were last read
        self._leads: dict[tuple[str, frozenset[str], str | None], Leads] = {}

    @property
    def defaults(self) -> tuple[Settings, Playbook]:
        return self._defaults, self._playbook

    def resolve(self, workspace_id: str, session: Session | None = None) -> WorkspaceConfig:
        """The workspace's settings as stored now; ``session``: read in it (a timer holding a
        write transaction on SQLite reads its own rows rather than waiting for them). Read
        again once FRESH_SECONDS have passed since the last read."""
        now = self._now()
        with self._lock:
            built, read_at = self._built.get(workspace_id), self._read_at.get(workspace_id)
        if built is not None and read_at is not None and now - read_at < timedelta(seconds=FRESH_SECONDS):
            return built[1]
        if session is None:
            with self._db.read() as reading:
                rows = settings_store.overrides(reading, workspace_id)
        else:
            rows = settings_store.overrides(session, workspace_id)
        snapshot = frozenset(rows.items())
        if built is None or built[0] != snapshot:
            built = (snapshot, self._build(workspace_id, rows))
        with self._lock:
            self._built[workspace_id], self._read_at[workspace_id] = built, now
        return built[1]

    def forget(self, workspace_id: str) -> None:
        """Read the workspace's rows again next time: this process has just changed them."""
        with self._lock:
            self._read_at.pop(workspace_id, None)

    @contextmanager
    def scope(self, workspace_id: str, session: Session | None = None) -> Iterator[WorkspaceConfig]:
        """The workspace's settings in force until the block ends (restored after, even nested)."""
        config = self.resolve(workspace_id, session)
        token = _current.set(config)
        try:
            yield config
        finally:
            _current.reset(token)

    def enter(self, workspace_id: str | None) -> None:
        """The workspace's settings in force from now on in this context (None: the
        environment's). For Bolt's global middleware, after which the listeners run without
        a block around them (bot/app.py); every request sets it, so none inherits another's."""
        _current.set(None if workspace_id is None else self.resolve(workspace_id))

    def _build(self, workspace_id: str, rows: dict[str, str]) -> WorkspaceConfig:
        fields = {field.key: field for field in (*workspace_config.SETTING_FIELDS,
                                                 *workspace_config.sla_fields(self._playbook))}
        values: dict[str, object] = {}
        for key, stored in rows.items():
            field = fields.get(key)
            if field is None:
                continue
            try:
                values[key] = workspace_config.decode(field, stored)
            except ValueError as error:
                # Saved through the same parser, so only a value an upgrade made invalid: the
                # environment's stands in, and the Settings modal shows it to fix.
                log.warning("workspace %s: setting %s ignored (%s)", workspace_id, key, error)
        settings, playbook = workspace_config.apply(self._defaults, self._playbook, values)
        return WorkspaceConfig(workspace_id=workspace_id, settings=settings, playbook=playbook,
                               leads=self._leads_for(workspace_id, settings), overridden=frozenset(values))

    def _leads_for(self, workspace_id: str, settings: Settings) -> Leads:
        """The environment's Leads unless the workspace names its own; kept per workspace and
        value, so a lead group's cached members survive the requests between two reads."""
        if (settings.lead_user_ids, settings.lead_group) == (self._defaults.lead_user_ids, self._defaults.lead_group):
            return self._default_leads
        key = (workspace_id, settings.lead_user_ids, settings.lead_group)
        with self._lock:
            leads = self._leads.get(key)
            if leads is None:
                for stale in [known for known in self._leads if known[0] == workspace_id]:
                    del self._leads[stale]
                leads = self._leads[key] = self._make_leads(workspace_id, settings.lead_user_ids,
                                                                   settings.lead_group)
        return leads
