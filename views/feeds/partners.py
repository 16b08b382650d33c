"""/admin/partners: every partner with its feed's health, onboarding (the new API key is
shown once, on the answer to the POST, and never stored in clear), one partner's settings,
keys (issue, revoke after a confirmation page) and imports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Response, flash, make_response, render_template, request, url_for

from app.current import db_session
from app.db import MAX_INT, NUL, NUL_MESSAGE, utcnow
from app.errors import Conflict, NotFound, ValidationError
from app.feeds import FORMATS
from app.models.feeds import FeedImport, Partner, PartnerKey
from app.services.feeds import (
    LIMITS,
    Freshness,
    IssuedKey,
    PartnerInput,
    create_partner,
    feed_freshness,
    get_partner,
    issue_key,
    latest_imports,
    list_imports,
    list_keys,
    list_partners,
    revoke_key,
    update_partner,
)
from views.access import admin_pages as bp
from views.access import signed_in_user
from views.parsing import ID, form_int, whole_number
from views.rendering import redirect_to

FORMAT_LABELS = {
    "standard": "Standard (CSV or JSON)",
    "shopify_csv": "Shopify product CSV export",
    "google_merchant_tsv": "Google Merchant Center feed (TSV)",
}
FIELDS = (
    "name",
    "format",
    "feed_url",
    "poll_minutes",
    "mapping",
    "price_guard_percent",
    "drop_guard_percent",
    "stale_after_minutes",
)
DEFAULTS = {"price_guard_percent": "50", "drop_guard_percent": "50", "stale_after_minutes": "1440"}
MAPPING_MAX_CHARS = 10_000
IMPORTS_PER_PAGE = 20


@dataclass(frozen=True)
class PartnerRow:
    """A partner as the list shows it."""

    partner: Partner
    polling: str | None  # "host, every N min", or None: uploads only
    freshness: Freshness
    latest: FeedImport | None


def format_choices() -> list[tuple[str, str]]:
    return [(name, FORMAT_LABELS.get(name, name)) for name in FORMATS]


def polling(partner: Partner) -> str | None:
    if not partner.feed_url:
        return None
    host = urlsplit(partner.feed_url).hostname or partner.feed_url
    return f"{host}, every {partner.poll_minutes} min"


def page_arg(name: str) -> int:
    """A page number from the query string (`?changes_page=2`): 422 when not one."""
    raw = request.args.get(name, "")
    if raw == "":
        return 1
    number = whole_number(raw)
    if number is None or not 1 <= number <= MAX_INT:
        raise ValidationError({name: "must be a positive integer"})
    return number


def parse_mapping(raw: str, problems: dict[str, str]) -> dict[str, str] | None:
    """The textarea's `their column = our field` lines as a dict (blank lines and lines
    starting with # are skipped); None, with the problem noted, for a bad line."""
    if NUL in raw:
        problems["mapping"] = NUL_MESSAGE
        return None
    if len(raw) > MAPPING_MAX_CHARS:
        problems["mapping"] = f"must have at most {MAPPING_MAX_CHARS} characters"
        return None
    mapping: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        theirs, equals, ours = (part.strip() for part in line.partition("="))
        if not equals or not theirs or not ours:
            problems["mapping"] = f"line {number} must read “their column = our field”"
            return None
        if theirs.lower() in (known.lower() for known in mapping):
            problems["mapping"] = f"line {number} maps the column “{theirs}” a second time"
            return None
        mapping[theirs] = ours
    return mapping


def mapping_text(partner: Partner) -> str:
    """The stored mapping (a JSON object the service wrote) as the textarea's lines."""
    loaded: dict[str, str] = json.loads(partner.mapping) if partner.mapping else {}
    return "\n".join(f"{theirs} = {ours}" for theirs, ours in loaded.items())


def partner_form(*, creating: bool) -> tuple[PartnerInput, dict[str, str], dict[str, str]]:
    """The input, the typed values (kept for re-display), and the form's own problems."""
    form = {name: request.form.get(name) or "" for name in FIELDS}
    problems: dict[str, str] = {}
    numbers = {
        name: form_int(name, problems, required=name != "poll_minutes", minimum=low, maximum=high)
        for name, (low, high) in LIMITS.items()
    }
    mapping = parse_mapping(form["mapping"], problems)
    name, feed_url = form["name"].strip(), form["feed_url"].strip()
    if creating and not name:
        problems["name"] = "is required"
    data = PartnerInput(
        # Blank on create is "missing"; blank on edit is a bad name, or "no feed URL".
        name=name or (None if creating else ""),
        format=form["format"] or None,
        feed_url=feed_url or (None if creating else ""),
        mapping=(mapping or None) if creating else mapping,
        **numbers,
    )
    return data, form, problems


