"""A run's pull commits every ``commit_size`` records (PullSpec.commit_size, in whole chunks) rather than
after each chunk; a run killed between two commits keeps what it committed, and the next run ends
where a clean run ends."""

import pytest

from tests.integration.fake_sessions import store_rows as query
from tests.integration.pull.test_pull_connection import canonical_snapshot, clean_and_killed, puller


def test_a_pull_killed_between_commits_of_several_chunks_is_finished_by_the_next(tmp_path, fake_crm):
    clean_project, killed_project, server = clean_and_killed(tmp_path, fake_crm)
    puller(clean_project, "amocrm", server)(chunk_size=25, commit_size=50)
    commits = []

    def dies_in_the_deals(entity):  # killed at the first commit with deals in it
        commits.append(entity)
        if entity == "deal":
            raise RuntimeError("killed")

    pull = puller(killed_project, "amocrm", server)
    with pytest.raises(RuntimeError, match="killed"):
        pull(chunk_size=25, commit_size=50, on_chunk=dies_in_the_deals)
    # 130 contacts: chunks of 25 and a last one of 5 (the round's commit ends it), a commit after each
    # second chunk; what is left uncommitted of the contacts goes with the first chunk of deals
    assert commits == ["contact"] * 2 + ["deal"]
    assert query(killed_project, "SELECT count(*) FROM canonical.contacts") == [(130,)]
    assert query(killed_project, "SELECT count(*) FROM canonical.deals") == [(25,)]
    assert query(killed_project, "SELECT count(*) FROM sync.runs") == [(0,)]
    after = pull(chunk_size=25, commit_size=50)
    assert after.entities["contact"]["applied"] == 0
    assert after.entities["deal"]["applied"] == 35 and after.entities["task"]["applied"] == 40
    assert canonical_snapshot(killed_project) == canonical_snapshot(clean_project)
    assert query(killed_project, "SELECT count(*), count(DISTINCT canonical_id) FROM sync.links "
                                 "WHERE entity = 'deal'") == [(60, 60)]
