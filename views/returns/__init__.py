"""Returns on the web: the customer's pages (customer), the staff home (home), the team
queues and the staff return page (staff), and what both return pages share (parts)."""

from __future__ import annotations

from views.returns import customer, home, staff

BLUEPRINTS = (home.bp, customer.bp, staff.bp)