def form_errors(error: ValidationError | Conflict) -> dict[str, str]:
    if isinstance(error, Conflict):
        return {"name": "is already used by another partner"}
    errors = dict(error.fields)
    if "mapping" in errors:
        errors["mapping"] = f"is not usable: {errors['mapping']}"
    return errors


def settings_form(partner: Partner) -> dict[str, str]:
    form = {name: str(getattr(partner, name) or "") for name in FIELDS if name != "mapping"}
    form["mapping"] = mapping_text(partner)
    return form


def _render_index(form: dict[str, str], errors: dict[str, str]) -> Response:
    session = db_session()
    now = utcnow()
    latest = latest_imports(session)
    rows = [
        PartnerRow(p, polling(p), feed_freshness(p, now=now), latest.get(p.id))
        for p in list_partners(session)
    ]
    html = render_template(
        "feeds/partners.html", rows=rows, form=form, errors=errors, formats=format_choices()
    )
    return make_response(html, 422 if errors else 200)


def render_partner(
    partner: Partner,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    upload: dict[str, Any] | None = None,
    upload_errors: dict[str, str] | None = None,
) -> Response:
    """The partner's page; 422 when a form on it comes back with problems."""
    session = db_session()
    now: datetime = utcnow()
    imports = list_imports(
        session, partner_id=partner.id, page=page_arg("page"), per_page=IMPORTS_PER_PAGE
    )
    html = render_template(
        "feeds/partner.html",
        partner=partner,
        polling=polling(partner),
        freshness=feed_freshness(partner, now=now),
        keys=list_keys(session, partner.id),
        imports=imports,
        form=form or settings_form(partner),
        errors=errors or {},
        upload=upload or {},
        upload_errors=upload_errors or {},
        formats=format_choices(),
    )
    return make_response(html, 422 if errors or upload_errors else 200)


def _key_page(partner: Partner, issued: IssuedKey, *, onboarded: bool) -> Response:
    """The one page that shows the secret; HTML is never cached (views.hooks: no-store)."""
    html = render_template("feeds/key.html", partner=partner, issued=issued, onboarded=onboarded)
    return make_response(html, 201)


@bp.get("/partners")
def partners() -> Response:
    return _render_index({**DEFAULTS, "format": "standard"}, {})


@bp.post("/partners")
def partner_create() -> Response:
    data, form, problems = partner_form(creating=True)
    if problems:
        return _render_index(form, problems)
    session = db_session()
    try:
        issued = create_partner(session, data, actor=signed_in_user(), now=utcnow())
    except (ValidationError, Conflict) as error:
        return _render_index(form, form_errors(error))
    return _key_page(get_partner(session, issued.key.partner_id), issued, onboarded=True)


@bp.get(f"/partners/<{ID}:partner_id>")
def partner(partner_id: int) -> Response:
    return render_partner(get_partner(db_session(), partner_id))


@bp.post(f"/partners/<{ID}:partner_id>")
def partner_update(partner_id: int) -> Response:
    session = db_session()
    found = get_partner(session, partner_id)
    data, form, problems = partner_form(creating=False)
    if problems:
        return render_partner(found, form=form, errors=problems)
    try:
        saved = update_partner(session, found.id, data, now=utcnow())
    except (ValidationError, Conflict) as error:
        return render_partner(found, form=form, errors=form_errors(error))
    flash(f"Saved the settings of {saved.name}.", "success")
    return redirect_to(url_for("admin.partner", partner_id=saved.id))


@bp.post(f"/partners/<{ID}:partner_id>/keys")
def partner_key_issue(partner_id: int) -> Response:
    session = db_session()
    issued = issue_key(session, partner_id, actor=signed_in_user(), now=utcnow())
    return _key_page(get_partner(session, partner_id), issued, onboarded=False)


def _key_of(partner: Partner, key_id: int) -> PartnerKey:
    for key in list_keys(db_session(), partner.id):
        if key.id == key_id:
            return key
    raise NotFound("no such key")


@bp.get(f"/partners/<{ID}:partner_id>/keys/<{ID}:key_id>/revoke")
def partner_key_revoke_confirm(partner_id: int, key_id: int) -> Response:
    found = get_partner(db_session(), partner_id)
    key = _key_of(found, key_id)
    return make_response(render_template("feeds/revoke.html", partner=found, key=key))


@bp.post(f"/partners/<{ID}:partner_id>/keys/<{ID}:key_id>/revoke")
def partner_key_revoke(partner_id: int, key_id: int) -> Response:
    key = revoke_key(db_session(), partner_id, key_id, now=utcnow())
    flash(f"Revoked the key {key.prefix}…: it no longer works.", "success")
    return redirect_to(url_for("admin.partner", partner_id=partner_id))
