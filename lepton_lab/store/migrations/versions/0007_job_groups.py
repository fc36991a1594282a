"""Job groups (sweeps, pipeline runs), a job's group and step, and its notifications.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from lepton_lab.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``job_groups``; add ``group_id``, ``step``, ``notify``, ``notices`` to jobs."""
    op.create_table(
        "job_groups",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rerun_of", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_groups"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("group_id", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("step", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("notify", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("notices", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_index("ix_jobs_group_id", ["group_id"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_group_id")
        for column in ("notices", "notify", "step", "group_id"):
            batch.drop_column(column)
    op.drop_table("job_groups")
