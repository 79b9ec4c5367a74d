"""The data tests share: ``NOW``, the demo schema's file, and the hand-checked store of the language's examples
(``CONTACTS``, ``EVENTS``) with every rule of the language issue and the contacts it must select (``CASES``).

The store is small enough to check by hand; the comments say why each contact is in or out. All times are relative
to NOW = 2026-11-01T00:00:00Z. Tests import these from here, never from one another.
"""

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from storebuilder import build_store

DEMO_SCHEMA = Path(__file__).parent.parent / "runtime" / "demo" / "schema.toml"
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

# Contact attributes of every type and a purchase event type: the schemas of the loader and saved-store tests.
EVERY_TYPE_ATTRIBUTES = {
    "city": {"type": "category", "values": ["Kyiv", "Lviv"]},
    "email": "string",
    "born": "date",
    "seen": "timestamp",
    "vip": "bool",
    "points": "int",
    "score": "float",
    "tags": "tags",
}
PURCHASE_EVENT = {"verb": "bought", "properties": {"amount": "float", "brand": "string"}}


def ago(days: float = 0, hours: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, hours=hours)


CONTACTS = [
    # id 1 ann: 36, Kyiv, opens on iOS, bought an iPhone 100 days ago (churned)
    dict(id=1, gender="f", city="Kyiv", country="UA", birth_date="1990-05-10", created_at=ago(10),
         email="ann@gmail.com", email_subscribed=True, loyalty_points=120, tags=["vinyl", "jazz"]),
    # id 2 bob: turns 25 today, recent Samsung buyer, views iPhones
    dict(id=2, gender="m", city="Lviv", country="UA", birth_date="2001-11-01", created_at=ago(500),
         email="bob@corp.com", email_subscribed=False, loyalty_points=5, tags=["rock"]),
    # id 3 cat: mostly nulls; an open exactly 90 days ago and one after now
    dict(id=3, gender="f", city="Berlin", country="DE", created_at=ago(400), tags=[]),
    # id 4 dan: turns 40 tomorrow, no city, a newcomer who views iPhones a lot and bought once
    dict(id=4, gender="x", birth_date="1986-11-02", created_at=ago(hours=1), email="dan@gmail.com",
         email_subscribed=True, loyalty_points=0, tags=["vinyl"]),
    # id 5 eve: heavy opener, Apple accessories buyer
    dict(id=5, gender="f", city="Kyiv", country="UA", birth_date="2000-01-01", created_at=ago(2000),
         email="eve@yahoo.com", email_subscribed=True, loyalty_points=1000, tags=["jazz", "vip", "vinyl"]),
    # id 6 fay: no gender, 66, signed up 29 days ago, never bought
    dict(id=6, city="Odesa", country="UA", birth_date="1960-03-03", created_at=ago(29), email="fay@GMAIL.com",
         email_subscribed=False),
]

