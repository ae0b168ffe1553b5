"""incident numbers drawn at commit on PostgreSQL

A flag on PostgreSQL inserts its incident under a placeholder number (minus a fresh value of
the id sequence) and drew the real one with a last statement of its own: the workspace
counter's row lock was then held across that statement's round trip and the COMMIT's, while
the bot's thread waited for its turn at the interpreter, and every other flag of the
workspace queued behind it (a millisecond per flag under load). A deferred constraint trigger
draws the number inside the commit instead, where the lock is held for microseconds and no
round trip. It fires only for a placeholder, so an incident inserted with its number (SQLite,
which runs one writer at a time and draws first, or an import) keeps it. Numbers stay gapless:
a flag that rolls back never reaches its commit, so never draws.

Revision ID: 0015
Revises: 0014
Create Date: 2027-03-01
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE FUNCTION draw_incident_number() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    drawn integer;
BEGIN
    INSERT INTO workspace_counter (workspace_id, last_number) VALUES (NEW.workspace_id, 1)
    ON CONFLICT (workspace_id) DO UPDATE SET last_number = workspace_counter.last_number + 1
    RETURNING last_number INTO drawn;
    UPDATE incident SET number = drawn WHERE id = NEW.id;
    RETURN NULL;
END
$$
"""
_TRIGGER = """
CREATE CONSTRAINT TRIGGER incident_numbered AFTER INSERT ON incident
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.number < 0)
EXECUTE FUNCTION draw_incident_number()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER incident_numbered ON incident")
    op.execute("DROP FUNCTION draw_incident_number()")
