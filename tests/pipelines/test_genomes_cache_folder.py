"""Where a gzip FASTA's decompressed copy goes: --cache-dir or $MEMCAST_CACHE when given, else beside
the FASTA, else (that folder not writable) the user cache folder; writing it is announced once."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from app.cli import app
from pipelines.genomes.cache import BESIDE_FOLDER, ENV_CACHE, ENV_CACHE_DIR
from pipelines.genomes.fasta import Genome

from .genomes_helpers import fasta_text, write_gzip

RECORDS = [("chr1", "ACGT" * 100), ("chr2", "GGCCAATT" * 10)]


def open_with_the_cli(path, *args: str, env: dict[str, str] | None = None):
    """`memcast forecast --genome` opens (and, gzip, decompresses) the FASTA to check the region before
    it looks for the model: here a missing one, so the command stops there, exit 2."""
    command = ["forecast", "--model", "gone.ckpt", "--genome", str(path), "--region", "chr1:1-10", *args]
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code == 2 and "gone.ckpt: no such checkpoint file" in result.stderr, result.output
    return result


def unwritable_folder(tmp_path):
    """A folder whose `.memcast-cache` cannot be created: read-only for a normal user; as root, who
    may write anywhere, a file already holds that name."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    path = write_gzip(folder / "g.fa.gz", fasta_text(RECORDS))
    if os.geteuid() == 0:
        (folder / BESIDE_FOLDER).write_text("not a folder")
    else:
        folder.chmod(0o555)
    return folder, path


def test_an_unwritable_folder_falls_back_to_the_user_cache_and_says_so(tmp_path, monkeypatch):
    folder, path = unwritable_folder(tmp_path)
    user = tmp_path / "user-cache"
    try:
        result = open_with_the_cli(path, env={ENV_CACHE_DIR: str(user), ENV_CACHE: ""})
        notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
        assert (
            notes[0] == f"note: {folder} is not writable: derived files of g.fa.gz go to {user / 'genomes'}"
        )
        assert notes[1].startswith(f"note: decompressing {path} to {user / 'genomes'}")
        assert "once; later runs reuse it" in notes[1] and len(notes) == 2
        assert len(list((user / "genomes").glob("*-g.fa.gz.fa"))) == 1
        monkeypatch.setenv(ENV_CACHE_DIR, str(user))
        assert Genome(path).path.parent == user / "genomes"  # reused, not written again
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_cache_folder_can_be_named(tmp_path, how):
    path = write_gzip(tmp_path / "g.fa.gz", fasta_text(RECORDS))
    chosen = tmp_path / f"chosen-{how}"
    args, env = (
        (["--cache-dir", str(chosen)], {ENV_CACHE: ""}) if how == "option" else ([], {ENV_CACHE: str(chosen)})
    )
    first, second = open_with_the_cli(path, *args, env=env), open_with_the_cli(path, *args, env=env)
    assert f"note: decompressing {path} to {chosen / 'genomes'}" in first.stderr
    assert "decompressing" not in second.stderr  # the copy is current: nothing written, nothing said
    assert not (tmp_path / BESIDE_FOLDER).exists()