EVENTS = {
    "email_open": [
        dict(id=1, ts=ago(1), device="ios"), dict(id=1, ts=ago(2), device="ios"),
        dict(id=1, ts=ago(3), device="android"), dict(id=1, ts=ago(200), device="desktop"),
        dict(id=2, ts=ago(10), device="desktop"),
        dict(id=3, ts=ago(90), device="ios"), dict(id=3, ts=ago(hours=-1), device="android"),  # edge; after now
        *[dict(id=5, ts=ago(d), device="android") for d in (1, 2, 3, 4, 5)],
        dict(id=6, ts=ago(45), device="ios"), dict(id=6, ts=ago(46), device="ios"),
        dict(id=6, ts=ago(47), device="android"),
    ],
    "email_click": [
        dict(id=5, ts=ago(1)), dict(id=5, ts=ago(2)), dict(id=1, ts=ago(60)), dict(id=6, ts=ago(100)),
    ],
    "product_view": [
        *[dict(id=4, ts=ago(d), category="iPhones", brand="Apple", price=1000.0) for d in (1, 2, 3, 4)],
        dict(id=2, ts=ago(5), category="iPhones", brand="Apple", price=900.0),
        dict(id=2, ts=ago(6), category="iPhones", brand="Apple", price=900.0),
        dict(id=2, ts=ago(7), category="Laptops", brand="Dell", price=700.0),
        dict(id=6, ts=ago(10), category="Vinyl", brand="Universal", price=30.0),
        dict(id=6, ts=ago(11), category="Books", brand="Penguin", price=15.0),
        dict(id=6, ts=ago(12), category="Games", brand="Nintendo", price=60.0),
    ],
    "purchase": [
        dict(id=1, ts=ago(100), category="iPhones", brand="Apple", amount=1200.0, quantity=1),
        dict(id=2, ts=ago(10), category="Smartphones", brand="Samsung", amount=300.0, quantity=1),
        dict(id=2, ts=ago(400), category="Headphones", brand="Sony", amount=250.0, quantity=1),
        dict(id=3, ts=ago(50), category="Accessories", brand="Apple", amount=None, quantity=1),
        dict(id=4, ts=ago(3), category="Accessories", brand="Apple", amount=30.0, quantity=1),
        dict(id=5, ts=ago(5), category="Accessories", brand="Apple", amount=50.0, quantity=1),
        dict(id=5, ts=ago(20), category="Accessories", brand="Apple", amount=80.0, quantity=2),
        dict(id=5, ts=ago(200), category="Books", brand="Penguin", amount=20.0, quantity=1),
        dict(id=5, ts=ago(300), category="Laptops", brand="Apple", amount=600.0, quantity=1),
    ],
    "app_open": [dict(id=4, ts=ago(1), device="ios"), dict(id=2, ts=ago(2), device="android")],
    "webpush_subscribe": [dict(id=3, ts=ago(5), device="ios", browser="safari")],
}

