"""Demo data for a fresh install: one user per role and a catalog of ~50 products."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.catalog import Product
from app.models.users import Role, User
from app.services.credit import grant_credit
from app.services.users import hash_password

DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105  (documented demo logins)

# (category, [(name, price_cents, stock, description)])
CATALOG: list[tuple[str, list[tuple[str, int, int, str]]]] = [
    (
        "Kitchen",
        [
            ("Chef's Knife 8in", 5900, 40, "Forged stainless steel chef's knife with a full tang."),
            ("Cast Iron Skillet 10in", 3400, 35, "Pre-seasoned cast iron pan for stove and oven."),
            ("Pour-Over Coffee Kettle", 4200, 25, "Gooseneck kettle with a built-in thermometer."),
            ("Bamboo Cutting Board", 1900, 60, "Large reversible board with a juice groove."),
            ("Stand Mixer Bowl 5qt", 2900, 15, "Stainless steel replacement bowl with handle."),
            ("Silicone Spatula Set", 1200, 80, "Three heat-resistant spatulas, dishwasher safe."),
            ("French Press 1L", 2700, 30, "Borosilicate glass coffee press with steel filter."),
            ("Espresso Tamper 58mm", 2200, 20, "Calibrated aluminium tamper for espresso."),
        ],
    ),
    (
        "Electronics",
        [
            ("Wireless Earbuds", 7900, 50, "Noise-cancelling earbuds with a 24-hour case."),
            ("USB-C Charger 65W", 3900, 70, "GaN wall charger for laptops and phones."),
            ("Mechanical Keyboard", 10900, 18, "Tenkeyless keyboard with hot-swap switches."),
            ("4K HDMI Cable 2m", 1400, 120, "High-speed cable rated for 4K at 120 Hz."),
            ("Portable SSD 1TB", 11900, 22, "Pocket solid-state drive, USB 3.2, 1,050 MB/s."),
            ("Bluetooth Speaker", 5900, 28, "Waterproof speaker with 12 hours of play."),
            ("Webcam 1080p", 4900, 33, "Full HD webcam with dual microphones."),
            ("Smart Plug 2-Pack", 2400, 45, "Wi-Fi plugs with energy monitoring."),
        ],
    ),
    (
        "Outdoors",
        [
            ("Trail Running Shoes", 12900, 24, "Lightweight shoes with a rock plate."),
            ("Insulated Water Bottle", 2900, 90, "Keeps drinks cold for 24 hours, 750 ml."),
            ("Camping Headlamp", 3200, 55, "Rechargeable 400-lumen headlamp with red light."),
            ("Two-Person Tent", 18900, 10, "Freestanding backpacking tent, 1.8 kg."),
            ("Down Sleeping Bag", 21900, 8, "Rated to -5 C, packs to the size of a melon."),
            ("Trekking Poles", 6900, 26, "Collapsible carbon poles with cork grips."),
            ("Camp Stove", 4900, 19, "Compact canister stove with piezo ignition."),
        ],
    ),
    (
        "Home",
        [
            ("Linen Duvet Cover", 11900, 14, "Stonewashed linen, queen size."),
            ("Ceramic Table Lamp", 7400, 12, "Hand-glazed lamp with a linen shade."),
            ("Wool Throw Blanket", 8900, 20, "Merino wool throw, 130 x 170 cm."),
            ("Scented Candle Trio", 3600, 40, "Soy wax candles: cedar, fig, sea salt."),
            ("Storage Baskets Set", 3900, 30, "Three woven seagrass baskets."),
            ("Wall Clock", 4500, 16, "Silent sweep movement, oak frame."),
            ("Cotton Bath Towels", 4900, 38, "Set of two 600 gsm cotton towels."),
        ],
    ),
    (
        "Books",
        [
            ("The Pragmatic Pantry", 2400, 42, "A cookbook about cooking from what you have."),
            ("Field Guide to Birds", 2900, 27, "Illustrated guide to 500 species."),
            ("Learning Python Basics", 3900, 35, "An introduction to programming with Python."),
            ("Mountain Routes Atlas", 4500, 11, "Maps and notes for 120 alpine routes."),
            ("Short Stories Collection", 1800, 50, "Twenty contemporary short stories."),
            ("Design of Everyday Things", 2100, 29, "A classic on usability and design."),
        ],
    ),
    (
        "Toys",
        [
            ("Wooden Train Set", 5900, 17, "Beechwood train set with 40 pieces."),
            ("Building Blocks 500pc", 3900, 31, "Compatible bricks in 20 colours."),
            ("Puzzle 1000 Pieces", 1900, 44, "A harbour at dusk, 1000 pieces."),
            ("Plush Bear", 2200, 36, "Soft plush bear, 35 cm, machine washable."),
            ("Kite", 2600, 23, "Delta kite with 50 m of line."),
            ("Chess Set", 4900, 13, "Weighted pieces and a folding walnut board."),
        ],
    ),
    (
        "Apparel",
        [
            ("Merino T-Shirt", 5900, 48, "Lightweight merino tee that resists odour."),
            ("Rain Jacket", 14900, 15, "Waterproof breathable shell with pit zips."),
            ("Wool Socks 3-Pack", 2400, 75, "Cushioned hiking socks."),
            ("Canvas Tote Bag", 1900, 65, "Heavy canvas tote with inner pocket."),
            ("Leather Belt", 4400, 21, "Full-grain leather belt, solid brass buckle."),
            ("Knit Beanie", 2200, 52, "Ribbed wool beanie in five colours."),
            ("Denim Jeans", 8900, 26, "Straight fit selvedge denim."),
            ("Running Cap", 1900, 40, "Quick-dry cap with reflective details."),
        ],
    ),
]

DEMO_USERS = [
    ("customer", Role.CUSTOMER, "Casey Customer"),
    ("customer2", Role.CUSTOMER, "Chris Shopper"),
    ("support", Role.SUPPORT, "Sam Support"),
    ("warehouse", Role.WAREHOUSE, "Wes Warehouse"),
    ("finance", Role.FINANCE, "Fran Finance"),
    ("admin", Role.ADMIN, "Ada Admin"),
]


def demo_password(username: str) -> str:
    return f"{username}{DEMO_PASSWORD_SUFFIX}"


def is_empty(session: Session) -> bool:
    users = session.scalar(select(func.count()).select_from(User)) or 0
    products = session.scalar(select(func.count()).select_from(Product)) or 0
    return users == 0 and products == 0


def seed_demo_data(session: Session) -> bool:
    """Fill an empty database with demo users and products. False (and nothing written)
    when any user or product exists already, so it is safe to run at every start."""
    if not is_empty(session):
        return False
    with transaction(session):
        if not is_empty(session):
            return False
        for username, role, name in DEMO_USERS:
            session.add(
                User(
                    username=username,
                    password_hash=hash_password(demo_password(username)),
                    role=role,
                    name=name,
                    email=f"{username}@example.com",
                )
            )
        for category, items in CATALOG:
            prefix = category[:3].upper()
            for i, (name, price, stock, description) in enumerate(items, start=1):
                session.add(
                    Product(
                        sku=f"{prefix}-{i:03d}",
                        name=name,
                        price_cents=price,
                        stock=stock,
                        description=description,
                        category=category,
                    )
                )
    customer = session.scalars(select(User).where(User.username == "customer")).one()
    grant_credit(
        session, customer_id=customer.id, amount_cents=2500, reason="welcome_gift", actor_id=None
    )
    return True
