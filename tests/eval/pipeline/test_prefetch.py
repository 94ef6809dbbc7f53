"""Tests for eval.pipeline.prefetch: order, bounded look-ahead, errors and early stops."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest

from eval.pipeline.prefetch import prefetch


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "prefetch"]


class Source:
    """Counts the items produced and records which thread produced them."""

    def __init__(self, n: int | None = None, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.produced = 0
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        for i in itertools.count() if self.n is None else range(self.n):
            if i == self.fail_at:
                raise ValueError(f"item {i} is unreadable")
            self.threads.add(threading.current_thread().name)
            self.produced += 1
            yield i


@pytest.mark.parametrize("depth", [0, 1, 2, 5])
def test_yields_every_item_in_order(depth):
    source = Source(n=23)
    assert list(prefetch(source, depth)) == list(range(23))
    assert source.threads == ({"MainThread"} if depth == 0 else {"prefetch"})
    assert not _prefetch_threads()


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_never_runs_more_than_depth_items_ahead(depth):
    source = Source(n=40)
    for consumed, item in enumerate(prefetch(source, depth), start=1):
        assert item == consumed - 1
        # the queue holds at most `depth`, the producer at most one more in its hand
        assert source.produced <= consumed + depth + 1


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_a_producer_error_is_raised_where_its_item_would_come(depth):
    source = Source(n=10, fail_at=4)
    got = []
    with pytest.raises(ValueError, match="item 4 is unreadable"):
        for item in prefetch(source, depth):
            got.append(item)
    assert got == [0, 1, 2, 3]
    assert not _prefetch_threads()


@pytest.mark.parametrize("depth", [1, 3])
def test_stopping_early_stops_the_thread(depth):
    source = Source()  # endless: only the stop ends the producer
    items = prefetch(source, depth)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert not _prefetch_threads()
    assert source.produced <= 3 + depth + 1
