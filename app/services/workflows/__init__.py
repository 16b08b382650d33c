"""Workflows, the one door to the area: the versioned definitions (RMA, flash sale) stored in
the database and the engine of each saved version.

- store: `RMA`, `published_version`, `ensure_shipped`, `load_engine`, `transition_event`
- versions: `list_versions`, `get_version`, `create_draft`, `update_draft`,
  `publish_version`, `definition_problems` (only RMA is editable)
"""

from __future__ import annotations

from app.services.workflows.store import (
    RMA,
    ensure_shipped,
    load_engine,
    published_version,
    transition_event,
)
from app.services.workflows.versions import (
    VersionInfo,
    create_draft,
    get_version,
    list_versions,
    publish_version,
    update_draft,
)

__all__ = [
    "RMA",
    "VersionInfo",
    "create_draft",
    "ensure_shipped",
    "get_version",
    "list_versions",
    "load_engine",
    "publish_version",
    "published_version",
    "transition_event",
    "update_draft",
]
