"""The dataset format registry: lookups, errors, and an add-on format read end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from lepton_lab.catalog import formats
from lepton_lab.catalog.formats import (
    DatasetFormat,
    format_for_media_type,
    format_for_path,
    format_names,
    get_format,
    register_format,
    resolve_format,
    split_compression,
    upload_filename,
    upload_media_types,
)
from lepton_lab.catalog.source import FileInput, Source
from lepton_lab.errors import InvalidData, InvalidInput, TooLarge
from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace


def test_the_built_in_formats_in_order() -> None:
    assert format_names() == ["csv", "parquet", "jsonl"]
    csv = get_format("csv")
    assert (csv.label, csv.suffixes, csv.media_type) == (
        "CSV",
        (".csv", ".tsv", ".txt"),
        "text/csv",
    )
    assert get_format("parquet").compressions == ()
    assert get_format("jsonl").compressions == (".gz", ".bz2", ".zst", ".xz")


def test_an_unknown_format_suggests_the_near_one() -> None:
    with pytest.raises(InvalidInput) as caught:
        get_format("cvs")
    assert (
        str(caught.value)
        == "unknown format 'cvs'; did you mean csv?; use one of: csv, parquet, jsonl"
    )


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("data.csv", "csv"),
        ("DATA.TSV.GZ", "csv"),
        ("s3://bucket/x/rows.ndjson.zst", "jsonl"),
        ("events.json.bz2", "jsonl"),
        ("table.pq", "parquet"),
        ("table.parquet.gz", "parquet"),  # the suffix says Parquet; reading refuses the .gz
        ("book.xlsx", None),
        ("archive.gz", None),
    ],
)
def test_the_format_a_file_name_implies(location: str, expected: str | None) -> None:
    found = format_for_path(location)
    assert (found.name if found else None) == expected


def test_split_compression_keeps_the_case_of_the_rest() -> None:
    assert split_compression("Data.CSV.GZ") == ("Data.CSV", ".gz")
    assert split_compression("data.csv") == ("data.csv", None)


def test_resolve_format_says_how_to_name_a_file() -> None:
    assert resolve_format("book.xlsx", "csv").name == "csv"
    with pytest.raises(InvalidInput) as caught:
        resolve_format("book.xlsx")
    assert str(caught.value) == (
        "cannot tell the format of 'book.xlsx' from its suffix; name it .csv, .parquet or "
        ".jsonl, or pass format='csv' | 'parquet' | 'jsonl'"
    )


def test_the_media_types_the_server_accepts() -> None:
    assert upload_media_types() == {
        "text/csv": "csv",
        "text/tab-separated-values": "csv",
        "application/vnd.apache.parquet": "parquet",
        "application/x-parquet": "parquet",
        "application/x-ndjson": "jsonl",
        "application/jsonl": "jsonl",
    }
    found = format_for_media_type("Text/CSV; charset=utf-8")
    assert found is not None and found.name == "csv"
    assert format_for_media_type("application/octet-stream") is None
    assert get_format("parquet").media_type == "application/vnd.apache.parquet"


def test_upload_file_names() -> None:
    assert [upload_filename(n) for n in format_names()] == [
        "upload.csv",
        "upload.parquet",
        "upload.jsonl",
    ]


def test_registering_checks_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_FORMATS", dict(formats._FORMATS))
    reader = "tests.nowhere:READER"
    with pytest.raises(InvalidInput, match="format name 'bad name'"):
        register_format(DatasetFormat("bad name", "Bad", (".bad",), (), reader))
    with pytest.raises(InvalidInput, match="lowercase suffix with its dot"):
        register_format(DatasetFormat("bad", "Bad", ("BAD",), (), reader))
    with pytest.raises(InvalidInput, match=r"suffixes \['\.csv'\] belong to csv"):
        register_format(DatasetFormat("other", "Other", (".csv",), (), reader))
    with pytest.raises(InvalidInput, match="compressions"):
        register_format(DatasetFormat("bad", "Bad", (".bad",), (), reader, (".rar",)))


def test_looking_formats_up_imports_no_reader() -> None:
    code = (
        "import sys\n"
        "from lepton_lab.catalog import formats\n"
        "formats.format_for_path('a.csv.gz'); formats.upload_media_types()\n"
        "print('lepton_lab.catalog.readers' in sys.modules, 'pyarrow.csv' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


class _WordsReader:
    """An add-on format: one word per line, read through the guarded stream."""

    def recognises(self, head: bytes) -> bool:
        return head.startswith(b"WORDS\n")

    def sniff(self, head: bytes, file: FileInput) -> None:
        if not self.recognises(head):
            raise InvalidData(f"{file.name} does not start with WORDS")

    def open(self, file: FileInput) -> Source:
        with file.open_stream() as stream:
            words = stream.read().decode().split("\n")[1:]
        table = pa.table({"word": [w for w in words if w]})
        return Source(file.name, table.schema, iter(table.to_batches()))


def test_an_add_on_format_is_read_like_a_built_in(
    workspace: Workspace, alice: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "_FORMATS", dict(formats._FORMATS))
    words = DatasetFormat(
        "words", "word list", (".words",), ("text/x-words",), _WordsReader(), (".gz",)
    )
    register_format(words)
    assert format_names()[-1] == "words" and upload_filename("words") == "upload.words"
    (tmp_path / "fruit.words").write_text("WORDS\napple\npear\n")
    version = workspace.datasets.register(alice, tmp_path / "fruit.words", "botany/fruit")
    assert version.rows == 2
    assert workspace.datasets.load(alice, "botany/fruit")["word"].tolist() == ["apple", "pear"]
    # The limit is below every reader, an add-on's too.
    with pytest.raises(TooLarge):
        workspace.datasets.register(alice, tmp_path / "fruit.words", "botany/x", max_bytes=10)
    # Its magic number points a misnamed file to it.
    (tmp_path / "fruit.csv").write_text("WORDS\napple\n")
    with pytest.raises(InvalidData, match=r"fruit\.csv is a word list file, not csv"):
        workspace.datasets.register(alice, tmp_path / "fruit.csv", "botany/x")


def test_a_reader_named_by_a_string_is_imported_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(formats, "_FORMATS", dict(formats._FORMATS))
    monkeypatch.setattr(formats, "_LOADED", {})
    register_format(
        DatasetFormat("csv2", "CSV again", (".csv2",), (), "lepton_lab.catalog.readers:CSV")
    )
    from lepton_lab.catalog import readers

    assert get_format("csv2").load_reader() is readers.CSV


def test_a_compression_the_format_does_not_take(
    workspace: Workspace, alice: Actor, tmp_path: Path
) -> None:
    (tmp_path / "t.parquet.gz").write_bytes(b"PAR1 and more")
    with pytest.raises(InvalidData) as caught:
        workspace.datasets.register(alice, tmp_path / "t.parquet.gz", "botany/t")
    assert str(caught.value) == (
        "t.parquet.gz: Parquet files are read without .gz compression (Parquet is compressed "
        "inside); store it without .gz"
    )
