"""Datasets defined by a SQL query: the connection's name and the query a refresh re-runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``datasets.query`` (null for datasets registered from files and frames)."""
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("query", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``datasets.query``."""
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("query")
