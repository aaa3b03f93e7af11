"""Files that are never half-written: atomic writes and a keyed store of finished results.

Every result file of the toolkit is written through :func:`write_atomic`: the content goes to a
temporary file in the target's folder, which is then renamed over the target, so an interrupted
run leaves either the old file or the new one, never a truncated one. :class:`ResultStore` keeps
finished units of a long job (one trained run, one checkpoint) as ``.npz`` files named by a hash
of the settings that produced them, so that a job started again with the same settings loads
what is done and computes only the rest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_atomic", "settings_key", "ResultStore"]


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` through a temporary file and a rename.

    Args:
        path: the target file; its folder is created if missing.
        data: the whole content.

    Returns:
        The path written.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_atomic(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hello")
        >>> p.read_text()
        'hello'
    """
    if not isinstance(data, str | bytes):
        raise TypeError(f"data must be str or bytes, got {type(data).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def settings_key(settings: Any) -> str:
    """A short stable hash of JSON-ready ``settings`` (key order does not matter).

    Example:
        >>> settings_key({"a": 1, "b": [2, 3]}) == settings_key({"b": [2, 3], "a": 1})
        True
    """
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class ResultStore:
    """Finished results on disk, one ``.npz`` file per settings key, written atomically.

    Each entry holds named arrays and a JSON header; the header keeps the settings, and
    :meth:`load` returns ``None`` (so the caller recomputes) when the file is missing, cannot be
    read, or was written for other settings.

    Args:
        directory: the folder of the entries (created on the first save).

    Example:
        >>> import tempfile
        >>> store = ResultStore(tempfile.mkdtemp())
        >>> _ = store.save({"lr": 0.1}, {"x": np.arange(3)}, {"note": "done"})
        >>> arrays, header = store.load({"lr": 0.1})
        >>> arrays["x"].tolist(), header["note"]
        ([0, 1, 2], 'done')
        >>> store.load({"lr": 0.2}) is None
        True
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, settings: Any) -> Path:
        """The file of ``settings``."""
        return self.directory / f"{settings_key(settings)}.npz"

    def save(self, settings: Any, arrays: dict[str, Any], header: dict[str, Any]) -> Path:
        """Store ``arrays`` (name to array) and a JSON-ready ``header`` under ``settings``."""
        if "__header__" in arrays:
            raise ValueError("arrays must not use the reserved name '__header__'")
        meta = json.dumps({"settings": settings, "header": header}, sort_keys=True)
        buf = io.BytesIO()
        np.savez(buf, __header__=np.array(meta), **{k: np.asarray(v) for k, v in arrays.items()})
        return write_atomic(self.path(settings), buf.getvalue())

    def load(self, settings: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The stored ``(arrays, header)`` of ``settings``, or ``None`` if there is none."""
        path = self.path(settings)
        if not path.is_file():
            return None
        try:
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
                meta = json.loads(str(data["__header__"]))
                arrays = {k: data[k] for k in data.files if k != "__header__"}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        same = json.dumps(meta.get("settings"), sort_keys=True) == json.dumps(settings,
                                                                              sort_keys=True)
        return (arrays, meta.get("header", {})) if same else None