CASES = [
    # -- the mission's example
    ("opened>2 within 90d and (ios_open or bought brand=Apple)", {1, 5, 6}),  # 3: no opens in (now-90d, now]
    # -- event conditions
    ("opened", {1, 2, 3, 5, 6}),  # 3's open exactly 90 days ago counts; its open after now never does
    ("opened within 90d", {1, 2, 5, 6}),  # (now - 90d, now]: 3's open at exactly now - 90d is out
    ("opened > 2 within 90d", {1, 5, 6}),
    ("opened = 1", {2, 3}),  # 3: the open after now is not counted
    ("viewed category=iPhones > 3 times within 21d", {4}),
    ("viewed category=iPhones > 3 within 21d", {4}),
    ("not bought within 90d", {1, 6}),
    ("opened between 2 and 5 times within 30d", {1, 5}),
    ("viewed category=iPhones, price >= 500 within 3w", {2, 4}),
    ("bought brand in (Apple, Samsung)", {1, 2, 3, 4, 5}),
    ("bought brand not in (Apple, Samsung)", {2, 5}),
    ("viewed brand startswith Nin", {6}),
    ('bought category endswith "phones"', {2}),  # iPhones ends with "Phones": case-sensitive
    ('viewed category contains "phone"', set()),  # case-sensitive: iPhones has "Phone"
    ("viewed price between 600 and 950", {2}),
    ("bought amount is null", {3}),
    ("app_opened device=ios or push_subscribed device=ios", {3, 4}),
    # -- windows
    ("opened since 2026-10-30", {1, 5}),
    ("opened before 2026-04-15", set()),  # ann's open is at 2026-04-15 00:00: not strictly before
    ("opened before 2026-04-16", {1}),
    ("opened before 90d ago", {1, 3}),  # exactly the opens up to now that `within 90d` leaves out
    ("opened between 2026-10-30 and 2026-10-31", {1, 5}),  # whole days, both included
    ("opened between 2026-10-31T00:00:00Z and 2026-10-31T00:00:00Z", {1, 5}),  # instants, both included
    ("opened between 2 and 5 times between 2026-10-01 and 2026-10-31", {1, 5}),
    ("opened within 1d", set()),  # 1 and 5 opened exactly 1 day ago; 3's open after now never counts
    ("opened within 2mo", {1, 2, 5, 6}),  # since 2026-09-01
    # -- aggregates
    ("sum(bought.amount within 365d) > 500", {1, 5}),
    ("avg(bought.amount) > 100", {1, 2, 5}),  # 3's only amount is null: avg is null, the comparison false
    ("min(bought.amount) >= 250", {1, 2}),
    ("max(bought.amount within 30d) < 100", {4, 5}),
    ("count(viewed category=iPhones within 21d) > 3", {4}),
    ("distinct(viewed.category within 30d) >= 3", {6}),
    ("sum(bought.amount) = 0", {3, 6}),  # sum of nothing (or of nulls only) is 0
    ("count(bought) = 0", {6}),
    ("avg(bought.amount) is null", {3, 6}),
    ("first(bought) within 30d", {4}),  # a cohort: the first purchase ever was in the last 30 days
    ("first(bought within 30d) is not null", {2, 4, 5}),
    ("days_since(last(bought)) > 90", {1}),
    ("last(clicked between 2026-10-01 and 2026-10-31) is not null", {5}),  # a date window inside an aggregate
    ("last(opened) > 2026-10-30T12:00:00Z", {1, 5}),
    ("count(clicked within 90d) / count(opened within 90d) >= 0.2", {1, 5}),  # 4: 0/0 is null
    # -- attributes
    ("gender = f", {1, 3, 5}),
    ("city in (Kyiv, Lviv)", {1, 2, 5}),
    ("country != UA", {3}),  # 4 has no country: the comparison is false
    ("email_subscribed", {1, 4, 5}),
    ("not email_subscribed", {2, 3, 6}),  # 3: null, so `email_subscribed` is false and its negation true
    ("age(birth_date) between 25 and 40", {1, 2, 4, 5}),  # 2 turned 25 today, 4 turns 40 tomorrow
    ("created_at within 30d", {1, 4, 6}),
    ("created_at > 2026-10-01", {1, 4, 6}),  # a date against a timestamp: its midnight
    ("birth_date < 1970-01-01", {6}),
    ('email endswith "@gmail.com"', {1, 4}),  # fay@GMAIL.com: case-sensitive
    ("city is null", {4}),
    ("city is not null", {1, 2, 3, 5, 6}),
    ("tags has vinyl", {1, 4, 5}),
    ("tags has any (rock, vip)", {2, 5}),
    ("tags has all (vinyl, jazz)", {1, 5}),
    ("loyalty_points not in (0, 5)", {1, 5}),  # null is not "not in" anything
    ("not loyalty_points > 10", {2, 3, 4, 6}),
    # -- arithmetic
    ("loyalty_points + 10 * 2 >= 30", {1, 5}),
    ("(loyalty_points + 10) * 2 >= 30", {1, 2, 5}),
    ("loyalty_points / 0 is null", {1, 2, 3, 4, 5, 6}),
    ("-loyalty_points < -100", {1, 5}),
    # -- segments of the mission
    ("bought and not bought within 90d", {1}),
    ("churned", {1}),
    ("engaged", {1, 2, 5}),
    ("opened within 90d and not opened within 30d", {6}),
    ("created_at within 30d and not bought", {6}),
    ("gender = f and city in (Kyiv, Lviv) and age(birth_date) between 25 and 40 and tags has vinyl", {1, 5}),
    # -- syntax
    ("true", {1, 2, 3, 4, 5, 6}),
    ("false", set()),
    ("gender = f  # women\n  and city = Kyiv", {1, 5}),
    ("not (gender = f or gender = m)", {4, 6}),
    ("not gender = f and city = Kyiv", set()),  # not binds tighter than and
    ("gender == f", {1, 3, 5}),
]


# == the command line's data: five contacts in a Parquet folder, and running the CLI in process ==================

NOW_TEXT = "2026-11-01T00:00:00Z"

CLI_SCHEMA = """
[contacts]
id = "contact_id"

[contacts.attributes]
city = { type = "category", values = ["Kyiv", "Lviv"] }
vip = "bool"

[events.purchase]
verb = "bought"
[events.purchase.properties]
amount = "float"

[events.email_open]
verb = "opened"
"""


