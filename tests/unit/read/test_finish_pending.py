"""A load an earlier run left unfinished: one that cannot be finished is dropped (its records are read
again), but a Ctrl-C while it is being finished stops the read and drops nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmsync.read import run as read_run
from crmsync.read.run import ReadResult, _finish_pending


class Pipeline:
    def __init__(self) -> None:
        self.dropped = False

    def drop(self) -> Pipeline:
        self.dropped = True
        return self


class StepFailed(Exception):
    """As dlt's PipelineStepFailed wraps what stopped a step."""


def finishing(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> tuple[Pipeline, list[str]]:
    def failing_round(*_: Any, **__: Any) -> None:
        raise error

    monkeypatch.setattr(read_run, "_round", failing_round)
    return Pipeline(), []


def test_a_load_that_cannot_be_finished_is_dropped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pipeline, said = finishing(monkeypatch, StepFailed("the package's file is gone"))
    assert _finish_pending(pipeline, ReadResult(None), None, full_refresh=False, progress=said.append,
                           store=tmp_path / "s.duckdb") is pipeline
    assert pipeline.dropped and "cannot be completed (the package's file is gone)" in said[0]


def test_a_ctrl_c_while_it_is_finished_stops_and_drops_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    wrapped = StepFailed("extract failed")
    wrapped.__cause__ = KeyboardInterrupt()
    pipeline, said = finishing(monkeypatch, wrapped)
    with pytest.raises(StepFailed):
        _finish_pending(pipeline, ReadResult(None), None, full_refresh=False, progress=said.append,
                        store=tmp_path / "s.duckdb")
    assert not pipeline.dropped and said == []
