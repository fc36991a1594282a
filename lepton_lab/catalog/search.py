"""Catalog search on each database: SQLite FTS5, PostgreSQL full text, LIKE elsewhere.

All three see the same document per dataset (``datasets.search_text``: team, name,
description, tags and column names) and the same query words: runs of letters and digits,
each matched as a prefix, all required.

A search statement takes its words as bound parameters (:func:`restrict` builds the
statement for a number of words, :func:`match_params` gives their values), so that one
statement, built and compiled once, serves every query of that shape.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    table,
    text,
)
from sqlalchemy.orm import Session

from lepton_lab.store.tables import Dataset

__all__ = ["document", "index_dataset", "match_params", "query_words", "restrict"]

_WORD = re.compile(r"[^\W_]+")
_fts = table("dataset_search", column("rowid"), column("text"))
_datasets = Dataset.__table__.c


def query_words(query: str) -> list[str]:
    """The words of a query, lowercased; punctuation and FTS syntax are dropped."""
    return [w.lower() for w in _WORD.findall(query or "")][:16]


def document(team: str, name: str, description: str, tags: list[str], columns: list[str]) -> str:
    """The text a dataset is found by."""
    return " ".join([team, name, description, " ".join(tags), " ".join(columns)])


def index_dataset(session: Session, dataset: Dataset) -> None:
    """Bring the search index up to date with ``dataset.search_text`` (SQLite keeps a copy)."""
    if session.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL indexes the column itself; other databases scan it.
    session.execute(text("DELETE FROM dataset_search WHERE rowid = :id"), {"id": dataset.id})
    session.execute(
        text("INSERT INTO dataset_search (rowid, text) VALUES (:id, :text)"),
        {"id": dataset.id, "text": dataset.search_text},
    )


def restrict(
    query: Select[Any], words: int, dialect: str
) -> tuple[Select[Any], ColumnElement[float] | None]:
    """``query`` narrowed to datasets matching every one of ``words`` words (their values:
    :func:`match_params`), and a relevance to order by."""
    if not words:
        return query, None
    if dialect == "sqlite":
        narrowed = query.join(_fts, _fts.c.rowid == _datasets.id).where(
            literal_column("dataset_search").op("MATCH")(bindparam("match"))
        )
        # FTS5's rank is bm25, smaller is better: negate so that bigger is better everywhere.
        return narrowed, -literal_column("dataset_search.rank")
    if dialect == "postgresql":
        # A stored, indexed column (migration 0002): ranking reads it, never re-tokenises.
        vector: ColumnElement[str] = literal_column("datasets.search_vector")
        tsquery = func.to_tsquery("simple", bindparam("match"))
        return query.where(vector.op("@@")(tsquery)), func.ts_rank(vector, tsquery)
    like = and_(*(_datasets.search_text.ilike(bindparam(f"word{i}")) for i in range(words)))
    return query.where(like), None


def match_params(words: list[str], dialect: str) -> dict[str, str]:
    """The values of :func:`restrict`'s parameters for ``words``."""
    if not words:
        return {}
    if dialect == "sqlite":
        return {"match": " AND ".join(f'"{w}"*' for w in words)}
    if dialect == "postgresql":
        return {"match": " & ".join(f"{w}:*" for w in words)}
    return {f"word{i}": f"%{w}%" for i, w in enumerate(words)}
