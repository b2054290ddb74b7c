"""The cyclic collector is off during a run and back as it was after it, however the run ends."""

import gc

import pytest

from crmsync.bulk_gc import records_in_bulk


def test_the_collector_is_off_during_a_run_and_on_again_after_it():
    assert gc.isenabled()
    with records_in_bulk():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # what was alive before the run is not walked again
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_nested_runs_and_a_failing_run_restore_it():
    with pytest.raises(RuntimeError), records_in_bulk():
        with records_in_bulk():  # a sync's push half inside it
            assert not gc.isenabled()
        assert not gc.isenabled() and gc.get_freeze_count() > 0  # the outer run is still going
        raise RuntimeError("the run failed")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_caller_that_had_turned_the_collector_off_keeps_it_off():
    gc.disable()
    try:
        with records_in_bulk():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
