"""What is in a FASTA file: records, lengths, GC, N and soft-masked fractions (for `memcast data inspect`).

Reads the file once (validating it) and writes nothing: no index, no cache.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.errors import InputError
from pipelines.genomes.fasta import check_bgzf_eof, detect_compression
from pipelines.genomes.scan import scan_fasta
from pipelines.genomes.summary import BASE_CATEGORIES, RecordSummary


def _stats(rec: RecordSummary) -> dict:
    return {
        "length": rec.length,
        "gc_fraction": rec.gc_fraction,
        "n_fraction": rec.n_fraction,
        "soft_masked_fraction": rec.masked_fraction,
        "base_counts": dict(zip(BASE_CATEGORIES, rec.base_counts, strict=True)),
    }


def inspect_fasta(path: str | Path) -> dict:
    """Summary of a FASTA file (plain, gzip or bgzip) as plain data (JSON-ready).

    Keys: path, compression, record_count, total_bases, gc_fraction ((G+C)/(A+C+G+T)), n_fraction
    (bases that tokenise to N: N and other IUPAC codes), soft_masked_fraction (lower case), base_counts,
    and records: one dict per record with name, description, line_width and the same statistics.
    Raises InputError when the file is not valid FASTA.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such FASTA file", path=path)
    compression = detect_compression(path)
    if compression == "bgzip":
        check_bgzf_eof(path)
    summary = scan_fasta(path, compressed=compression != "plain")
    totals = _stats(summary.totals())
    return {
        "path": str(path),
        "compression": compression,
        "record_count": len(summary.records),
        "total_bases": totals.pop("length"),
        **totals,
        "records": [
            {"name": r.name, "description": r.description, "line_width": r.line_width, **_stats(r)}
            for r in summary.records
        ],
    }


def format_inspection(info: dict, *, max_records: int = 20) -> list[str]:
    """Readable lines for `inspect_fasta`'s result: a header, the totals, then a table of records."""
    lines = [
        f"{info['path']} ({info['compression']}): {info['record_count']:,} "
        f"record{'s' if info['record_count'] != 1 else ''}, {info['total_bases']:,} bases",
        f"GC {info['gc_fraction']:.2%}   N {info['n_fraction']:.2%}   "
        f"soft-masked {info['soft_masked_fraction']:.2%}",
    ]
    shown = info["records"][:max_records]
    name_width = max([len("record")] + [len(r["name"]) for r in shown])
    length_width = max([len("length")] + [len(f"{r['length']:,}") for r in shown])
    lines.append(
        f"{'record':<{name_width}}  {'length':>{length_width}}  "
        f"{'GC':>7}  {'N':>7}  {'masked':>7}  description"
    )
    for r in shown:
        lines.append(
            f"{r['name']:<{name_width}}  {r['length']:>{length_width},}  {r['gc_fraction']:>7.2%}  "
            f"{r['n_fraction']:>7.2%}  {r['soft_masked_fraction']:>7.2%}  {r['description']}".rstrip()
        )
    if len(info["records"]) > max_records:
        more = len(info["records"]) - max_records
        lines.append(f"... and {more:,} more record{'s' if more != 1 else ''}")
    return lines
