"""Naming a record of a genome: its full name or an unambiguous accession, and samtools-style regions.

NCBI-style names carry their identifiers in `|`-separated fields (`gi|110640213|ref|NC_008253.1|`);
such a record is also found by any of its identifiers (`NC_008253.1`, and `NC_008253` without the
version) when no other record has that identifier and no record is named that. Everything here
works from the record names and lengths alone, so a command can check a name before it loads a
model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipelines.errors import InputError

# The database tags of NCBI's FASTA identifiers (the field before the identifier they qualify).
DATABASE_TAGS = frozenset(
    {
        "gi",
        "ref",
        "gb",
        "emb",
        "dbj",
        "pir",
        "prf",
        "sp",
        "tr",
        "pdb",
        "pat",
        "bbs",
        "gnl",
        "lcl",
        "tpg",
        "tpe",
        "tpd",
    }
)


def identifiers(name: str) -> list[str]:
    """The identifiers in an NCBI-style name: every `|` field but the database tags and the gi number,
    each also without its version suffix (`NC_008253.1` -> `NC_008253`)."""
    if "|" not in name:
        return []
    fields = [f for f in name.split("|") if f]
    found: list[str] = []
    for index, field in enumerate(fields):
        if field in DATABASE_TAGS or (field.isdigit() and index and fields[index - 1] == "gi"):
            continue
        found.append(field)
        stem, dot, version = field.rpartition(".")
        if dot and stem and version.isdigit():
            found.append(stem)
    return found


def aliases(names: Sequence[str]) -> dict[str, str]:
    """identifier -> record name, for every identifier that names exactly one record and is not
    itself a record's name."""
    owners: dict[str, set[str]] = {}
    for name in names:
        for alias in identifiers(name):
            owners.setdefault(alias, set()).add(name)
    real = set(names)
    return {alias: next(iter(o)) for alias, o in owners.items() if len(o) == 1 and alias not in real}


def shown_names(names: Sequence[str], limit: int = 5) -> str:
    """The first `limit` record names, for an error message."""
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def find_record(names: Sequence[str], name: str) -> str | None:
    """The record `name` names (itself, or the record of which it is an unambiguous identifier)."""
    if name in names:
        return name
    return aliases(names).get(name)


def resolve_record(names: Sequence[str], name: str, label: str, source: str | None = None) -> str:
    """`find_record`, or an InputError that starts with `label` (the option as given, e.g. "--record
    chrZ") and names the ambiguity, if any, and the names to use."""
    found = find_record(names, name)
    if found is not None:
        return found
    owners = [n for n in names if name in identifiers(n)]
    if len(owners) > 1:
        problem = f"{label}: {name!r} is an identifier of {len(owners)} records ({shown_names(owners)})"
        raise InputError(f"{problem}; give the full name", path=source)
    raise InputError(f"{label}: no record named {name!r} (records: {shown_names(names)})", path=source)


def parse_region(lengths: Mapping[str, int], region: str, source: str | None = None) -> tuple[str, int, int]:
    """ "record" or "record:start-end" (1-based, inclusive, as samtools; commas allowed) -> (record,
    start, end) 0-based half-open, `record` being the full name; an unknown record or a region
    outside it is an InputError. `lengths` maps record names, in file order, to lengths."""
    names = list(lengths)
    name, sep, span = region.rpartition(":")
    if not sep or (find_record(names, name) is None and find_record(names, region) is not None):
        name, span = region, ""
    name = resolve_record(names, name, f"--region {region}", source)
    length = lengths[name]
    if not span:
        return name, 0, length
    first, dash, last = span.replace(",", "").partition("-")
    try:
        start, end = int(first), int(last) if dash else int(first)
    except ValueError:
        raise InputError(
            f"--region {region}: expected record:start-end, e.g. {name}:1-1000", path=source
        ) from None
    if not 1 <= start <= end <= length:
        raise InputError(
            f"--region {region}: outside the record {name} (1-based, 1 to {length}, start <= end)",
            path=source,
        )
    return name, start - 1, end
