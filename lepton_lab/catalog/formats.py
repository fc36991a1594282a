"""Dataset formats by name: what a file can be registered from, and how each is read.

    register_format(DatasetFormat(
        "feather", "Feather", (".feather", ".arrow"), ("application/vnd.apache.arrow.file",),
        reader="my_package.feather:READER",
    ))

One entry per format holds everything that knows about it: its name, the file suffixes
and compression suffixes that imply it, the media types an upload may carry, and its
reader (:class:`FormatReader`: how to recognise the format's bytes, what to refuse, how
to open a file as a stream of Arrow batches, with the format's own error messages).  The
reader is named ``"module:attribute"`` and imported the first time a file of that format
is read, so looking formats up imports no parser; the built-in CSV, Parquet and JSON
lines readers (:mod:`lepton_lab.catalog.readers`) are registered the same way as add-ons.

Surfaces ask this module instead of keeping lists: the CLI's ``--format`` choices, the
REST API's media types and upload file names, the client's check of a file's suffix.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lepton_lab.errors import InvalidInput, unknown_name

if TYPE_CHECKING:
    from lepton_lab.catalog.source import FileInput, Source

__all__ = [
    "COMPRESSIONS",
    "DatasetFormat",
    "FormatReader",
    "describe_labels",
    "describe_suffixes",
    "format_for_media_type",
    "format_for_path",
    "format_names",
    "get_format",
    "register_format",
    "resolve_format",
    "split_compression",
    "upload_filename",
    "upload_media_types",
]

#: Compression suffixes a file may carry on top of its format's suffix (decompressed
#: while it is read); a format lists those it accepts.
COMPRESSIONS = (".gz", ".bz2", ".zst", ".xz")


class FormatReader(Protocol):
    """How one format's bytes are recognised, checked and read."""

    def recognises(self, head: bytes) -> bool:
        """True when ``head`` (a file's first bytes) is unmistakably this format (a magic
        number), so that a file named for another format can be pointed here."""

    def sniff(self, head: bytes, file: FileInput) -> None:
        """Raise :class:`~lepton_lab.errors.InvalidData` when ``head`` cannot be this
        format, saying what the file looks like instead and what to do."""

    def open(self, file: FileInput) -> Source:
        """The file as a :class:`~lepton_lab.catalog.source.Source` of Arrow batches, read
        in bounded memory; every way it can be wrong is an ``InvalidData`` naming it."""


@dataclass(frozen=True)
class DatasetFormat:
    """One format a dataset file can be registered from."""

    name: str
    """What ``format=`` names it by: ``csv``."""

    label: str
    """What messages call it: ``CSV``."""

    suffixes: tuple[str, ...]
    """File suffixes that imply it, lowercase; the first is the one uploads are named with."""

    media_types: tuple[str, ...]
    """Content-Types of an upload holding it; the first is the one it is sent with."""

    reader: str | FormatReader
    """Its reader, or ``"module:attribute"`` naming it (imported on first use)."""

    compressions: tuple[str, ...] = ()
    """Compression suffixes (of :data:`COMPRESSIONS`) a file of this format may carry."""

    uncompressed_reason: str = ""
    """Why a compressed file is refused, for the message (``Parquet is compressed inside``)."""

    @property
    def media_type(self) -> str:
        """The media type an upload of this format is sent with."""
        return self.media_types[0] if self.media_types else "application/octet-stream"

    def load_reader(self) -> FormatReader:
        """The reader, imported now if it was named by a string."""
        loaded = _LOADED.get(self.name)
        if loaded is not None:
            return loaded
        if isinstance(self.reader, str):
            module_name, _, attribute = self.reader.partition(":")
            loaded = getattr(importlib.import_module(module_name), attribute)
        else:
            loaded = self.reader
        _LOADED[self.name] = loaded  # imported once
        return loaded


_FORMATS: dict[str, DatasetFormat] = {}
_LOADED: dict[str, FormatReader] = {}


