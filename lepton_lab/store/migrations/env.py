"""Alembic environment: always run from :func:`lepton_lab.store.db.Database.migrate`.

The caller hands over an open connection (already holding the migration lock) through
``config.attributes["connection"]``; there is no ``alembic.ini`` and no offline mode.
"""

from alembic import context

from lepton_lab.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
