"""Writing result files safely: whole or not at all, into a folder checked beforehand.

Every file toysim writes under an output folder (a sweep's ``.npz`` and its
sidecar, its chunks, a figure's PNG / PDF / JSON) goes through
:func:`atomic_path`: it is written to a temporary name in the target folder,
flushed to disk, then renamed into place (a rename within one folder is
atomic on POSIX file systems), so a crash or a Ctrl-C mid-write never leaves a
truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputError(ValueError):
    """An output folder that cannot be used (not a folder, not creatable, not writable)."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends.

    The temporary name keeps ``path``'s suffix (so writers that choose a format by extension,
    ``savefig`` or ``np.savez``, behave the same), starts with a dot and is created by the
    writer (so the file gets the usual permissions). On success the file is
    flushed to disk (``fsync``) and renamed onto ``path``; on any exception (``KeyboardInterrupt``
    included) it is removed and ``path`` is left as it was.

    Args:
      path: the final file; its folder must exist.

    Yields:
      The temporary path to write.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`atomic_path`; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def check_output_dir(path: str | Path) -> Path:
    """Make sure ``path`` is a folder this process can write into, creating it if needed.

    Args:
      path: the output folder.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      OutputError: ``path`` is a file, cannot be created, or is not writable (one line).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out must be a folder; {str(path)!r} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise OutputError(f"--out {str(path)!r} is not a writable folder: {err.strerror}") from None
    return path
