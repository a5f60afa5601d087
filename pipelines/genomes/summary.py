"""What a FASTA scan finds: per record its name, length, line width and base counts
(`RecordSummary`), and the whole file's (`FastaSummary`); both round-trip through JSON."""

from __future__ import annotations

from dataclasses import dataclass

BASE_CATEGORIES = ("A", "C", "G", "T", "N", "other")
"""Columns of `RecordSummary.base_counts`: the four bases, N, and the other IUPAC codes."""


@dataclass(frozen=True)
class RecordSummary:
    """One FASTA record as the scan saw it."""

    name: str
    description: str
    length: int
    header_line: int
    line_width: int
    base_counts: tuple[int, int, int, int, int, int]
    """Bases counted per category of `BASE_CATEGORIES` (A, C, G, T, N, other IUPAC), either case."""
    masked: int
    """Lower-case (soft-masked) bases."""

    @property
    def gc_fraction(self) -> float:
        """(G + C) / (A + C + G + T): ambiguous bases are left out; 0.0 when there are none."""
        a, c, g, t = self.base_counts[:4]
        acgt = a + c + g + t
        return (g + c) / acgt if acgt else 0.0

    @property
    def n_fraction(self) -> float:
        """Fraction of bases that tokenise to N (N itself and the other IUPAC codes)."""
        return (self.base_counts[4] + self.base_counts[5]) / self.length if self.length else 0.0

    @property
    def masked_fraction(self) -> float:
        """Fraction of bases in lower case (soft-masked)."""
        return self.masked / self.length if self.length else 0.0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "length": self.length,
            "header_line": self.header_line,
            "line_width": self.line_width,
            "base_counts": list(self.base_counts),
            "masked": self.masked,
        }

    @classmethod
    def from_dict(cls, data: dict) -> RecordSummary:
        return cls(
            name=data["name"],
            description=data["description"],
            length=int(data["length"]),
            header_line=int(data["header_line"]),
            line_width=int(data["line_width"]),
            base_counts=tuple(int(x) for x in data["base_counts"]),  # type: ignore[arg-type]
            masked=int(data["masked"]),
        )


@dataclass(frozen=True)
class FastaSummary:
    """Every record of a valid FASTA file, in file order, with the size of its text."""

    records: tuple[RecordSummary, ...]
    text_size: int
    """Bytes of (decompressed) FASTA text."""

    @property
    def total_bases(self) -> int:
        return sum(r.length for r in self.records)

    def totals(self) -> RecordSummary:
        """All records added up, as one pseudo-record named '*'."""
        counts = tuple(sum(r.base_counts[i] for r in self.records) for i in range(6))
        return RecordSummary(
            "*",
            "",
            self.total_bases,
            0,
            0,
            counts,
            sum(r.masked for r in self.records),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict:
        return {"text_size": self.text_size, "records": [r.to_dict() for r in self.records]}

    @classmethod
    def from_dict(cls, data: dict) -> FastaSummary:
        return cls(tuple(RecordSummary.from_dict(r) for r in data["records"]), int(data["text_size"]))
