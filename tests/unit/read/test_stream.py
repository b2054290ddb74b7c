"""PageStream: the pages fetched ahead are bounded in bytes as well as in number."""

from __future__ import annotations

import time

from crmsync.read.stream import QUEUE_BYTES, PageStream

MB = 2**20


def _pages(sizes: list[int], made: list[int]):
    for i, size in enumerate(sizes):
        made.append(i)
        yield 1, bytes([i % 256]) * size


def _settle(stream: PageStream, made: list[int]) -> None:
    before = -1
    while before != len(made):  # the fetch thread has stopped for room
        before = len(made)
        time.sleep(0.3)


def test_the_fetch_thread_waits_once_the_queued_bodies_reach_the_byte_bound() -> None:
    made: list[int] = []
    stream = PageStream(_pages([MB] * 20, made), depth=100, max_bytes=3 * MB)
    try:
        _settle(stream, made)
        assert stream.queued_bytes == 3 * MB
        assert len(made) == 4  # three queued, the fourth waiting for room
        pages = list(stream.take(least=100, most=100))
        assert [p[0] for p in pages] == list(range(20)) and all(len(p) == MB for p in pages)
        assert stream.done and stream.queued_bytes == 0
    finally:
        stream.close()


def test_a_page_larger_than_the_bound_still_passes_alone() -> None:
    made: list[int] = []
    stream = PageStream(_pages([5 * MB, MB, MB], made), depth=100, max_bytes=2 * MB)
    try:
        _settle(stream, made)
        assert stream.queued_bytes == 5 * MB and len(made) == 2
        assert [len(p) for p in stream.take(least=100, most=100)] == [5 * MB, MB, MB]
    finally:
        stream.close()


def test_the_default_bound_holds_fewer_bytes_than_a_round_of_amocrm_pages() -> None:
    # a 20,000-record round is 81 pages of 250 records, ~350 KB each: the bound is what keeps the queue below that
    assert QUEUE_BYTES < 81 * 350_000


def test_a_parsed_page_counts_as_what_its_records_hold_not_as_nothing() -> None:
    from crmsync.read.storable import PARSED_WEIGHT, parsed_page

    body = b'{"_embedded":{"contacts":[' + b",".join(b'{"id":%d,"name":"x"}' % i for i in range(2000)) + b"]}}"
    made: list[int] = []

    def pages():
        for i in range(20):
            made.append(i)
            yield 2000, parsed_page([{"id": i}], body)

    stream = PageStream(pages(), depth=100, max_bytes=3 * PARSED_WEIGHT * len(body))
    try:
        _settle(stream, made)
        assert stream.queued_bytes == 3 * PARSED_WEIGHT * len(body) and len(made) == 4
        assert [p[0]["id"] for p in stream.take(least=10**6, most=10**6)] == list(range(20))
        assert stream.queued_bytes == 0
    finally:
        stream.close()
