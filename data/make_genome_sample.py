"""Make the small genome samples under data/samples/ from pyrodigal's bundled chromosome.

Writes (about 70 KB in all, deterministic):
- pyrodigal_50kb.fa: the first 50 kbp of Corynebacterium diphtheriae NCTC11397 (NZ_LN831026.1),
  80 bases per line.
- pyrodigal_50kb_genes.bed: 100-bp windows labelled "coding" (inside a gene pyrodigal predicts, on the
  gene's strand) or "intergenic" (between genes), for classification examples.
- genomic_benchmark_tiny/{train,test}/{coding,intergenic}/<n>.txt: the same windows in the
  GenomicsBenchmarks folder layout; every fourth window of each class is test, the rest train.

Needs the datasets extra: pip install 'memcast[datasets]'. Run from the repository root:
    python data/make_genome_sample.py
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from pipelines.genomes.fasta import Genome
from pipelines.genomes.named import pyrodigal_genome_path
from pipelines.genomes.tokens import decode, reverse_complement

WINDOW = 100
PER_CLASS = 48
TEST_EVERY = 4


def windows(length: int, genes: list[tuple[int, int, str]]) -> dict[str, list[tuple[int, int, str]]]:
    """Non-overlapping WINDOW-bp windows inside genes (their strand) and inside gaps between genes."""
    coding = [(s, s + WINDOW, strand) for b, e, strand in genes for s in range(b, e - WINDOW + 1, WINDOW)]
    gaps, prev = [], 0
    for b, e, _ in genes:
        if b > prev:
            gaps.append((prev, b))
        prev = max(prev, e)
    gaps.append((prev, length))
    intergenic = [(s, s + WINDOW, ".") for b, e in gaps for s in range(b, e - WINDOW + 1, WINDOW)]
    out = {}
    for label, items in (("coding", coding), ("intergenic", intergenic)):
        step = max(1, len(items) // PER_CLASS)  # spread the kept windows along the sequence
        out[label] = items[::step][:PER_CLASS]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "samples")
    parser.add_argument("--length", type=int, default=50_000)
    args = parser.parse_args()

    import pyrodigal

    cache = Path(tempfile.mkdtemp(prefix="memcast-sample-"))  # keep index files out of data/samples
    genome = Genome(pyrodigal_genome_path(cache), cache_dir=cache)
    name = genome.names[0]
    seq = genome.fetch(name, 0, args.length)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    lines = [f">{name} {genome.records[0].description} (first {args.length} bp)"]
    lines += [seq[i : i + 80] for i in range(0, len(seq), 80)]
    (out / "pyrodigal_50kb.fa").write_text("\n".join(lines) + "\n")

    finder = pyrodigal.GeneFinder(meta=True)
    genes = sorted(
        (g.begin - 1, g.end, "+" if g.strand == 1 else "-") for g in finder.find_genes(seq.encode())
    )
    labelled = windows(len(seq), genes)

    bed = [
        f"{name}\t{s}\t{e}\t{label}\t0\t{strand}"
        for label, items in labelled.items()
        for s, e, strand in items
    ]
    bed.sort(key=lambda row: int(row.split("\t")[1]))
    (out / "pyrodigal_50kb_genes.bed").write_text("\n".join(bed) + "\n")

    bench = out / "genomic_benchmark_tiny"
    shutil.rmtree(bench, ignore_errors=True)
    sample = Genome(out / "pyrodigal_50kb.fa", cache_dir=cache)
    for label, items in labelled.items():
        for i, (s, e, strand) in enumerate(items):
            split = "test" if i % TEST_EVERY == TEST_EVERY - 1 else "train"
            folder = bench / split / label
            folder.mkdir(parents=True, exist_ok=True)
            tokens = sample.tokens(name, s, e)
            if strand == "-":
                tokens = reverse_complement(tokens.ids, tokens.mask)
            (folder / f"{s}.txt").write_text(decode(tokens.ids, tokens.mask) + "\n")
    shutil.rmtree(cache)
    made = [out / "pyrodigal_50kb.fa", out / "pyrodigal_50kb_genes.bed", *bench.rglob("*.txt")]
    total = sum(p.stat().st_size for p in made)
    print(f"wrote {out} ({total / 1000:.1f} kB): {len(genes)} genes, {len(bed)} labelled windows")


if __name__ == "__main__":
    main()
