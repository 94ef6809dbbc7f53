"""Produce the next batches in a background thread while the runtime scores the current one.

On a small machine DataLoader worker processes cost more than they give (each is a fresh
interpreter, BENCHMARKS.md), so scoring decodes in its own process; a thread there needs no
start-up and shares memory. PIL's decoding and resizing, numpy's table lookups and the
runtimes' inference calls release the GIL, so the decoding of the next batch overlaps the
forward pass of this one instead of waiting for it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked producer looks whether the consumer has gone
_END = object()


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """Yield `items` in order, producing up to `depth` of them ahead in a daemon thread.

    ``depth`` 0 iterates in the caller's thread (no thread). An exception raised while
    producing an item is raised here, where that item would have been yielded, with its own
    traceback. When the consumer stops early (``break``, an error, ``close()``), the producer
    stops after the item it is working on and the thread is joined before this returns.
    """
    if depth <= 0:
        yield from items
        return
    buffer: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as err:  # noqa: BLE001 (handed to the consumer, raised there)
            put((_END, err))
            return
        put((_END, None))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = buffer.get()
            if item is _END:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join()
