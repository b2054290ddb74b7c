from crmsync.read.progress import ReadProgress


def test_reports_counts_at_most_every_interval():
    now = [0.0]
    said = []
    progress = ReadProgress(said.append, every_seconds=3, clock=lambda: now[0])
    contact, deal = progress.counter("contact"), progress.counter("deal")
    for i in range(10):
        now[0] = i
        assert contact({"id": i}) == {"id": i}
    deal({"id": 1})
    assert said == ["read so far: contact 4, deal 0", "read so far: contact 7, deal 0",
                    "read so far: contact 10, deal 0"]


def test_a_read_hands_the_gil_over_more_often_and_restores_the_interval():
    import sys

    from crmsync.read.stream import SWITCH_SECONDS, fetching_beside_the_engine

    before = sys.getswitchinterval()
    try:
        with fetching_beside_the_engine():
            assert sys.getswitchinterval() == min(before, SWITCH_SECONDS)
            raise KeyError("the read failed")
    except KeyError:
        pass
    assert sys.getswitchinterval() == before
