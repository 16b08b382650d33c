"""Workflows, the one door to the area: the versioned definitions (RMA, flash sale) stored in
the database and the engine of each saved version.

- store: `RMA`, `published_version`, `ensure_shipped`, `load_engine`, `transition_event`
- versions: `list_versions`, `get_version`, `create_draft`, `update_draft`,
  `publish_version`, `definition_problems` (only RMA is editable)
- counts: `list_workflows`, `get_workflow`, `get_version_diagram`, `state_counts` (the
  read-only admin pages: versions, history, live counts per state, the diagram)
- drafts: `editor_choices`, `compare_with_published` (the editor)
"""

from __future__ import annotations

from app.services.workflows.counts import (
    StateCount,
    VersionDiagram,
    WorkflowSummary,
    get_version_diagram,
    get_workflow,
    list_workflows,
    state_counts,
)
from app.services.workflows.drafts import (
    EditorChoices,
    PublishedComparison,
    compare_with_published,
    editor_choices,
)
from app.services.workflows.store import (
    DRAFT,
    PUBLISHED,
    RETIRED,
    RMA,
    ensure_shipped,
    load_engine,
    published_version,
    transition_event,
)
from app.services.workflows.versions import (
    VersionInfo,
    create_draft,
    definition_problems,
    definition_shape_problems,
    get_version,
    list_versions,
    publish_version,
    update_draft,
)

__all__ = [
    "DRAFT",
    "PUBLISHED",
    "RETIRED",
    "RMA",
    "EditorChoices",
    "PublishedComparison",
    "StateCount",
    "VersionDiagram",
    "VersionInfo",
    "WorkflowSummary",
    "compare_with_published",
    "create_draft",
    "definition_problems",
    "definition_shape_problems",
    "editor_choices",
    "ensure_shipped",
    "get_version",
    "get_version_diagram",
    "get_workflow",
    "list_versions",
    "list_workflows",
    "load_engine",
    "publish_version",
    "published_version",
    "state_counts",
    "transition_event",
    "update_draft",
]
