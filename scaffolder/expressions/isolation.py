"""Run a function in a forked child with a memory ceiling and a wall-clock deadline.

The sandbox's own checks refuse the bombs it can foresee; this is the guarantee for the rest:
the child may grow by `memory_bytes` at most (RLIMIT_AS above its size at fork time, so an
allocation past it fails with MemoryError) and is killed when `timeout` passes. The result
comes back over a pipe as JSON, so only plain values cross the boundary.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any

# Exit codes of the child when it cannot even report its failure.
_EXIT_OUT_OF_MEMORY = 3
_EXIT_CRASHED = 4


class IsolationError(Exception):
    """The child exceeded a limit or died; the message says which, in a user's words."""

    def __init__(self, message: str, at: str | None):
        super().__init__(message)
        #: The last place the child reported working on before it was stopped.
        self.at = at


class ChildFailure(Exception):
    """Raised inside the child to send a message back as the failure of the call."""


Progress = Callable[[str], None]


def run_isolated(function: Callable[[Progress], Any], *, timeout: float, memory_bytes: int) -> Any:
    """Call `function(progress)` in a child process and return its (JSON) result.

    `progress(where)` tells the parent what the child is working on, so a limit names it.
    Raises IsolationError when the child runs out of memory or time, and ChildFailure with
    the child's message when the function raised one.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        os.close(read_fd)
        _child(function, write_fd, timeout, memory_bytes)
    os.close(write_fd)
    chunks: list[bytes] = []
    try:
        _read_until(read_fd, time.monotonic() + timeout, chunks)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        raise IsolationError(f"took longer than {timeout:g} s and was stopped", _last_progress(chunks)) from None
    finally:
        os.close(read_fd)
        status = _reap(pid)
    return _outcome(chunks, status, memory_bytes)


def _frames(chunks: list[bytes]) -> list[dict[str, Any]]:
    lines = b"".join(chunks).split(b"\n")
    return [json.loads(line) for line in lines if line.strip()] if lines else []


def _last_progress(chunks: list[bytes]) -> str | None:
    complete = b"".join(chunks).rsplit(b"\n", 1)[0]
    places = [frame["at"] for frame in _frames([complete]) if "at" in frame]
    return places[-1] if places else None


def _outcome(chunks: list[bytes], status: int, memory_bytes: int) -> Any:
    frames = _frames(chunks)
    at = _last_progress(chunks)
    final = frames[-1] if frames and "at" not in frames[-1] else None
    if final is not None:
        if "result" in final:
            return final["result"]
        if final.get("memory"):
            raise IsolationError(_memory_message(memory_bytes), at)
        raise ChildFailure(final["error"])
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EXIT_OUT_OF_MEMORY:
        raise IsolationError(_memory_message(memory_bytes), at)
    if os.WIFSIGNALED(status):
        raise IsolationError(f"was stopped by signal {os.WTERMSIG(status)} (out of memory or time)", at)
    raise IsolationError("stopped without an answer", at)


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # SIGCHLD ignored by the host process: the kernel reaped it
        return 0


def _memory_message(memory_bytes: int) -> str:
    return f"needed more than {memory_bytes // 2**20} MB of memory and was stopped"


def _read_until(fd: int, deadline: float, chunks: list[bytes]) -> None:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        chunks.append(chunk)


def _write_frame(fd: int, frame: dict[str, Any]) -> None:  # pragma: no cover - child only
    view = memoryview(json.dumps(frame).encode() + b"\n")
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _child(function: Callable[[Progress], Any], write_fd: int, timeout: float, memory_bytes: int) -> None:  # pragma: no cover
    code = 0
    try:
        _limit_resources(timeout, memory_bytes)
        try:
            frame: dict[str, Any] = {"result": function(lambda where: _write_frame(write_fd, {"at": where}))}
        except ChildFailure as error:
            frame = {"error": str(error)}
        except MemoryError:
            frame = {"memory": True}
        _write_frame(write_fd, frame)
    except MemoryError:
        code = _EXIT_OUT_OF_MEMORY
    except BaseException:  # noqa: BLE001 - the child must never return into the caller's code
        code = _EXIT_CRASHED
    finally:
        os._exit(code)
def _limit_resources(timeout: float, memory_bytes: int) -> None:
    """Cap the child's address space at its size now plus `memory_bytes`, and its CPU time."""
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * page
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + memory_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # A second guard besides the parent's kill: CPU seconds, rounded up.
    cpu_soft, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = int(time.process_time())
    cpu_limit = used + int(timeout) + 2
    if cpu_hard == resource.RLIM_INFINITY or cpu_limit <= cpu_hard:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_hard))
