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


@pytest.mark.parametrize("spec, kind, when, first", [
    ("truncate:x1", "truncate", None, True),  # cuts the CRM's real answer: the request ran
    ("drop:x1", "drop", None, False),
    ("503:x1", "503", None, False),
    ("truncate-after:x1", "truncate", "after", True),
    ("drop-after:x1@/api/v4/contacts", "drop", "after", True),
    ("hang-after:x1", "hang", "after", True),
    ("500-after:x1", "500", "after", True),
    ("429-before:x1", "429", "before", False),
    ("truncate-before:x1", "truncate", "before", False),
])
def test_when_a_fault_hits_is_part_of_its_spec(spec, kind, when, first):
    rule = FaultRule.parse(spec)
    assert (rule.kind, rule.when, rule.applies_first) == (kind, when, first)


def test_timed_faults_hit_writes_only_and_match_the_writes_names():
    plan = FaultPlan([FaultRule.parse("drop-after:x1@crm.deal.update")])
    assert plan.pick("/rest/1/demo/batch") is None  # a batch of list calls
    assert plan.pick("/rest/1/demo/batch", ["crm.contact.update"]) is None  # another write
    assert plan.pick("/rest/1/demo/batch", ["crm.contact.add", "crm.deal.update"]).label == "drop-after"
    assert plan.pick("/rest/1/demo/batch", ["crm.deal.update"]) is None  # x1 used up
    assert plan.injected == {"drop-after": 1}
    plan.add_spec("429-before:x1@/api/v4/contacts")
    assert plan.pick("/api/v4/contacts") is None  # a GET: no writes
    assert plan.pick("/api/v4/contacts", ["POST /api/v4/contacts"]).label == "429-before"


def test_a_bad_timing_says_what_is_allowed():
    with pytest.raises(FaultSpecError, match="optionally followed by -after or -before"):
        FaultRule.parse("drop-later:x1")
    with pytest.raises(FaultSpecError, match="timing 'soon' is not one of: after, before"):
        FaultRule(kind="drop", count=1, when="soon")


def test_a_rule_naming_a_query_parameter_matches_the_query_and_only_it():
    # "page=2" used to be matched against the path alone, which never holds it: the fault never fired
    plan = FaultPlan()
    plan.add("hang", count=1, path="page=2", hang_seconds=1)
    plan.add(503, count=1, path="contacts")
    assert plan.pick("/api/v4/contacts", query="page=1&limit=250").kind == "503"  # the path rule, not the query one
    assert plan.pick("/api/v4/leads", query="with=contacts&page=1") is None  # a path rule ignores the query
    assert plan.pick("/api/v4/contacts", query="page=2&limit=250").kind == "hang"
