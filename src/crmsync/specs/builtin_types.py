"""The block types crmsync itself registers in code, the same way a plugin would."""

from __future__ import annotations

from .registry import register_block_type

register_block_type(
    "paginator", "bitrix24_batch",
    description="Bitrix24 keyset paging packed into `batch`: pages of `page_size` asked with start=-1 and "
                "filter >ID (no slow OFFSET), `commands_per_batch` list calls per HTTP request. Code: a "
                "registered paginator, because the next page's filter depends on the previous page's last ID.",
    properties={
        "page_size": {"type": "integer", "minimum": 1, "maximum": 50,
                      "description": "Records per list call; Bitrix24 returns at most 50."},
        "commands_per_batch": {"type": "integer", "minimum": 1, "maximum": 50,
                               "description": "List calls packed into one batch request; Bitrix24 allows 50."},
    },
)
