"""Authenticating a request (services.users.active_user): one read a second per account,
a deactivation here applies at once, one made by another process within the second."""

from __future__ import annotations

import time

from sqlalchemy import event, update

from app.models.users import User
from app.services.users import active_user, set_user_active
from tests.builders import make_user


def count_selects(session):
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", before)
    return seen


def test_it_reads_an_account_once_and_hands_out_a_clean_instance(session, db):
    user = make_user(session, "support", username="sam")
    other = make_user(session, "customer", username="olga")
    first = db.session()
    assert active_user(first, user.id).username == "sam"
    first.close()
    second = db.session()
    selects = count_selects(second)
    found = active_user(second, user.id)
    assert (found.id, found.role, found.username) == (user.id, "support", "sam")
    assert selects == []  # no SQL for the second request
    assert found in second
    assert not second.new
    assert not second.dirty
    assert active_user(second, other.id) is not None
    assert len(selects) == 1  # the control: an account not read yet costs one SELECT
    second.commit()  # nothing to write: it is not a new row
    second.close()


def test_a_deactivation_here_applies_at_once(session, admin):
    user = make_user(session, "customer")
    assert active_user(session, user.id) is not None
    set_user_active(session, user.id, active=False, actor=admin)
    session.expunge_all()
    assert active_user(session, user.id) is None


def test_a_deactivation_elsewhere_applies_within_a_second(session, db):
    user = make_user(session, "customer")
    reader = db.session()
    assert active_user(reader, user.id) is not None
    reader.close()
    session.execute(update(User).where(User.id == user.id).values(active=False))
    session.commit()
    time.sleep(1.05)
    later = db.session()
    assert active_user(later, user.id) is None
    later.close()


def test_unknown_or_absurd_ids_are_nobody(session):
    assert active_user(session, 0) is None
    assert active_user(session, 2**40) is None
    assert active_user(session, 987654) is None
