"""What symgrad reads, and from where: the one place that opens files.

symgrad reads a program (EXPR, `--file`, or standard input), values named `@file` (JSON or
.npy), homework TOML files, `--points` streams and `batch` lines.  Text on the command line is
the user's own; text inside a homework file or a batch line may come from anyone, so the files
*it* names are limited by a `Files` policy:

- the command line's `--at` and `--upstream` may name any file;
- a homework file may name files inside its own folder only (relative paths, no `..` out of it);
- a batch line may name files only under the directory given with `--data-dir`, and none without.

A refused path is refused by its text (and, inside the allowed folder, by where its symbolic links
lead), so that the message never tells whether a file outside exists.  Only regular files are
read (not /dev/zero, a FIFO or a directory), and nothing read whole is larger than the input
limit (`--input-limit`, 100 MiB by default: a program of 10^6 statements is about 20 MiB); a line
of a stream is held to the same limit.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .errors import SymgradError

DEFAULT_INPUT_LIMIT = 100 * 2**20  # bytes
_SIZE = re.compile(r"\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*\Z")
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def parse_size(text: str) -> int:
    """A size as `--input-limit` takes it: bytes, or with k, M or G (powers of 1024): 100M, 2G.
    Raises ValueError for anything else."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size: write a number of bytes, or one with k, M or G (100M)")
    unit = (m.group(2) or "").lower()[:1]
    return int(m.group(1)) * _UNITS[unit]


def size_text(n: int) -> str:
    """100 MiB, 512 KiB, 17 bytes."""
    for unit, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n:,} bytes"


def too_large(what: str, limit: int) -> SymgradError:
    return SymgradError("limit", f"{what} is larger than the input limit of {size_text(limit)}",
                        hint="raise it with --input-limit (for example --input-limit 1G)")


@dataclass(frozen=True)
class Files:
    """Which files `@file` values may name, and the input limit (bytes) on everything read.

    `allowed` False: none (`refusal` says why, and how to allow them).  `root` None: any path.
    `root` a folder: relative paths that stay inside it."""

    allowed: bool = False
    root: Path | None = None
    refusal: str = "values here may not name files"
    hint: str | None = None
    limit: int = DEFAULT_INPUT_LIMIT
    nodes: int | None = None  # --node-limit: the most nodes a program read may build (None: graph.node_limit)

    @classmethod
    def anywhere(cls, limit: int = DEFAULT_INPUT_LIMIT, nodes: int | None = None) -> Files:
        """The command line's own policy: any regular file."""
        return cls(True, None, limit=limit, nodes=nodes)

    @classmethod
    def inside(cls, root: str | Path, refusal: str, limit: int = DEFAULT_INPUT_LIMIT,
               nodes: int | None = None) -> Files:
        """Relative paths inside `root` only (a homework file's folder, batch's --data-dir)."""
        return cls(True, Path(root), refusal, limit=limit, nodes=nodes)

    def path(self, text: str, what: str) -> Path:
        """The file to open for `@text`, the value of `what`.  Raises SymgradError ("files")
        where this policy refuses it, saying nothing of whether such a file exists."""
        if not self.allowed:
            raise SymgradError("files", f"{what} names the file {text!r}, but {self.refusal}", hint=self.hint)
        if self.root is None:
            return Path(text)
        norm = os.path.normpath(text) if text else ""
        inside = bool(norm) and not os.path.isabs(norm) and not text.startswith("~") and norm != ".." \
            and not norm.startswith(".." + os.sep)
        if inside:
            root = self.root.resolve()
            full = (root / norm).resolve()
            inside = full.is_relative_to(root)
        if not inside:
            raise SymgradError("files", f"{what} names the file {text!r}, but {self.refusal}",
                               hint="name a file by a relative path inside that folder")
        return full


NO_FILES = Files()  # values that may name no file


def read_bytes(path: str | Path, limit: int, purpose: str = "") -> bytes:
    """A regular file's contents, at most `limit` bytes.  Raises SymgradError: "io" where it
    cannot be read or is not a regular file (`purpose`, " for W", said after the path), "limit"
    where it is larger than the limit."""
    fd = _open_regular(path, purpose)
    with os.fdopen(fd, "rb") as f:
        if os.fstat(fd).st_size > limit:
            raise too_large(str(path), limit)
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise SymgradError("io", f"cannot read {path}{purpose}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise too_large(str(path), limit)
    return data


def _open_regular(path: str | Path, purpose: str = "") -> int:
    """A file descriptor for reading a regular file; SymgradError ("io") for anything else.
    `purpose` is said after the path: " for W"."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SymgradError("io", f"cannot read {path}{purpose}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise SymgradError("io", f"cannot read {path}{purpose}: it is {what}",
                           hint="symgrad reads regular files, and standard input where you give -")
    os.set_blocking(fd, True)
    return fd


def regular_file(path: str | Path) -> TextIO:
    """A regular file opened for reading as UTF-8 text, lines as written (a stream: --points)."""
    return open(_open_regular(path), encoding="utf-8", newline="")


def read_text(path: str | Path, limit: int) -> str:
    """A regular file as UTF-8 text (a byte-order mark is dropped); errors as read_bytes, and "io"
    for text that is not UTF-8."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SymgradError("io", f"cannot read {path}: it is not UTF-8 text (byte {exc.start})") from None


def bounded_lines(stream: TextIO, limit: int) -> Iterator[str | None]:
    """The lines of a text stream, each with its newline, none held longer than `limit`
    characters: a longer line is read past in pieces and stands as None, so that the lines after
    it keep their numbers."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith("\n"):
            yield line
            continue
        while True:
            rest = stream.readline(limit + 1)
            if not rest or rest.endswith("\n"):
                break
        yield None


def open_stdin() -> TextIO:
    """Standard input; SymgradError ("io") where it is closed."""
    if sys.stdin is None or sys.stdin.closed:
        raise SymgradError("io", "standard input is closed")
    return sys.stdin


def read_stdin(limit: int) -> str:
    """All of standard input, at most `limit` bytes' worth of characters.  Raises SymgradError
    where standard input is closed or larger than the limit."""
    stream = open_stdin()
    try:
        text = stream.read(limit + 1)
    except (OSError, ValueError) as exc:
        raise SymgradError("io", f"cannot read standard input: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SymgradError("io", f"standard input is not UTF-8 text (byte {exc.start})") from None
    if len(text) > limit:
        raise too_large("standard input", limit)
    return text
