from crmsync.fakes.ratelimit import LeakyBucket as ServerBucket
from crmsync.fakes.ratelimit import SlidingWindow
from crmsync.http.pacing import EvenSpacing, LeakyBucket, RollingWindow, pacer_for


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_even_spacing_never_trips_amocrms_window_and_stays_near_the_ceiling():
    t = FakeTime()
    pacer = EvenSpacing(7, clock=t.clock, sleep=t.sleep)
    server = SlidingWindow(7, 1.0)
    start = t.now
    for _ in range(700):
        pacer.acquire()
        assert server.allow("token", now=t.now)
    rate = 700 / (t.now - start)
    assert 0.95 * 7 < rate <= 7


def test_rolling_window_sends_a_short_run_at_once_and_never_trips_amocrms_window():
    t = FakeTime()
    pacer = RollingWindow(7, clock=t.clock, sleep=t.sleep)
    server = SlidingWindow(7, 1.0)
    start = t.now
    for _ in range(7):  # a no-op incremental run's handful of requests: no waiting at all
        pacer.acquire()
        assert server.allow("token", now=t.now)
    assert t.now == start
    for _ in range(693):
        pacer.acquire()
        assert server.allow("token", now=t.now)
    rate = 700 / (t.now - start)
    assert 0.95 * 7 < rate <= 7.1  # the first second's burst, then just under 7/s


def test_rolling_window_counts_a_slow_request_from_its_answer():
    t = FakeTime()
    pacer = RollingWindow(2, margin=0.0, clock=t.clock, sleep=t.sleep)
    pacer.acquire()
    t.now += 0.5  # the first answer took half a second: the server may have counted it that late
    pacer.done()
    pacer.acquire()
    pacer.done()
    before = t.now
    pacer.acquire()
    assert t.now - before == 1.0  # a full window after the first answer, not after its send


def test_leaky_bucket_bursts_then_drains_without_ever_being_refused():
    t = FakeTime()
    pacer = LeakyBucket(2, 50, clock=t.clock, sleep=t.sleep)
    server = ServerBucket(2, 50)
    start = t.now
    for _ in range(300):
        pacer.acquire()
        assert server.allow("ip", now=t.now)
    assert t.now - start < (300 - 49) / (2 * 0.95)  # the burst was used, then ~2/s
    assert 300 / (t.now - start) > 0.9 * 2 * 300 / (300 - 49)


def test_penalise_trusts_the_server_when_it_says_full():
    t = FakeTime()
    pacer = LeakyBucket(2, 50, clock=t.clock, sleep=t.sleep)
    pacer.acquire()
    pacer.penalise()
    before = t.now
    pacer.acquire()
    assert t.now - before > 0.4


def test_pacer_for_reads_the_spec():
    assert isinstance(pacer_for({"type": "requests_per_second", "requests": 7}), RollingWindow)
    assert isinstance(pacer_for({"type": "leaky_bucket", "rate": 2, "burst": 50}), LeakyBucket)


def test_a_new_process_carries_on_from_the_last_ones_bucket():
    t = FakeTime()
    servers = [ServerBucket(2, 50), ServerBucket(2, 50)]  # the same portal, as seen by two next runs
    first = LeakyBucket(2, 50, clock=t.clock, sleep=t.sleep)
    for _ in range(49):  # the whole burst, as a run that just ended would leave it
        first.acquire()
        assert all(server.allow("ip", now=t.now) for server in servers)
    state = first.snapshot()

    naive = LeakyBucket(2, 50, clock=t.clock, sleep=t.sleep)  # what a fresh process assumed before
    refused = 0
    for _ in range(10):
        naive.acquire()
        refused += not servers[0].allow("ip", now=t.now)
    assert refused > 0

    second = LeakyBucket(2, 50, clock=t.clock, sleep=t.sleep)
    second.restore(state)
    for _ in range(100):
        second.acquire()
        assert servers[1].allow("ip", now=t.now)


def test_even_spacing_state_survives_a_restart():
    t = FakeTime()
    server = SlidingWindow(7, 1.0)
    first = EvenSpacing(7, clock=t.clock, sleep=t.sleep)
    for _ in range(20):
        first.acquire()
        assert server.allow("token", now=t.now)
    second = EvenSpacing(7, clock=t.clock, sleep=t.sleep)
    second.restore(first.snapshot())
    for _ in range(20):
        second.acquire()
        assert server.allow("token", now=t.now)
    assert LeakyBucket(2, 50).snapshot() is None and EvenSpacing(7).snapshot() is None


def test_rolling_window_state_survives_a_restart():
    t = FakeTime()
    server = SlidingWindow(7, 1.0)
    first = RollingWindow(7, clock=t.clock, sleep=t.sleep)
    for _ in range(7):
        first.acquire()
        assert server.allow("token", now=t.now)
    second = RollingWindow(7, clock=t.clock, sleep=t.sleep)
    second.restore(first.snapshot())
    for _ in range(30):
        second.acquire()
        assert server.allow("token", now=t.now)
    assert RollingWindow(7).snapshot() is None


def test_rolling_window_keeps_a_request_in_flight_in_the_window_until_its_answer():
    """Another thread's request has not been answered: the server may count it at any moment, so its
    slot stays held however long ago it was let go (the old pacer counted it from that moment)."""
    import threading

    t = FakeTime()
    pacer = RollingWindow(2, margin=0.0, clock=t.clock, sleep=t.sleep)
    sent, answer = threading.Event(), threading.Event()

    def slow_request():
        pacer.acquire()
        sent.set()
        answer.wait(10)
        pacer.done()

    other = threading.Thread(target=slow_request)
    other.start()
    sent.wait(10)
    pacer.acquire()          # the second slot: at once
    assert t.now == 100.0
    t.now += 5.0             # the other request is still on its way, five seconds later
    pacer.acquire()          # our own first request is answered (a thread sends one at a time) ...
    assert t.now == 106.0    # ... so its slot frees a window after that answer; the in-flight one stays held
    answer.set()
    other.join(10)
