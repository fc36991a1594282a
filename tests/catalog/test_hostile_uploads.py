"""Hostile files registered through the catalog service: each is refused with a clean
error before a parser is hurt by it, and nothing is stored.

The files are built for real: a gzip bomb, JSON nested 100,000 levels deep (which crashes
Arrow's JSON parser if it ever reaches it), cut and garbage compressed files, text in the
wrong encoding, a huge single cell.  ``max_bytes`` is what the REST upload passes
(``settings.max_upload_bytes``).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from fsspec.implementations.local import LocalFileSystem

from lepton_lab.catalog import readers
from lepton_lab.catalog.readers import BLOCK_BYTES, MAX_JSON_DEPTH
from lepton_lab.catalog.source import FileInput
from lepton_lab.errors import InvalidData, NotFound, TooLarge
from lepton_lab.identity import Actor
from lepton_lab.store.tables import Dataset, DatasetVersion
from lepton_lab.workspace import Workspace

MB = 1 << 20


def _stored(workspace: Workspace) -> tuple[int, int, int]:
    """(datasets, versions, blob files)."""
    with workspace.db.read() as session:
        datasets = session.scalar(sa.select(sa.func.count()).select_from(Dataset)) or 0
        versions = session.scalar(sa.select(sa.func.count()).select_from(DatasetVersion)) or 0
    blobs = sum(1 for p in Path(workspace.blobs.root).rglob("*") if p.is_file())
    return datasets, versions, blobs


def _refused(
    workspace: Workspace,
    actor: Actor,
    path: Path,
    error: type[Exception],
    match: str,
    **options: object,
) -> str:
    """Register ``path`` as finance/hostile; assert the error and that nothing stayed."""
    with pytest.raises(error, match=match) as caught:
        workspace.datasets.register(actor, path, "finance/hostile", **options)  # type: ignore[arg-type]
    assert _stored(workspace) == (0, 0, 0)
    with pytest.raises(NotFound):
        workspace.datasets.get(actor, "finance/hostile")
    leftovers = [p for p in workspace.tmp_dir.rglob("*") if p.is_file()]
    assert leftovers == []
    return str(caught.value)


def _gzip_bomb(path: Path, expanded: int) -> None:
    """A CSV gzip file of ``expanded`` bytes once decompressed: one compressed member of a
    few MB repeated (gzip reads concatenated members as one stream), cheap to build."""
    block = b"a,b,c\n" + b"1,2,3\n" * (4 * MB // 6)
    member = gzip.compress(block, compresslevel=9)
    with path.open("wb") as out:
        for _ in range(expanded // len(block)):
            out.write(member)


def test_a_gzip_bomb_is_refused_once_its_decompressed_bytes_pass_the_limit(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    _gzip_bomb(bomb, 150 * MB)
    assert bomb.stat().st_size < MB // 4  # it passes a 1 MB limit on the compressed bytes
    message = _refused(workspace, alice, bomb, TooLarge, "over the upload limit", max_bytes=MB)
    assert message.startswith(
        f"bomb.csv.gz is over the upload limit of {MB} bytes once decompressed; "
    )
    assert "max_upload_bytes" in message


def test_reading_stops_as_soon_as_the_limit_is_passed(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    _gzip_bomb(bomb, 40 * MB)
    file = FileInput(LocalFileSystem(), str(bomb), bomb.name, ".gz", max_bytes=3 * MB)
    received: list[int] = []

    def read_all() -> None:
        with file.open_stream() as stream:
            while chunk := stream.read(64 * 1024):
                received.append(len(chunk))

    with pytest.raises(TooLarge):
        read_all()
    assert sum(received) <= 3 * MB  # no byte past the limit reached the caller


def test_the_limit_applies_to_json_lines_plain_files_and_parquet_pages(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    rows = "".join(json.dumps({"id": i, "text": "x" * 50}) + "\n" for i in range(40_000))
    (tmp_path / "bomb.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
    _refused(
        workspace, alice, tmp_path / "bomb.jsonl.gz", TooLarge, "once decompressed", max_bytes=MB
    )
    (tmp_path / "big.jsonl").write_text(rows)
    message = _refused(
        workspace, alice, tmp_path / "big.jsonl", TooLarge, "big.jsonl", max_bytes=MB
    )
    assert message.startswith(f"big.jsonl is over the upload limit of {MB} bytes; ")
    table = pa.table({"same": ["the same long value " * 10] * 200_000})
    pq.write_table(table, tmp_path / "pages.parquet", compression="zstd", use_dictionary=False)
    assert (tmp_path / "pages.parquet").stat().st_size < MB
    _refused(
        workspace,
        alice,
        tmp_path / "pages.parquet",
        TooLarge,
        "once its pages are decompressed",
        max_bytes=MB,
    )


def test_a_file_within_the_limit_registers(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    (tmp_path / "fine.csv.gz").write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1000))
    version = workspace.datasets.register(alice, tmp_path / "fine.csv.gz", "finance/fine")
    assert version.rows == 1000
    again = workspace.datasets.register(
        alice, tmp_path / "fine.csv.gz", "finance/fine", max_bytes=4004
    )
    assert again.created is False  # exactly at the limit is within it


def test_json_nested_100000_levels_deep_never_reaches_arrow(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    assert len(deep) > 200_000
    (tmp_path / "deep.jsonl").write_bytes(b'{"a": [1]}\n' + deep)
    message = _refused(workspace, alice, tmp_path / "deep.jsonl", InvalidData, "line 2 nests")
    assert f"more than {MAX_JSON_DEPTH} levels deep" in message
    (tmp_path / "deep.jsonl.gz").write_bytes(gzip.compress(deep))
    _refused(workspace, alice, tmp_path / "deep.jsonl.gz", InvalidData, "line 1 nests")


def test_brackets_inside_strings_are_not_nesting(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    tricky = json.dumps({"text": "[" * 5000 + '\\"{{' + "{" * 500, "n": [[1, 2], [3, 4]]})
    (tmp_path / "tricky.jsonl").write_text(tricky + "\n" + json.dumps({"text": "]]", "n": []}))
    version = workspace.datasets.register(alice, tmp_path / "tricky.jsonl", "finance/tricky")
    frame = workspace.datasets.load(alice, "finance/tricky")
    assert version.rows == 2 and frame["text"][0].startswith("[" * 5000)


def test_a_json_line_longer_than_a_block(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    line = json.dumps({"a": "x" * (BLOCK_BYTES + 10)})
    (tmp_path / "long.jsonl").write_text('{"a": "short"}\n{"a": "short"}\n' + line + "\n")
    _refused(workspace, alice, tmp_path / "long.jsonl", InvalidData, "long.jsonl line 3 is longer")


def test_a_huge_single_csv_cell(workspace: Workspace, alice: Actor, tmp_path: Path) -> None:
    (tmp_path / "cell.csv").write_bytes(b"a,b\n1,short\n2," + b"x" * (3 * BLOCK_BYTES) + b"\n")
    _refused(
        workspace, alice, tmp_path / "cell.csv", InvalidData, "cell.csv has a row longer than 4 MiB"
    )


@pytest.mark.parametrize("suffix", [".csv.gz", ".jsonl.gz", ".csv.bz2", ".csv.xz"])
def test_garbage_named_as_compressed(
    workspace: Workspace, alice: Actor, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(os.urandom(5000))
    codec = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}[Path(suffix).suffix]
    _refused(workspace, alice, path, InvalidData, rf"garbage{suffix} is not a valid {codec} file")


def test_a_compressed_file_cut_short(workspace: Workspace, alice: Actor, tmp_path: Path) -> None:
    rows = "".join(f"{i},{os.urandom(8).hex()}\n" for i in range(50_000))
    whole = gzip.compress(("id,hex\n" + rows).encode())
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    _refused(workspace, alice, tmp_path / "cut.csv.gz", InvalidData, "not a valid gzip file")


def test_a_truncated_parquet_file(workspace: Workspace, alice: Actor, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(10_000), "b": [f"v{i}" for i in range(10_000)]})
    frame.to_parquet(tmp_path / "ok.parquet")
    data = (tmp_path / "ok.parquet").read_bytes()
    for cut in (4, len(data) // 2, len(data) - 3):
        (tmp_path / "cut.parquet").write_bytes(data[:cut])
        _refused(workspace, alice, tmp_path / "cut.parquet", InvalidData, "cut.parquet is")


def test_text_in_the_wrong_encoding(
    workspace: Workspace, alice: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "name,city\nJosé,Zürich\n"
    (tmp_path / "latin.csv").write_bytes(text.encode("latin-1"))
    message = _refused(workspace, alice, tmp_path / "latin.csv", InvalidData, "is not UTF-8 text")
    assert "byte 0xe9" in message and "iconv -f latin1" in message
    (tmp_path / "utf16.csv").write_bytes(text.encode("utf-16"))
    _refused(workspace, alice, tmp_path / "utf16.csv", InvalidData, "utf16.csv is UTF-16 text")
    (tmp_path / "utf16.jsonl").write_bytes('{"a": "é"}\n'.encode("utf-16"))
    _refused(workspace, alice, tmp_path / "utf16.jsonl", InvalidData, "is UTF-16 text")
    # Past the first 64 KiB that sniffing reads, Arrow finds it: in the first block (where
    # it would make the column binary) or a later one, and the message is the same.
    late = "name,city\n" + "Ann,Oslo\n" * 20_000 + "José,Zürich\n"
    (tmp_path / "late.csv").write_bytes(late.encode("latin-1"))
    message = _refused(workspace, alice, tmp_path / "late.csv", InvalidData, "not UTF-8 text")
    assert message.startswith("late.csv is not UTF-8 text (column 'name')")
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 * 1024)
    _refused(workspace, alice, tmp_path / "late.csv", InvalidData, "late.csv is not UTF-8 text")


def test_a_multibyte_character_cut_by_the_sniffed_head_is_fine(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    text = "name\n" + "é" * 40_000 + "\n"  # 80,000 bytes: the 64 KiB head ends inside an é
    (tmp_path / "wide.csv").write_text(text, encoding="utf-8")
    assert workspace.datasets.register(alice, tmp_path / "wide.csv", "finance/wide").rows == 1
