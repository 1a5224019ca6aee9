"""Live timelines: PostgreSQL announces every change of the messages on a channel.

A trigger sends the notification inside the writing transaction, so it is delivered only if
the write commits, whichever face (GraphQL, REST, the command line, psql) made it, and costs
no round trip. The payload names the message and its author, never its text (NOTIFY allows
8,000 bytes): listeners fetch what they show. SQLite has no NOTIFY; there one process
announces its own commits (see ``minitwit.live``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "minitwit_events"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION minitwit_announce_message() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := CASE WHEN NEW.flagged THEN 'flagged' ELSE 'posted' END;
    ELSIF NEW.flagged IS DISTINCT FROM OLD.flagged THEN
        kind := CASE WHEN NEW.flagged THEN 'flagged' ELSE 'unflagged' END;
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_notify('{CHANNEL}', json_build_object(
        'kind', kind,
        'message', NEW.id,
        'author', NEW.author_id,
        'at', extract(epoch FROM clock_timestamp())
    )::text);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER messages_announce AFTER INSERT OR UPDATE OF flagged ON messages"
        " FOR EACH ROW EXECUTE FUNCTION minitwit_announce_message()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS messages_announce ON messages")
    op.execute("DROP FUNCTION IF EXISTS minitwit_announce_message()")
