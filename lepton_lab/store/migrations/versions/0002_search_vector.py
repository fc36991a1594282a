"""PostgreSQL: a stored tsvector for search, so ranking does not re-tokenise every match.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the expression index with a generated column and a GIN index on it."""
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps its FTS5 table; other databases scan search_text.
    op.execute(
        "ALTER TABLE datasets ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
    )
    op.execute("DROP INDEX IF EXISTS ix_datasets_search")
    op.execute("CREATE INDEX ix_datasets_search_vector ON datasets USING gin (search_vector)")


def downgrade() -> None:
    """Back to the expression index."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_datasets_search_vector")
    op.execute("ALTER TABLE datasets DROP COLUMN search_vector")
    op.execute(
        "CREATE INDEX ix_datasets_search ON datasets USING gin (to_tsvector('simple', search_text))"
    )
