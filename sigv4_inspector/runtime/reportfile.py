"""The JSONL report file: one line per flow, created mode 0600, flushed in batches.

A path that cannot work (a directory, a device, a FIFO, a file in a missing folder that
cannot be made) is refused when the option is set (:func:`check_path`), with a sentence.
A write that fails later (a full disk, a removed mount) never raises into mitmproxy: the
first failure is reported once, later lines are counted as lost, and :attr:`ReportFile.lost`
says how many at exit. Traffic is never affected.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
BUFFER_BYTES = 64 << 10  # written to the file when this much waits (or at each flush)


class ReportPathError(ValueError):
    """The report path cannot be used (the message says why)."""


def check_path(path: str) -> Path:
    """The report's path, expanded, if a file can be appended there; else ReportPathError."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        parent = p.parent
        if parent.exists() and not parent.is_dir():
            raise ReportPathError(f"{parent} is not a folder") from None
        return p
    except OSError as exc:
        raise ReportPathError(f"cannot use {p}: {exc.strerror or type(exc).__name__}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ReportPathError(f"{p} is a folder; give a file name, e.g. {p / 'sigv4.jsonl'}")
    if not stat.S_ISREG(st.st_mode):
        raise ReportPathError(f"{p} is not a regular file (a device, pipe or socket)")
    if not os.access(p, os.W_OK):
        raise ReportPathError(f"{p} is not writable")
    return p


def open_private(path: Path, *, append: bool = True) -> int:
    """Open a file for writing, creating it (and its folder) private to the user: 0600. A
    file that is overwritten (``append=False``: bundles, exports) is made 0600 too, even if
    it existed with a wider mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    if not append:
        # not ours to change (another user's file we may write): keep its mode
        with contextlib.suppress(OSError):
            os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write a whole file, created 0600 (bundles, exports)."""
    fd = open_private(path, append=False)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class ReportFile:
    """Appends lines to the report; never raises on a write."""

    def __init__(self, path: str) -> None:
        self.path = check_path(path)
        try:
            self._fd: int | None = open_private(self.path)
        except OSError as exc:
            raise ReportPathError(
                f"cannot open {self.path}: {exc.strerror or type(exc).__name__}"
            ) from None
        self._buf: list[str] = []
        self._buf_bytes = 0
        self.written = 0  # lines handed to the file
        self.lost = 0  # lines that never reached it
        self.error: str | None = None  # the first failure, to report once

    def write(self, line: str) -> bool:
        """Queue one line; False when it is lost (the first loss sets :attr:`error`)."""
        if self._fd is None:
            self.lost += 1
            return False
        self._buf.append(line if line.endswith("\n") else line + "\n")
        self._buf_bytes += len(line) + 1
        if self._buf_bytes >= BUFFER_BYTES:
            self.flush()
        return self._fd is not None

    def flush(self) -> None:
        """Write what waits. On a failure the file is given up: a full disk rarely recovers
        mid-run, and retrying would make every flow pay."""
        if not self._buf:
            return
        lines, self._buf, self._buf_bytes = self._buf, [], 0
        if self._fd is None:
            self.lost += len(lines)
            return
        data = memoryview("".join(lines).encode("utf-8", "backslashreplace"))
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            if self.error is None:
                self.error = (
                    f"cannot write the report {self.path}: {exc.strerror or type(exc).__name__}"
                )
            self.lost += len(lines)
            self._close_fd()
            return
        self.written += len(lines)

    def close(self) -> None:
        self.flush()
        self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
