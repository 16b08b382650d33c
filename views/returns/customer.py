"""Returns for customers: /returns (their returns and notices), asking for a return from an
order (/orders/<id>/returns/new), and /returns/<id>: the timeline that updates itself, where
they ship the items back, cancel, add photos and see the outcome. Photos are served to the
owner and staff only. Staff may list every return here; they work them on /staff pages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, flash, request, send_file, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from app.current import current_config, db_session
from app.db import is_row_id, utcnow
from app.errors import NotFound, TooLarge, UnsupportedMediaType, ValidationError
from app.extensions import rate_limit
from app.models.orders import Order, OrderStatus
from app.models.returns import ReturnRequest
from app.models.users import Role, User
from app.services.returns import (
    MAX_BYTES,
    MAX_PHOTOS,
    REASONS,
    CleanPhoto,
    Eligibility,
    LineRequest,
    ReturnDetails,
    check_eligibility,
    count_unread_notices,
    create_return,
    describe_returns,
    get_return,
    list_notices,
    list_returns,
    mark_notices_read,
    order_numbers,
    photo_file,
    published_states,
    reencode,
    save_return_photo,
)
from app.services.users import people_by_id
from views.access import login_required, role_required, signed_in_user
from views.parsing import ID, query_page, whole_number
from views.rendering import is_partial, page_or_partial, redirect_to
from views.returns.parts import (
    act_from_form,
    after_action,
    detail_context,
    duration,
    guidance,
    show_return,
)

log = logging.getLogger(__name__)
bp = Blueprint("returns", __name__)
bp.add_app_template_filter(duration, "duration")
bp.add_app_template_global(guidance, "return_guidance")
customer_only = role_required(Role.CUSTOMER)
STAFF_FILTERS = ("state", "q", "customer")  # the staff list's query (customer: a user id)


@bp.app_context_processor
def _return_globals() -> dict[str, Any]:
    def nav_notices() -> int | None:
        """Unread notices of the signed-in customer (the nav asks only for customers)."""
        try:
            return count_unread_notices(db_session(), current_user.id)
        except SQLAlchemyError:
            # Error pages render the nav too; a broken database must not break them as well.
            log.warning("unread notices unavailable for the nav", exc_info=True)
            return None

    def return_eligibility(order: Order) -> Eligibility | None:
        """For the order page: what its customer may still return, and why not."""
        if not (current_user.is_authenticated and current_user.role == Role.CUSTOMER):
            return None
        theirs = order.customer_id == current_user.id and order.status == OrderStatus.PAID
        if not theirs or order.kind != "standard":
            return None
        return check_eligibility(
            db_session(), customer_id=current_user.id, order_id=order.id, now=utcnow()
        )

    return {"nav_notices": nav_notices, "return_eligibility": return_eligibility}


# The list and notices ---------------------------------------------------------------


@bp.get("/returns")
@login_required
def index() -> Response:
    """A customer's returns and notices; for staff, every return, with a state filter, a
    search (return or order number, customer) and one customer's returns (`?customer=<id>`)."""
    viewer = signed_in_user()
    page, per_page = query_page()
    session = db_session()
    staff = viewer.is_staff
    states = published_states(session) if staff else []
    args = {k: request.args.get(k, "").strip()[:100] if staff else "" for k in STAFF_FILTERS}
    if args["state"] and args["state"] not in dict(states):
        raise ValidationError({"state": "is not a state of the returns workflow"})
    customer_id = whole_number(args["customer"])
    if args["customer"] and (customer_id is None or not is_row_id(customer_id)):
        raise ValidationError({"customer": "must be a customer's id"})
    result = list_returns(
        session, viewer, state=args["state"], search=args["q"], customer_id=customer_id,
        page=page, per_page=per_page,
    )  # fmt: skip
    shown = [r.customer_id for r in result.items] + ([customer_id] if customer_id else [])
    return page_or_partial(
        "returns/index.html",
        "returns/_table.html",
        result=result,
        details=describe_returns(session, viewer, result.items),
        orders=order_numbers(session, [r.order_id for r in result.items]),
        customers=people_by_id(session, shown) if staff else {},
        args=args,
        customer_id=customer_id,
        state=args["state"],
        states=states,
        notices=[] if staff else list_notices(session, viewer.id),
    )


@bp.post("/returns/notices/read")
@customer_only
def read_notices() -> Response:
    marked = mark_notices_read(db_session(), signed_in_user().id, now=utcnow())
    flash(f"Marked {marked} notice{'s' if marked != 1 else ''} as read.", "success")
    return redirect_to(url_for("returns.index"))


# Asking for a return ----------------------------------------------------------------


def _chosen(eligibility: Eligibility, source: Mapping[str, str]) -> tuple[dict[int, int], dict]:
    """Quantities typed per order line (`qty-<line id>`), and the ones that are not numbers."""
    chosen: dict[int, int] = {}
    problems: dict[str, str] = {}
    for line in eligibility.lines:
        name = f"qty-{line.order_line_id}"
        raw = (source.get(name) or "").strip()
        if not raw:
            continue
        quantity = whole_number(raw, digits=6)
        if quantity is None:
            problems[name] = "must be a whole number"
        elif quantity:
            chosen[line.order_line_id] = quantity
    return chosen, problems


