from crmsync.fakes.ratelimit import LeakyBucket, SlidingWindow


def test_sliding_window_allows_limit_per_window():
    w = SlidingWindow(limit=7, window=1.0)
    assert [w.allow("t", now=10.0 + i * 0.01) for i in range(9)] == [True] * 7 + [False] * 2
    assert w.allow("t", now=11.0) is True  # the first hit left the window
    assert w.allow("other", now=10.05) is True  # per key


def test_sliding_window_steady_seven_per_second_never_rejected():
    w = SlidingWindow(limit=7, window=1.0)
    assert all(w.allow("t", now=i / 7 + 0.001) for i in range(70))


def test_leaky_bucket_burst_then_drain():
    b = LeakyBucket(rate=2.0, capacity=50)
    results = [b.allow("ip", now=0.0) for _ in range(60)]
    assert results.count(True) == 50 and results[50:] == [False] * 10
    assert b.allow("ip", now=0.4) is False  # drained 0.8 of a request: still full
    assert b.allow("ip", now=0.5) is True   # drained 1
    assert [b.allow("ip", now=10.0) for _ in range(20)] == [True] * 19 + [False]
