"""Data in: sensor streams (polars) and FASTA genomes (pyfaidx) -> token / patch sequences.

`pipelines` never imports `app`.
"""