# contact: city, vip; purchases (days ago, amount); opens (days ago)
#   1: Kyiv, vip      bought 100 (5d), 50 (40d)   opened 1d, 2d, 3d
#   2: Lviv, not vip  bought 700 (10d)
#   3: Kyiv, vip null no events
#   4: no city, vip                              opened 100d
#   5: Lviv, not vip  bought 20 (200d)
CLI_CONTACTS = {"contact_id": [1, 2, 3, 4, 5], "city": ["Kyiv", "Lviv", "Kyiv", None, "Lviv"],
            "vip": [True, False, None, True, False]}  # fmt: skip
CLI_PURCHASES = [(1, 40, 50.0), (1, 5, 100.0), (2, 10, 700.0), (5, 200, 20.0)]
CLI_OPENS = [(1, 3), (1, 2), (1, 1), (4, 100)]
CLI_TIMESTAMP = pa.timestamp("us", tz="UTC")
REF = ("--engine", "reference")



def write_cli_data(directory: Path) -> Path:
    """The command line tests' five contacts as a Parquet folder with its schema.toml, in ``directory``."""
    (directory / "events").mkdir()
    contacts = pa.table(
        {
            "contact_id": pa.array(CLI_CONTACTS["contact_id"], pa.int64()),
            "city": pa.array(CLI_CONTACTS["city"], pa.string()),
            "vip": pa.array(CLI_CONTACTS["vip"], pa.bool_()),
        }
    )
    purchases = pa.table(
        {
            "contact_id": pa.array([c for c, _, _ in CLI_PURCHASES], pa.int64()),
            "timestamp": pa.array([ago(d) for _, d, _ in CLI_PURCHASES], CLI_TIMESTAMP),
            "amount": pa.array([a for _, _, a in CLI_PURCHASES], pa.float64()),
        }
    )
    opens = pa.table(
        {
            "contact_id": pa.array([c for c, _ in CLI_OPENS], pa.int64()),
            "timestamp": pa.array([ago(d) for _, d in CLI_OPENS], CLI_TIMESTAMP),
        }
    )
    pq.write_table(contacts, directory / "contacts.parquet")
    pq.write_table(purchases, directory / "events" / "purchase.parquet")
    pq.write_table(opens, directory / "events" / "email_open.parquet")
    (directory / "schema.toml").write_text(CLI_SCHEMA, encoding="utf-8")
    return directory


def run(capsys, *argv: str) -> tuple[int, str, str]:
    from segmint.runtime import cli

    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, _ = run(capsys, *argv, "--json")
    assert out.endswith("\n") and out.count("\n") == 1, "--json prints exactly one line"
    return code, json.loads(out)


# == live segments: five contacts who open e-mails ================================================================

LIVE_CONTACTS = [
    dict(id=i, city=city) for i, city in ((10, "Kyiv"), (20, "Lviv"), (30, "Kyiv"), (40, "Berlin"), (50, None))
]
LIVE_OPENS = [dict(id=10, ts=ago(1), device="ios"), dict(id=20, ts=ago(6), device="ios"), dict(id=30, ts=ago(20),
         device="android"), dict(id=40, ts=ago(8), device="ios")]


def live_store(contacts=LIVE_CONTACTS, opens=LIVE_OPENS, schema=None):
    """The live segments' tiny store: five contacts and their e-mail opens, relative to NOW."""
    return build_store(schema, contacts, {"email_open": opens})


# Rules the partitioned-store tests run on one store and on its partitions (ranks included: they must stay global).
PARTITION_RULES = [
    "bought brand = Apple",
    "count(bought) >= 2 or city = Kyiv",
    "not opened within 30d",
    "sum(bought.amount) > 50 and tags has vip",
    "percentile(sum(bought.amount)) >= 50",
    "quintile(count(bought)) = 5 or decile(loyalty_points) <= 3",
    "rfm(bought.amount) in (555, 554, 545, 455) or rfm_r(bought.amount within 365d) >= 4",
    "percentile(percentile(sum(bought.amount)) + loyalty_points) >= 40",
]
