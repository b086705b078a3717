"""Runtimes timed in a worker process, so that one that fails costs its own result only.

A runtime is foreign code, often native: it can raise, and it can die (a segfault while
compiling a graph, an ``abort()``), which would end the whole job and lose every other
runtime's timings. The bench and post-training stages therefore hand each runtime's work
to a :class:`Worker`: one worker process per job, running calls one after another (its
start, ~1-2 s of importing torch, is paid once), and replaced by a fresh one only after a
crash. A call that raises comes back as :class:`RuntimeFailure`, a process that dies as
:class:`WorkerCrashed`, both with a one-line reason for the result file.

A new interpreter, not a fork: a fork inherits CUDA and thread-pool state (and caches)
that a fresh process would not have. Log records of ``archopt`` loggers in the worker
come back to the parent's logger, so a job's log shows the worker's progress, and a crash
says what the worker was doing (its last log line).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

REASON_CHARS = 300  # a reason is one line of a JSON file and of a report cell


class RuntimeFailure(RuntimeError):
    """A runtime's call raised (in the worker): the reason is the exception's first line."""


class WorkerCrashed(RuntimeFailure):
    """The worker process died during a call (a signal or ``os._exit``)."""

    def __init__(self, exitcode: int | None, doing: str | None) -> None:
        self.exitcode = exitcode
        self.doing = doing
        super().__init__(f"{exit_description(exitcode)}" + (f" while: {doing}" if doing else ""))


def exit_description(exitcode: int | None) -> str:
    """``crashed (SIGSEGV)`` for a negative exit code (the signal), else the code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"crashed ({name})"
    return f"worker process exited with code {exitcode}"


def describe(error: BaseException) -> str:
    """``Type: first line of the message``, short enough for a result file."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:REASON_CHARS]


class _PipeHandler(logging.Handler):
    """In the worker: sends each log line to the parent."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(logging.INFO)
        self._connection = connection

    def emit(self, record: logging.LogRecord) -> None:
        _send(self._connection, ("log", record.levelno, self.format(record)))


def _send(connection: Connection, message: Any) -> None:
    # Plain pickle, not multiprocessing's: its tensor reductions hand shared memory to
    # a sibling of the same multiprocessing family, which this process is not.
    connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _receive(connection: Connection) -> Any:
    return pickle.loads(connection.recv_bytes())


def serve(read_fd: int, write_fd: int) -> None:
    """The worker's main: set up, then answer ``(function, args)`` calls until EOF."""
    faulthandler.enable()  # a native crash prints the Python stack to the job's stderr
    requests, answers = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    logger = logging.getLogger("archopt")
    logger.setLevel(logging.INFO)
    logger.addHandler(_PipeHandler(answers))
    logger.propagate = False
    setup_error = None
    try:
        path, setup, setup_args = _receive(requests)
        sys.path[:] = path  # the parent's: its plugins and their classes import here too
        if setup is not None:
            setup(*setup_args)
    except Exception as error:  # noqa: BLE001 - answered to every call below
        setup_error = describe(error)
    while True:
        try:
            function, args = _receive(requests)
        except EOFError:  # the parent closed the pipe (or died): nothing more to do
            return
        if setup_error is not None:
            _send(answers, ("error", f"worker setup failed: {setup_error}"))
            continue
        try:
            answer = ("result", function(*args))
            answers.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as error:  # noqa: BLE001 - the reason is the result
            _send(answers, ("error", describe(error)))


class Worker:
    """A fresh Python process that runs calls one after another; a new one after a crash.

    ``setup(*setup_args)`` runs first in every new process (the job's torch threads,
    plugins); its failure is every call's failure. Use as a context manager, or
    :meth:`close` it. The process is started with ``python -c``, not by
    ``multiprocessing``'s spawn, which would run the parent's main script again in it
    (a Snakemake job's script is not guarded by ``if __name__ == "__main__"``).
    """

    def __init__(self, setup: Callable[..., None] | None = None, setup_args: tuple = (),
                 logger: logging.Logger | None = None) -> None:
        self._setup = setup
        self._setup_args = setup_args
        self.logger = logger or logging.getLogger(__name__)
        self._process: subprocess.Popen | None = None
        self._requests: Connection | None = None
        self._answers: Connection | None = None
        self.started = 0  # processes started so far (a crash costs one more)

    def start(self) -> Worker:
        """Start the process now (a call otherwise starts it): its Python and torch then
        load while the caller prepares the first call."""
        if self._process is not None:
            return self
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        code = f"from archopt.bench.worker import serve; serve({request_read}, {answer_write})"
        try:
            # The parent's import path, so that archopt and the plugins import alike.
            env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._process = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=(request_read, answer_write), env=env)
        finally:
            os.close(request_read)
            os.close(answer_write)
        self._requests = Connection(request_write, readable=False)
        self._answers = Connection(answer_read, writable=False)
        self.started += 1
        _send(self._requests, (list(sys.path), self._setup, self._setup_args))
        return self

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in the worker; raises :class:`RuntimeFailure` or
        :class:`WorkerCrashed` (after which the next call starts a fresh process).

        ``function`` and its arguments must pickle (module-level functions and classes)."""
        message = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        self.start()
        doing = None
        try:
            self._requests.send_bytes(message)
            while True:
                kind, *content = _receive(self._answers)
                if kind == "log":
                    level, doing = content
                    self.logger.log(level, "%s", doing)
                elif kind == "error":
                    raise RuntimeFailure(content[0])
                else:
                    return content[0]
        except (EOFError, OSError):  # the pipe broke: the process is gone
            raise self._crashed(doing) from None

    def _crashed(self, doing: str | None) -> WorkerCrashed:
        process = self._process
        self._forget()
        crash = WorkerCrashed(process.wait(), doing)
        self.logger.warning("worker process %s; the next call starts a fresh one", crash)
        return crash

    def _forget(self) -> None:
        for connection in (self._requests, self._answers):
            if connection is not None:
                connection.close()
        self._requests = self._answers = self._process = None

    def close(self) -> None:
        """End the process (it exits when its pipe closes) and wait for it."""
        process = self._process
        self._forget()
        if process is not None:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # stuck in native code: nothing left to give
                process.kill()
                process.wait()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
