"""Where derived genome files go (decompressed FASTA, pyfaidx indexes, summaries, token caches).

The folder, in order: the caller's `cache_dir` (the CLI's --cache-dir), else ``$MEMCAST_CACHE``, else
a folder ``.memcast-cache/`` beside the FASTA (so the files travel with it and are easy to delete),
else, when that folder cannot be written, the user-wide cache folder (``$MEMCAST_CACHE_DIR``, else
``$XDG_CACHE_HOME/memcast``, else ``~/.cache/memcast``). Anywhere but beside the FASTA, the entries'
names include a hash of the FASTA's absolute path, so two files with the same name in different
folders never share an entry. Falling back to the user-wide folder is logged (logger
``pipelines.genomes``), as is writing a decompressed copy, so neither happens silently.

Every derived file is written to a temporary name and renamed into place, so a crash never leaves a
half-written file that a later run would trust; each one records the size and modification time of
its source, and is rebuilt when they change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines import notes

BESIDE_FOLDER = ".memcast-cache"
ENV_CACHE = "MEMCAST_CACHE"  # the cache folder for everything, when set (the CLI's --cache-dir sets it)
ENV_CACHE_DIR = "MEMCAST_CACHE_DIR"  # the user-wide fallback folder


def user_cache_dir() -> Path:
    """The user-wide cache folder (not created here)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "memcast"
    return Path.home() / ".cache" / "memcast"


def writable_folder(folder: Path) -> bool:
    """Create `folder` if needed and check that a file can be written in it.

    Tried rather than asked with os.access, which says yes to root even on read-only mounts.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class CacheEntry:
    """A folder and a file-name prefix for everything derived from one source file."""

    folder: Path
    key: str

    def file(self, suffix: str) -> Path:
        """The derived file `<folder>/<key><suffix>`."""
        return self.folder / f"{self.key}{suffix}"


def cache_entry(source: Path, cache_dir: str | Path | None = None) -> CacheEntry:
    """Where files derived from `source` live: `cache_dir` if given, else $MEMCAST_CACHE, else beside
    the file, else the user cache folder (announced once per process and folder)."""
    source = Path(source)
    hashed = f"{hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]}-{source.name}"
    cache_dir = cache_dir if cache_dir is not None else os.environ.get(ENV_CACHE) or None
    if cache_dir is not None:
        folder = Path(cache_dir) / "genomes"
        if not writable_folder(folder):
            raise PermissionError(f"cache folder {folder} cannot be written")
        return CacheEntry(folder, hashed)
    beside = source.parent / BESIDE_FOLDER
    if writable_folder(beside):
        return CacheEntry(beside, source.name)
    folder = user_cache_dir() / "genomes"
    if not writable_folder(folder):
        raise PermissionError(
            f"neither {beside} nor {folder} can be written; pass --cache-dir (cache_dir=) or set {ENV_CACHE}"
        )
    announce(f"{source.parent} is not writable: derived files of {source.name} go to {folder}")
    return CacheEntry(folder, hashed)


def announce(message: str) -> None:
    """Log `message` on the `pipelines.genomes` logger at INFO, once per process."""
    notes.announce("pipelines.genomes", message)


def fingerprint(path: Path) -> dict[str, int]:
    """Size and modification time of `path`: a derived file is current while these match."""
    st = Path(path).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; derived files are as readable as their source
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(target: Path, data: dict) -> None:
    """Write `data` as JSON to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def read_json(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is missing or unreadable (then it is rebuilt)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
