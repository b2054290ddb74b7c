"""The block types crmsync itself registers in code, the same way a plugin would.

None today: every paginator the shipped connectors use is declarative (connector.schema.json).
A plugin registers its own here-alike with :func:`crmsync.specs.registry.register_block_type`.
"""

from __future__ import annotations
