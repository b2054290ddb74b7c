"""A sub-call error means "deleted in the CRM" only when its whole description says so: a refusal that
merely contains the words (an unknown pipeline or stage) keeps the record's link."""

import pytest

from crmsync.push.writers_rpc import _not_found

TASK_GONE = {"errors": ["NOT_FOUND"], "messages": ["Not found", "Task not found or not accessible"]}


@pytest.mark.parametrize("error, gone, expected", [
    ({"error": "", "error_description": "Not found"}, None, True),
    ({"error": "NOT_FOUND", "error_description": "Item not found"}, None, True),
    ({"error": "", "error_description": "Not found."}, None, True),
    ({"error": "", "error_description": "Pipeline (CATEGORY_ID) 7 not found. Known: 0, 1."}, None, False),
    ({"error": "", "error_description": "Status (STATUS_ID) 'X' not found."}, None, False),
    ({"error": "ERROR_CORE", "error_description": "Task not found or not accessible<br>"}, None, False),
    ({"error": "ERROR_CORE", "error_description": "Task not found or not accessible<br>"}, TASK_GONE, True),
    ({"error": "ACCESS_DENIED", "error_description": "Access denied."}, TASK_GONE, False),
])
def test_only_a_whole_not_found_description_means_gone(error, gone, expected):
    assert _not_found(error, gone) is expected
