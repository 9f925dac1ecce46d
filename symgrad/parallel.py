"""Work spread over a pool of processes, for `symgrad batch` and `symgrad grade` (`--jobs N`).

Both commands answer many independent items (batch lines, a class's submissions) whose results
must come out in input order, exactly as one process would write them.  `Ordered` runs chunks of
items (many items a task, so that pickling is a small part of the work) in a
`concurrent.futures.ProcessPoolExecutor`, at most a window of chunks at a time, and hands their
results back in order.  A worker process sets up its state once (`setup(*args)`: the batch's file
policy and limits, the class's key) and keeps it for every chunk it answers.

Workers are started by "spawn": a fresh interpreter each, not a fork of this process.  While the
pool runs this process has threads (the pool's own, and a test runner's), and a worker forks in
turn to give the symbolic check its time budget (`checks.run_budgeted`), which is safe only in a
process with one thread, as a spawned worker is; nor does a worker inherit this process's buffered
standard input and output (a fork would, and flush a copy of unwritten output as it ends).  Nor a
fork server: its workers are not this process's children, and outlive it when it is killed.
A worker imports only what its work needs, as the one process would.  Workers ignore Ctrl-C
(this process stops them), end when this process ends (on Linux, however it ends), and a worker
that dies is a SymgradError, never a hang.

Nothing here imports more than the standard library until a pool starts.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TextIO, TypeVar

from .errors import SymgradError

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

S = TypeVar("S")  # a worker's state
T = TypeVar("T")  # an item of work
R = TypeVar("R")  # its result

WINDOW = 4  # chunks in flight per worker: enough that none waits for work, few enough to stream
STOP_GRACE = 2.0  # seconds a stopped worker has to end before it is killed


def cores() -> int:
    """The number of CPU cores this process may run on (its affinity mask where the system has
    one, else os.cpu_count()): the default of --jobs.  At least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def chunked(items: Sequence[T], jobs: int, *, least: int = 1, most: int = 64) -> list[Sequence[T]]:
    """`items` cut into consecutive chunks for `jobs` workers: about WINDOW per worker (so that the
    work is shared out evenly as it is done), of at least `least` and at most `most` items each
    (the last may be shorter): a list of slices, in order."""
    size = max(1, least, min(most, -(-len(items) // (WINDOW * jobs))))
    return [items[k:k + size] for k in range(0, len(items), size)]


# ---- errors across processes -------------------------------------------------------------------


def _rebuild_error(cls: type[SymgradError], state: dict[str, Any]) -> SymgradError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


def _reduce_error(err: SymgradError) -> tuple[Any, ...]:
    return _rebuild_error, (type(err), dict(err.__dict__))


def picklable(cls: type[SymgradError]) -> None:
    """Let errors of class `cls` cross between processes whole (kind, message, source, span, hint):
    SymgradError's keyword-only arguments keep the default pickling of exceptions from rebuilding it."""
    copyreg.pickle(cls, _reduce_error)


picklable(SymgradError)


class _Failed:
    """An exception raised by an item in a worker, with the traceback's text (for SYMGRAD_DEBUG),
    made so that it can be sent back: a SymgradError of any class whole; another exception that
    cannot make the trip (a bug's, whatever its arguments), as a RuntimeError saying what it was."""

    def __init__(self, exc: BaseException) -> None:
        import pickle
        import traceback

        self.trace = "".join(traceback.format_exception(exc))
        if isinstance(exc, SymgradError):
            picklable(type(exc))
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        self.exc = exc


class RemoteTraceback(Exception):
    """The cause of an exception re-raised from a worker: the traceback where it was raised."""


def apply(fn: Callable[[S, T], R], state: S, items: Iterable[T]) -> tuple[list[R], _Failed | None]:
    """`fn(state, item)` for each item in turn: the results, and what the first item to raise
    raised (None if none did; the items after it are not run, as in one process)."""
    out: list[R] = []
    try:
        for item in items:
            out.append(fn(state, item))
    except Exception as exc:
        return out, _Failed(exc)
    return out, None


# ---- the worker side ---------------------------------------------------------------------------

_state: Any = None  # the worker's state, from setup(*args)


def _start(parent: int, setup: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """A worker process starts: Ctrl-C is its parent's to handle; told to stop (SIGTERM), it first
    stops the symbolic check's child it may be waiting for; and it is told to stop when its parent
    (`parent`, a pid) ends, however it ends.  Then its state is setup(*args)."""
    global _state
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    _follow(parent)
    _state = setup(*args)


def _follow(parent: int) -> None:
    """Where the system can (Linux's PR_SET_PDEATHSIG), have SIGTERM sent to this process when
    the process that started it ends, even killed by SIGKILL: a worker waiting for work would
    otherwise wait for ever."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the request was made
        _stop_worker(signal.SIGTERM, None)


def _stop_worker(signum: int, frame: Any) -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
    os._exit(128 + signum)


def _chunk(fn: Callable[[Any, T], R], items: Sequence[T]) -> tuple[list[R], _Failed | None]:
    return apply(fn, _state, items)


# ---- the pool ----------------------------------------------------------------------------------


def executor(jobs: int, setup: Callable[..., Any], args: tuple[Any, ...]) -> ProcessPoolExecutor:
    """The process pool: `jobs` workers, started by "spawn" (see the module's docstring), each
    running setup(*args) once as it starts."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_start, initargs=(os.getpid(), setup, args))


class Ordered(Generic[T, R]):
    """Chunks of items answered in a process pool, their results handed to `emit` in the order the
    chunks were put, each as soon as it and every chunk before it are done.

    `fn(state, item)` answers one item in a worker whose state is `setup(*args)`.  At most `window`
    chunks (WINDOW per worker by default) and, beyond the first, `budget` units of weight (the
    characters of batch lines) are in flight: `put` waits for the oldest while either is full.  The
    pool starts with the first chunk put.  Used as a context manager: leaving it normally waits
    for every chunk; by an exception (an interrupt, a reader gone away) it stops the workers.

    Raises SymgradError ("jobs") where a worker process died; an exception an item raised in a
    worker is raised here, once the results of the items before it are emitted.
    """

    def __init__(self, jobs: int, fn: Callable[[Any, T], R], setup: Callable[..., Any], args: tuple[Any, ...],
                 emit: Callable[[R], None], *, window: int | None = None, budget: int | None = None) -> None:
        self.jobs = jobs
        self.fn = fn
        self.setup, self.args = setup, args
        self.emit = emit
        self.window = window or WINDOW * jobs
        self.budget = budget
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[tuple[Future[tuple[list[R], _Failed | None]], int]] = deque()
        self.weight = 0
        self._wake: tuple[int, int] | None = None  # a pipe the pool's thread writes to as a chunk is done
        self._wake_lock = threading.Lock()

    def __enter__(self) -> Ordered[T, R]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                self.drain()
                if self.pool is not None:
                    self.pool.shutdown(wait=True)
        except BaseException:
            self.stop()
            raise
        finally:
            if kind is not None:
                self.stop()
            self._close_wake()

    def _close_wake(self) -> None:
        with self._wake_lock:
            if self._wake is not None:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None

    @property
    def started(self) -> bool:
        """Whether the pool has started (a chunk was put)."""
        return self.pool is not None

    def put(self, items: Sequence[T], weight: int = 0) -> None:
        """Send a chunk of items (`weight`: its share of the budget) to the pool, starting the pool
        with the first; the results of the oldest chunks are emitted first while the window (or the
        weight budget) is full, and then any that are already done.  Raises SymgradError ("jobs")
        where a worker died or no worker process can be started, and what an item raised."""
        while self.pending and (len(self.pending) >= self.window or
                                (self.budget is not None and self.weight + weight > self.budget)):
            self._emit_head()
        from concurrent.futures.process import BrokenProcessPool

        try:
            if self.pool is None:
                self.pool = executor(self.jobs, self.setup, self.args)
            future = self.pool.submit(_chunk, self.fn, items)  # starts a worker where none is free
        except BrokenProcessPool:  # a worker died while it waited for work
            raise self._died() from None
        except (OSError, NotImplementedError) as exc:  # no process, pipe or semaphore to be had
            raise SymgradError("jobs", f"cannot start the worker processes: {getattr(exc, 'strerror', None) or exc}",
                               hint="run the command with --jobs 1 to do all the work in this process") from None
        if self._wake is not None:
            future.add_done_callback(self._poke)
        self.pending.append((future, weight))
        self.weight += weight
        self.emit_done()

    def emit_done(self) -> None:
        """Emit the results of the oldest chunks that are done, without waiting."""
        while self.pending and self.pending[0][0].done():
            self._emit_head()

    def drain(self) -> None:
        """Wait for every chunk in flight, emitting their results in order (raising as `put`)."""
        while self.pending:
            self._emit_head()

    def wait_for_input(self, fd: int) -> None:
        """Until the file descriptor `fd` has input to read (or its end), emit results as their
        chunks are done: a reader that waits for an answer before it writes the next request gets
        it.  Returns at once when nothing is in flight."""
        import select

        wake = self._wake
        if wake is None:
            wake = os.pipe()
            for end in wake:
                os.set_blocking(end, False)
            with self._wake_lock:
                self._wake = wake
            for future, _ in self.pending:
                future.add_done_callback(self._poke)
        while True:
            self.emit_done()
            if not self.pending:
                return
            ready, _, _ = select.select([fd, wake[0]], [], [])
            if wake[0] in ready:
                try:
                    while os.read(wake[0], 4096):
                        pass
                except BlockingIOError:
                    pass
            if fd in ready:
                self.emit_done()
                return

    def stop(self) -> None:
        """Stop at once: cancel the chunks not started and end the workers, SIGTERM first (a worker
        then also ends the symbolic check's child it may be waiting for), SIGKILL for any still
        there after a grace of STOP_GRACE seconds; then the pool's own thread is joined."""
        if self.pool is None:
            return
        import time
        from multiprocessing.connection import wait

        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        for process in processes:
            with contextlib.suppress(OSError, ValueError):
                process.terminate()
        left = {process.sentinel: process for process in processes}
        deadline = time.monotonic() + STOP_GRACE
        while left and (grace := deadline - time.monotonic()) > 0:
            for ready in wait(list(left), grace):
                left.pop(ready, None)
        for process in left.values():
            with contextlib.suppress(OSError, ValueError):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        self.weight = 0

    def _poke(self, future: Future[Any]) -> None:  # runs in the pool's thread as a chunk is done
        with self._wake_lock:  # never a write to a descriptor closed (and perhaps reused) meanwhile
            if self._wake is not None:
                with contextlib.suppress(OSError):  # full: awake already (and a callback must not raise)
                    os.write(self._wake[1], b"\0")

    def _emit_head(self) -> None:
        from concurrent.futures.process import BrokenProcessPool

        future, weight = self.pending[0]
        try:
            results, failed = future.result()
        except BrokenProcessPool:
            raise self._died() from None
        self.pending.popleft()
        self.weight -= weight
        for r in results:
            self.emit(r)
        if failed is not None:
            failed.exc.__cause__ = RemoteTraceback(failed.trace)
            raise failed.exc

    def _died(self) -> SymgradError:
        return SymgradError("jobs", "a worker process stopped before it had answered (killed, or out of memory?)",
                            hint="run the command again, or with --jobs 1 to do all the work in this process")


# ---- standard input that says when it would wait ---------------------------------------------


class _Watched(io.RawIOBase):
    """A file descriptor read as it is, except that before a read that would wait for the writer,
    `idle(fd)` is called (it sends the requests read so far, and writes answers while it waits)."""

    def __init__(self, fd: int, idle: Callable[[int], None]) -> None:
        super().__init__()
        self.fd = fd
        self.idle = idle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import select

        if not select.select([self.fd], [], [], 0)[0]:
            self.idle(self.fd)
        data = os.read(self.fd, len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:  # the descriptor is standard input's: it stays open
        super().close()


def watched_stdin(stream: TextIO, idle: Callable[[int], None]) -> TextIO:
    """Standard input (`stream`, sys.stdin) read as it would be, as text with the same encoding,
    errors and newlines, but calling `idle(fd)` whenever the next read would wait for the writer.
    Where that cannot be known or never happens (no file descriptor, a regular file, not POSIX),
    `stream` itself."""
    import stat

    if os.name != "posix" or not isinstance(stream, io.TextIOWrapper):
        return stream
    try:
        fd = stream.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return stream
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return stream
    # POSIX's sys.stdin translates no newlines (newline="\n"); its encoding and errors are kept
    return io.TextIOWrapper(io.BufferedReader(_Watched(fd, idle)), encoding=stream.encoding,
                            errors=stream.errors, newline="\n")
