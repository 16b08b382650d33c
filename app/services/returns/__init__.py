"""Returns (RMA), the one door to the area: a customer opens a return, staff move it
through the workflow, the outbox moves the money and tells the customer.

- create: `check_eligibility`, `create_return`, `get_return`, `list_returns`, `return_events`
- transitions: `act_on_return` (a page's action: one call, what the page shows next),
  `fire_return_trigger` (the same for the API and jobs), `available_triggers`, `state_label`
- effects: what transitions do (refund, credit, replacement, restock), run by `transitions`
- details / reads: `describe_return(s)` (what a viewer may do: `Offer`s, with the `Payout`
  of a money action), `state_labels`, `published_states`, `team_states`, `order_numbers`,
  `count_returns_in_flight`, `open_filter`
- queues: `list_queue`, `queue_item`, `queue_counts` (the teams' work, oldest first, with
  SLA clocks)
- photos: `save_return_photo`, `photo_file`, `reencode`
- outbox: `execute_refunds`, `complete_settled_returns` (the scheduler's jobs)
- notices: `deliver_notices`, `list_notices`, `count_unread_notices`, `mark_notices_read`
- migration: `plan_migration` (the dry run), `migrate_returns` (moving returns in flight to
  another workflow version, audited)
"""

from __future__ import annotations

from app.services.returns.create import (
    MAX_DESCRIPTION,
    REASONS,
    Eligibility,
    LineRequest,
    check_eligibility,
    create_return,
    get_return,
    list_returns,
    return_events,
)
from app.services.returns.details import (
    HistoryEntry,
    Offer,
    Payout,
    ReturnDetails,
    describe_return,
    describe_returns,
)
from app.services.returns.migration import (
    MigrationPlan,
    Move,
    migrate_returns,
    plan_migration,
)
from app.services.returns.notices import (
    count_unread_notices,
    deliver_notices,
    list_notices,
    mark_notices_read,
    render_notice,
)
from app.services.returns.outbox import (
    MAX_REFUND_ATTEMPTS,
    complete_settled_returns,
    execute_refunds,
)
from app.services.returns.photos import (
    MAX_BYTES,
    MAX_PHOTOS,
    CleanPhoto,
    photo_file,
    reencode,
    save_return_photo,
)
from app.services.returns.queues import (
    TEAMS,
    QueueFilters,
    QueueItem,
    list_queue,
    queue_counts,
    queue_item,
)
from app.services.returns.reads import (
    count_returns_in_flight,
    open_filter,
    order_numbers,
    published_states,
    state_labels,
    team_states,
)
from app.services.returns.transitions import (
    Action,
    Available,
    act_on_return,
    available_triggers,
    fire_return_trigger,
    state_label,
)
from workflows.schema import FieldSpec

__all__ = [
    "MAX_BYTES",
    "MAX_DESCRIPTION",
    "MAX_PHOTOS",
    "MAX_REFUND_ATTEMPTS",
    "REASONS",
    "TEAMS",
    "Action",
    "Available",
    "CleanPhoto",
    "Eligibility",
    "FieldSpec",
    "HistoryEntry",
    "LineRequest",
    "MigrationPlan",
    "Move",
    "Offer",
    "Payout",
    "QueueFilters",
    "QueueItem",
    "ReturnDetails",
    "act_on_return",
    "available_triggers",
    "check_eligibility",
    "complete_settled_returns",
    "count_returns_in_flight",
    "count_unread_notices",
    "create_return",
    "deliver_notices",
    "describe_return",
    "describe_returns",
    "execute_refunds",
    "fire_return_trigger",
    "get_return",
    "list_notices",
    "list_queue",
    "list_returns",
    "mark_notices_read",
    "migrate_returns",
    "open_filter",
    "order_numbers",
    "photo_file",
    "plan_migration",
    "published_states",
    "queue_counts",
    "queue_item",
    "reencode",
    "render_notice",
    "return_events",
    "save_return_photo",
    "state_label",
    "state_labels",
    "team_states",
]