def _render_form(
    eligibility: Eligibility,
    chosen: dict[int, int],
    form: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return page_or_partial(
        "returns/new.html",
        "returns/_check.html",
        status,
        eligibility=eligibility,
        chosen=chosen,
        form=form,
        errors=errors,
        reasons=REASONS,
        max_photos=MAX_PHOTOS,
    )


@bp.get(f"/orders/<{ID}:order_id>/returns/new")
@customer_only
def new(order_id: int) -> Response:
    """The form, with what may be returned; htmx asks again as quantities change."""
    viewer = signed_in_user()
    eligibility = check_eligibility(
        db_session(), customer_id=viewer.id, order_id=order_id, now=utcnow()
    )
    chosen, errors = _chosen(eligibility, request.args)
    if not request.args and len(eligibility.lines) == 1 and eligibility.lines[0].returnable:
        chosen = {eligibility.lines[0].order_line_id: 1}
    return _render_form(eligibility, chosen, {}, errors)


def _read_photos(errors: dict[str, str]) -> list[CleanPhoto]:
    """The uploaded photos, each decoded (once) now so a bad one opens no return."""
    files = [f for f in request.files.getlist("photos") if f.filename]
    if len(files) > MAX_PHOTOS:
        errors["photos"] = f"You may attach at most {MAX_PHOTOS} photos"
        return []
    photos = []
    for upload in files:
        try:
            photos.append(reencode(upload.read(MAX_BYTES + 1)))
        except (TooLarge, UnsupportedMediaType) as error:
            errors["photos"] = f"{upload.filename}: {error.message}"
    return photos


def _form_errors(error: ValidationError) -> dict[str, str]:
    """The service's field names as the form's: `lines.<id>` is that line's quantity box."""
    errors = {}
    for name, problem in error.fields.items():
        if name.startswith("lines."):
            name = "qty-" + name.removeprefix("lines.")
        errors["form" if name == "order_id" else name] = problem
    return errors


@bp.post(f"/orders/<{ID}:order_id>/returns")
@customer_only
def create(order_id: int) -> Response:
    viewer = signed_in_user()
    session = db_session()
    now = utcnow()
    eligibility = check_eligibility(session, customer_id=viewer.id, order_id=order_id, now=now)
    form = {k: (request.form.get(k) or "")[:4000] for k in ("reason", "description")}
    chosen, errors = _chosen(eligibility, request.form)
    photos = _read_photos(errors)
    if errors:
        return _render_form(eligibility, chosen, form, errors, 422)
    lines = [LineRequest(line_id, qty) for line_id, qty in chosen.items()]
    try:
        record = create_return(
            session,
            customer=viewer,
            order_id=order_id,
            now=now,
            reason=form["reason"],
            description=form["description"],
            lines=lines,
        )
    except ValidationError as error:
        return _render_form(eligibility, chosen, form, _form_errors(error), 422)
    for photo in photos:
        save_return_photo(session, viewer, record.id, photo, upload_dir=current_config().upload_dir)
    flash(f"Return {record.number} is requested. We will review it and let you know.", "success")
    return redirect_to(url_for("returns.show", return_id=record.id))


# One return -------------------------------------------------------------------------


def _detail(
    viewer: User, record: ReturnRequest, details: ReturnDetails | None = None
) -> dict[str, Any]:
    return {
        **detail_context(db_session(), viewer, record, details),
        "max_photos": MAX_PHOTOS,
    }


@bp.get(f"/returns/<{ID}:return_id>")
@login_required
def show(return_id: int) -> Response:
    """The page, or (polled every 5 s) its live region; 204 while nothing changed."""
    viewer = signed_in_user()
    record = get_return(db_session(), viewer, return_id)
    if viewer.is_staff:
        return redirect_to(url_for("staff_returns.show", return_id=record.id))
    return show_return(record, "returns", lambda details: _detail(viewer, record, details))


@bp.post(f"/returns/<{ID}:return_id>/transitions")
@customer_only
def fire(return_id: int) -> Response:
    viewer = signed_in_user()
    action = act_from_form(db_session(), viewer, return_id, queue=None, with_history=is_partial())
    record = action.details.record
    return after_action(
        action,
        "returns",
        lambda details: _detail(viewer, record, details),
        event="return-changed",
        done=f"Return {record.number}: {action.details.state_label}.",
        back=url_for("returns.show", return_id=record.id),
    )


@bp.post(f"/returns/<{ID}:return_id>/photos")
@customer_only
@rate_limit(lambda: current_config().photo_rate_limit, scope="photos")
def add_photo(return_id: int) -> Response:
    viewer = signed_in_user()
    session = db_session()
    upload = request.files.get("photo")
    if upload is None or not upload.filename:
        raise ValidationError({"photo": "choose a photo to upload"})
    data = upload.read(MAX_BYTES + 1)
    save_return_photo(session, viewer, return_id, data, upload_dir=current_config().upload_dir)
    if is_partial():
        record = get_return(session, viewer, return_id)
        session.refresh(record, ["photos"])  # loaded before the upload, in this session
        return page_or_partial(
            "returns/show.html",
            "returns/_photos.html",
            record=record,
            max_photos=MAX_PHOTOS,
            photos_closed=False,  # a photo was just added: the return is open
        )
    flash("Your photo was added.", "success")
    return redirect_to(url_for("returns.show", return_id=return_id))


@bp.get(f"/returns/<{ID}:return_id>/photos/<{ID}:photo_id>")
def photo(return_id: int, photo_id: int) -> Response:
    """The image, to the return's owner and staff; everyone else gets a 404."""
    if not current_user.is_authenticated:
        raise NotFound("no such photo")
    path, content_type = photo_file(
        db_session(), signed_in_user(), return_id, photo_id, upload_dir=current_config().upload_dir
    )
    response = send_file(path, mimetype=content_type, max_age=3600, conditional=True)
    response.cache_control.public = False
    response.cache_control.private = True
    return response
