"""The workspace_setting and workspace_setting_change tables: a workspace's own settings and
their timeline. Values come and go as JSON text; what they mean is bot/workspace_config.py's.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import WorkspaceSetting, WorkspaceSettingChange

_SETTING = WorkspaceSetting.__table__
_CHANGE = WorkspaceSettingChange.__table__


def overrides(session: Session, workspace_id: str) -> dict[str, str]:
    """key -> JSON text of every value the workspace set: one read along the primary key, cheap
    enough to make on every request (which is how a change reaches every replica at once)."""
    rows = session.connection().execute(
        select(_SETTING.c.key, _SETTING.c.value).where(_SETTING.c.workspace_id == workspace_id))
    return {key: value for key, value in rows}


def save(session: Session, workspace_id: str, values: Mapping[str, str | None], *, by: str,
         now: datetime) -> dict[str, tuple[str | None, str | None]]:
    """Set each key to its JSON text (None: back to the environment's value) and record one
    change row per key whose value differs. The rows are read under this transaction, so the
    old value of a change is the one it replaced. Returns key -> (old, new) of the changes."""
    current = overrides(session, workspace_id)
    changed = {key: (current.get(key), new) for key, new in values.items() if current.get(key) != new}
    connection = session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    for key, (old, new) in changed.items():
        if new is None:
            connection.execute(delete(_SETTING).where(_SETTING.c.workspace_id == workspace_id, _SETTING.c.key == key))
        else:
            # An upsert: two leads saving a workspace's first value of a key at once both insert.
            stored = {"value": new, "updated_at": now, "updated_by": by}
            connection.execute(insert(_SETTING).values(workspace_id=workspace_id, key=key, **stored)
                               .on_conflict_do_update(index_elements=["workspace_id", "key"], set_=stored))
        connection.execute(_CHANGE.insert().values(workspace_id=workspace_id, key=key, old=old, new=new,
                                                   changed_by=by, changed_at=now))
    return changed


def changes(session: Session, workspace_id: str) -> list[WorkspaceSettingChange]:
    """The workspace's settings timeline, oldest first."""
    return list(session.exec(select(WorkspaceSettingChange)
                             .where(WorkspaceSettingChange.workspace_id == workspace_id)
                             .order_by(WorkspaceSettingChange.id)).scalars())
