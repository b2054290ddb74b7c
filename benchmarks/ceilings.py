"""The APIs' documented ceilings, as the shortest time N records can take — burst included.

AmoCRM: 7 requests/s per token, 250 records per page and per write array → 1,750 records/s.
Bitrix24: a leaky bucket (+1 per request, drains 2/s, refused above 50); a ``batch`` carries 50
commands — 50 list pages of 50 records (2,500 records) or 50 writes. Starting from an empty bucket,
R requests take max(0, R − 50) / 2 s: runs of up to 50 requests are never slowed by the limit, so
the ceiling of a short run is what the server (here: the fake) can serve, not the API's rule.
"""

from __future__ import annotations

import math

AMO_RPS, AMO_PER_REQUEST = 7, 250
B24_RATE, B24_BURST, B24_COMMANDS, B24_PAGE = 2.0, 50, 50, 50


def amocrm_seconds(records: int, per_request: int = AMO_PER_REQUEST) -> float:
    """Time at the ceiling: requests spaced 1/7 s apart (the formula the docs give, 250 × 7 = 1,750/s)."""
    return math.ceil(records / per_request) / AMO_RPS


def bitrix24_seconds(requests: int) -> float:
    return max(0.0, requests - B24_BURST) / B24_RATE


def bitrix24_read_requests(records: int) -> int:
    return math.ceil(records / (B24_COMMANDS * B24_PAGE))


def bitrix24_write_requests(records: int) -> int:
    return math.ceil(records / B24_COMMANDS)


FORMULAS = {
    "amocrm": "N / (ceil(N/250) / 7 req/s)  — 1,750 records/s",
    "bitrix24 read": "R = ceil(N/2,500) batch requests; t = max(0, R − 50 burst) / 2 req/s; ceiling N/t "
                     "(unbounded while R ≤ 50: then the same-N unthrottled rate is the ceiling)",
    "bitrix24 write": "R = ceil(N/50) batch requests (×2 with read-back); t = max(0, R − 50) / 2 req/s",
}


def fraction(achieved_seconds: float, ceiling_seconds: float) -> float | None:
    """Share of the ceiling reached: ceiling time / achieved time (None: the limit does not bind)."""
    return round(ceiling_seconds / achieved_seconds, 3) if ceiling_seconds > 0 else None
