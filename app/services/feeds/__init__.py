"""Partner feeds, the one door to the area (CONTRACT §3.6).

- partners: `create_partner`, `update_partner`, `get_partner`, `list_partners`,
  `issue_key`, `revoke_key`, `list_keys`, `partner_for_key` (API keys are kept hashed),
  `LIMITS` (the numbers a partner's settings may take)
- queue: `receive_feed` (save an upload, queue it), `save_feed_file`, `queue_import`,
  `claim_next_import` (a lease per worker)
- imports: `run_import` (stage, guard, apply), `decide_import`, `import_dry_run`,
  `get_import`, `guard_reason`
- polling: `due_for_poll`, `poll_feed` (conditional GET, backoff), `poll_now`
- retention: `prune_imports` (details and dry-run files of old imports)
- reports: `list_imports`, `latest_imports`, `import_errors`, `list_rejections`, `list_changes`,
  `rejected_rows_csv`, `feed_freshness`, `feed_rows_by_outcome`

The parsers themselves are pure and live in `app/feeds`.
"""

from __future__ import annotations

from app.services.feeds.imports import (
    decide_import,
    get_import,
    guard_reason,
    import_dry_run,
    run_import,
)
from app.services.feeds.partners import (
    LIMITS,
    IssuedKey,
    PartnerInput,
    create_partner,
    get_partner,
    issue_key,
    list_keys,
    list_partners,
    partner_for_key,
    revoke_key,
    update_partner,
)
from app.services.feeds.polling import due_for_poll, poll_feed, poll_now
from app.services.feeds.queue import (
    claim_next_import,
    queue_import,
    receive_feed,
    remove_feed_file,
    save_feed_file,
)
from app.services.feeds.reports import (
    Freshness,
    RowError,
    feed_freshness,
    feed_rows_by_outcome,
    import_errors,
    latest_imports,
    list_changes,
    list_imports,
    list_rejections,
    rejected_rows_csv,
)
from app.services.feeds.retention import prune_imports

__all__ = [
    "LIMITS",
    "Freshness",
    "IssuedKey",
    "PartnerInput",
    "RowError",
    "claim_next_import",
    "create_partner",
    "decide_import",
    "due_for_poll",
    "feed_freshness",
    "feed_rows_by_outcome",
    "get_import",
    "get_partner",
    "guard_reason",
    "import_dry_run",
    "import_errors",
    "issue_key",
    "latest_imports",
    "list_changes",
    "list_imports",
    "list_keys",
    "list_partners",
    "list_rejections",
    "partner_for_key",
    "poll_feed",
    "poll_now",
    "prune_imports",
    "queue_import",
    "receive_feed",
    "rejected_rows_csv",
    "remove_feed_file",
    "revoke_key",
    "run_import",
    "save_feed_file",
    "update_partner",
]
