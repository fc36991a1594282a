"""Job tokens: a running job's credential in a shared deployment, stored hashed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from lepton_lab.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``job_tokens``."""
    op.create_table(
        "job_tokens",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_tokens_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sha256", name="pk_job_tokens"),
    )
    op.create_index("ix_job_tokens_job_id", "job_tokens", ["job_id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_job_tokens_job_id", table_name="job_tokens")
    op.drop_table("job_tokens")
