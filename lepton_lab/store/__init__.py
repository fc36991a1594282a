"""Storage: the catalog database (SQLAlchemy, Alembic) and the content-addressed blob store.

Nothing here knows what a dataset or a model is; the services give the rows meaning.
"""

from lepton_lab.store.blobs import BlobStore, StoredBlob, sha256_file
from lepton_lab.store.db import Database

__all__ = ["BlobStore", "Database", "StoredBlob", "sha256_file"]
