"""What every benchmark script prints: a machine header and aligned side-by-side tables.

Scripts under ``bench/`` run as ``python bench/NAME.py``, so Python puts ``bench/`` on
``sys.path`` and they import this module as ``common``.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

__all__ = [
    "fmt_bytes",
    "fmt_ratio",
    "machine_header",
    "percentile",
    "print_table",
    "spread",
]


# -- tables ---------------------------------------------------------------------------------


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain-text table: text columns left-aligned, columns of figures right-aligned.

    A column counts as figures when every cell in it starts like a number (``12``, ``-``,
    ``~3``, ``<1``, ``0.4x``); the header row is left out of that decision.
    """
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    figures = [bool(rows) and all(_is_figure(row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if figure else cell.ljust(width)
            for cell, width, figure in zip(cells, widths, figures, strict=True)
        ]
        return " | ".join(parts).rstrip()

    print(f"\n{title}\n")
    print(line(headers))
    print("-+-".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def _is_figure(text: str) -> bool:
    """Whether a cell reads as a number (right-aligned), not as a name."""
    return bool(text) and (text[0].isdigit() or text[0] in "-~<±+") and "/" not in text


# -- formatting -----------------------------------------------------------------------------


def fmt_bytes(size: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def fmt_ratio(value: float | None, reference: float | None) -> str:
    """``value / reference`` as ``"0.25x"`` (``-`` when either is missing or zero)."""
    if value is None or not reference:
        return "-"
    return f"{value / reference:,.2f}x"


# -- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by the nearest-rank method: always a measured value."""
    if not values:
        raise ValueError("no values to take a percentile of")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(len(ordered) * pct / 100)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> str:
    """How far repeated measurements stray: ``"±4%"``, half the range over the median."""
    if len(values) < 2:
        return "-"
    middle = statistics.median(values)
    if not middle:
        return "-"
    return f"±{(max(values) - min(values)) / 2 / middle:.0%}"


# -- machine --------------------------------------------------------------------------------


def machine_header(script: str, mode: str, packages: Iterable[str]) -> str:
    """One header line: the script, the machine, its load, and the versions that matter."""
    versions = ", ".join(f"{name} {_version(name)}" for name in packages)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"
    return (
        f"{script} ({mode}) on {_cpu_model()}, {os.cpu_count()} cores, "
        f"{fmt_bytes(_memory_bytes())} RAM, {platform.system()} {platform.release()}, "
        f"load average {load}; Python {platform.python_version()}, {versions}"
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
