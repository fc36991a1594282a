"""Teams, memberships, datasets and their versions, lineage, events, search.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from lepton_lab.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the catalog's first tables and the search index of the dialect."""
    op.create_table(
        "teams",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name="pk_teams"),
    )
    op.create_table(
        "memberships",
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team"], ["teams.slug"], name="fk_memberships_team_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team", "user", name="pk_memberships"),
    )
    op.create_index("ix_memberships_user", "memberships", ["user"])
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("latest_rows", sa.BigInteger(), nullable=False),
        sa.Column("latest_bytes", sa.BigInteger(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["team"], ["teams.slug"], name="fk_datasets_team_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("team", "name", name="uq_datasets_team_name"),
    )
    op.create_index("ix_datasets_owner", "datasets", ["owner"])
    op.create_index("ix_datasets_updated_at", "datasets", ["updated_at"])
    op.create_index("ix_datasets_visibility_team", "datasets", ["visibility", "team"])
    op.create_table(
        "dataset_tags",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name="fk_dataset_tags_dataset_id_datasets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "tag", name="pk_dataset_tags"),
    )
    op.create_index("ix_dataset_tags_tag", "dataset_tags", ["tag"])
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name="fk_dataset_versions_dataset_id_datasets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
    )
    op.create_index(
        "ix_dataset_versions_dataset_sha256", "dataset_versions", ["dataset_id", "sha256"]
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("src", sa.String(300), nullable=False),
        sa.Column("dst", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
    )
    op.create_index("ix_lineage_edges_src", "lineage_edges", ["src"])
    op.create_index("ix_lineage_edges_dst", "lineage_edges", ["dst"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_subject", "events", ["subject"])
    _create_search_index()


def _create_search_index() -> None:
    """SQLite: an FTS5 table keyed by dataset id; PostgreSQL: a GIN index on a tsvector."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE dataset_search USING fts5(text, tokenize='unicode61')")
    elif dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_datasets_search ON datasets "
            "USING gin (to_tsvector('simple', search_text))"
        )


def downgrade() -> None:
    """Drop everything this revision created."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS dataset_search")
    for table in (
        "events",
        "lineage_edges",
        "dataset_versions",
        "dataset_tags",
        "datasets",
        "memberships",
        "teams",
    ):
        op.drop_table(table)