def register_format(fmt: DatasetFormat) -> None:
    """Make ``fmt`` registrable (replacing a format of the same name)."""
    if not fmt.name or not fmt.name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"format name {fmt.name!r}: use letters, digits, - and _")
    if not fmt.suffixes or any(not s.startswith(".") or s != s.lower() for s in fmt.suffixes):
        raise InvalidInput(
            f"format {fmt.name}: give at least one lowercase suffix with its dot, e.g. '.csv'"
        )
    unknown = set(fmt.compressions) - set(COMPRESSIONS)
    if unknown:
        raise InvalidInput(
            f"format {fmt.name}: compressions {sorted(unknown)} are not among {COMPRESSIONS}"
        )
    for other in _FORMATS.values():
        taken = set(other.suffixes) & set(fmt.suffixes)
        if other.name != fmt.name and taken:
            raise InvalidInput(
                f"format {fmt.name}: suffixes {sorted(taken)} belong to {other.name}"
            )
    _FORMATS[fmt.name] = fmt
    _LOADED.pop(fmt.name, None)


def format_names() -> list[str]:
    """Every registered format name, built-ins first, in the order registered."""
    return list(_FORMATS)


def get_format(name: str) -> DatasetFormat:
    """The format registered as ``name``, or an ``InvalidInput`` listing the known ones."""
    fmt = _FORMATS.get(name) if isinstance(name, str) else None
    if fmt is None:
        raise unknown_name("format", name, format_names(), listed="use one of")
    return fmt


def split_compression(location: str) -> tuple[str, str | None]:
    """``location`` without its compression suffix, and that suffix (lowercase) or None."""
    lowered = location.lower()
    for suffix in COMPRESSIONS:
        if lowered.endswith(suffix):
            return location[: -len(suffix)], suffix
    return location, None


def format_for_path(location: str) -> DatasetFormat | None:
    """The format a file name's suffix implies (``data.csv.gz`` -> csv), or None."""
    stem = split_compression(location)[0].lower()
    for fmt in _FORMATS.values():
        if stem.endswith(fmt.suffixes):
            return fmt
    return None


def resolve_format(location: str, format: str | None = None) -> DatasetFormat:
    """The format ``format`` names, else the one ``location``'s suffix implies; an
    ``InvalidInput`` saying how to name it when neither does."""
    if format is not None:
        return get_format(format)
    fmt = format_for_path(location)
    if fmt is None:
        choices = " | ".join(repr(n) for n in format_names())
        raise InvalidInput(
            f"cannot tell the format of {location!r} from its suffix; name it "
            f"{describe_suffixes()}, or pass format={choices}"
        )
    return fmt


def format_for_media_type(media_type: str) -> DatasetFormat | None:
    """The format an upload's Content-Type names (parameters and case ignored), or None
    (``application/octet-stream`` names none: the file name or ``format`` must)."""
    wanted = media_type.split(";", 1)[0].strip().lower()
    for fmt in _FORMATS.values():
        if wanted in fmt.media_types:
            return fmt
    return None


def upload_media_types() -> dict[str, str]:
    """Every media type an upload may carry -> the format it names, each format's own
    first (the one it is sent with)."""
    return {media: fmt.name for fmt in _FORMATS.values() for media in fmt.media_types}


def upload_filename(name: str) -> str:
    """The file name an upload of format ``name`` is stored under: ``upload.csv``."""
    return f"upload{get_format(name).suffixes[0]}"


def describe_suffixes() -> str:
    """Each format's main suffix, for messages: ``.csv, .parquet or .jsonl``."""
    return _either(fmt.suffixes[0] for fmt in _FORMATS.values())


def describe_labels() -> str:
    """Each format's label, for messages: ``CSV, Parquet or JSON lines``."""
    return _either(fmt.label for fmt in _FORMATS.values())


def _either(items: Iterable[str]) -> str:
    listed = list(items)
    return ", ".join(listed[:-1]) + f" or {listed[-1]}" if len(listed) > 1 else "".join(listed)


register_format(
    DatasetFormat(
        "csv",
        "CSV",
        (".csv", ".tsv", ".txt"),
        ("text/csv", "text/tab-separated-values"),
        "lepton_lab.catalog.readers:CSV",
        COMPRESSIONS,
    )
)
register_format(
    DatasetFormat(
        "parquet",
        "Parquet",
        (".parquet", ".pq"),
        ("application/vnd.apache.parquet", "application/x-parquet"),
        "lepton_lab.catalog.readers:PARQUET",
        uncompressed_reason="Parquet is compressed inside",
    )
)
register_format(
    DatasetFormat(
        "jsonl",
        "JSON lines",
        (".jsonl", ".ndjson", ".json"),
        ("application/x-ndjson", "application/jsonl"),
        "lepton_lab.catalog.readers:JSONL",
        COMPRESSIONS,
    )
)
