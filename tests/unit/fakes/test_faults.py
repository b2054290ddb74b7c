import pytest

from crmsync.fakes.faults import FaultPlan, FaultRule, FaultSpecError


def test_counted_rule_fires_exactly_n_times():
    plan = FaultPlan([FaultRule.parse("503:x2")])
    picks = [plan.pick("/api/v4/contacts") for _ in range(4)]
    assert [p.kind if p else None for p in picks] == ["503", "503", None, None]
    assert plan.injected == {"503": 2}


def test_rate_rule_is_seeded_and_close_to_rate():
    a = FaultPlan([FaultRule.parse("429:0.1")], seed=7)
    b = FaultPlan([FaultRule.parse("429:0.1")], seed=7)
    seq_a = [bool(a.pick("/x")) for _ in range(2000)]
    seq_b = [bool(b.pick("/x")) for _ in range(2000)]
    assert seq_a == seq_b
    assert 150 < sum(seq_a) < 250


def test_path_filter():
    plan = FaultPlan([FaultRule.parse("drop:x1@/rest/batch")])
    assert plan.pick("/rest/1/demo/crm.contact.list") is None
    assert plan.pick("/rest/1/demo/batch") is None  # "/rest/batch" is not a substring of this path
    plan.add_spec("drop:x1@batch")
    assert plan.pick("/rest/1/demo/batch").kind == "drop"


@pytest.mark.parametrize("spec, message", [
    ("teapot:x1", "is not one of"),
    ("429", "expected KIND:RATE or KIND:xN"),
    ("429:lots", "neither a rate"),
    ("429:1.5", "outside 0..1"),
    ("200:x1", "is not one of"),
])
def test_bad_specs_say_what_is_allowed(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        FaultRule.parse(spec)
