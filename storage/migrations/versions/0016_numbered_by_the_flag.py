"""incident numbers drawn by the flag's own statement on PostgreSQL

Since a flag on PostgreSQL became one statement outside a transaction, the statement is its
commit: a trigger that draws the number while the incident is inserted holds the workspace
counter's row lock for no round trip either. So the deferred trigger of 0015, which inserted
the incident under a placeholder and then updated it with its number inside the commit (a
second version of the row, new entries in each of its indexes, a third of the flag's time
in the database), becomes a BEFORE INSERT trigger that sets the number on the row being
inserted, which the statement then returns (no read-back for `/recovery new`).

Numbers stay gapless. A BEFORE trigger fires before the insert meets an incident of the same
message (ON CONFLICT DO NOTHING), so after taking the counter's lock it looks for one, and if
it finds one gives the number back and leaves the placeholder to the insert that does
nothing. Two flags of one message are in one workspace, so the second waits on the lock for
the first to commit, and its look (a statement of its own, with a fresh snapshot under READ
COMMITTED) sees the first's incident. Still only for a placeholder: an incident inserted
with its number (SQLite, an import) keeps it.

Revision ID: 0016
Revises: 0015
Create Date: 2027-03-08
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# The counter's upsert, which both versions of the function start with.
_COUNT = """
CREATE OR REPLACE FUNCTION draw_incident_number() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    drawn integer;
BEGIN
    INSERT INTO workspace_counter (workspace_id, last_number) VALUES (NEW.workspace_id, 1)
    ON CONFLICT (workspace_id) DO UPDATE SET last_number = workspace_counter.last_number + 1
    RETURNING last_number INTO drawn;
"""
_DRAW = _COUNT + """
    IF EXISTS (SELECT 1 FROM incident WHERE workspace_id = NEW.workspace_id
               AND origin_channel = NEW.origin_channel AND origin_ts = NEW.origin_ts) THEN
        UPDATE workspace_counter SET last_number = drawn - 1 WHERE workspace_id = NEW.workspace_id;
        RETURN NEW;
    END IF;
    NEW.number := drawn;
    RETURN NEW;
END
$$
"""
_BEFORE = """
CREATE TRIGGER incident_numbered BEFORE INSERT ON incident
FOR EACH ROW WHEN (NEW.number < 0) EXECUTE FUNCTION draw_incident_number()
"""
# 0015's, to go back to.
_AT_COMMIT = _COUNT + """
    UPDATE incident SET number = drawn WHERE id = NEW.id;
    RETURN NULL;
END
$$
"""
_DEFERRED = """
CREATE CONSTRAINT TRIGGER incident_numbered AFTER INSERT ON incident
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.number < 0)
EXECUTE FUNCTION draw_incident_number()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER incident_numbered ON incident")
    op.execute(_DRAW)
    op.execute(_BEFORE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER incident_numbered ON incident")
    op.execute(_AT_COMMIT)
    op.execute(_DEFERRED)
