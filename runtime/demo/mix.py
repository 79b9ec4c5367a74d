"""What the demo population is made of: event mix, shares, value lists and rates the generator draws from.

Shares are relative weights (normalised where they are used); value lists follow the order of the demo schema's
declared values, which the generator checks when it builds its lookup tables.
"""

# Average events per contact of each type at events_per_contact=26 (they are rescaled to the requested total).
EVENT_MIX = {
    "email_open": 12.0,
    "email_click": 2.5,
    "product_view": 9.0,
    "purchase": 0.6,
    "app_open": 2.0,
    "webpush_subscribe": 0.05,
}

# -- vocabulary and popularity ------------------------------------------------------------------------------------
DEVICES = ("ios", "android", "desktop", "web")  # a contact's usual device, in this order
DEVICE_SHARE = {"ios": 0.34, "android": 0.36, "desktop": 0.22, "web": 0.08}
DEVICE_STICKINESS = 0.85  # share of a contact's events on their usual device
PHONES = ("ios", "android")

CITY_COUNTRY = {
    "Kyiv": "UA", "Lviv": "UA", "Odesa": "UA", "Kharkiv": "UA", "Dnipro": "UA", "Warsaw": "PL", "Krakow": "PL",
    "Berlin": "DE", "Munich": "DE", "Vienna": "AT", "Prague": "CZ", "Vilnius": "LT", "Riga": "LV", "Tallinn": "EE",
    "London": "GB", "Paris": "FR", "Madrid": "ES", "Rome": "IT", "Lisbon": "PT", "Amsterdam": "NL",
}  # fmt: skip
CITY_SHARE = {
    "Kyiv": 18, "Lviv": 7, "Odesa": 6, "Kharkiv": 6, "Dnipro": 5, "Warsaw": 9, "Krakow": 4, "Berlin": 8, "Munich": 3,
    "Vienna": 3, "Prague": 3, "Vilnius": 2, "Riga": 1.5, "Tallinn": 1, "London": 8, "Paris": 5, "Madrid": 3,
    "Rome": 2.5, "Lisbon": 2, "Amsterdam": 3,
}  # fmt: skip

FIRST_NAMES = (
    "anna", "olena", "iryna", "maria", "oksana", "kateryna", "sofia", "yulia", "natalia", "tetiana", "daria",
    "viktoria", "alina", "emma", "lena", "julia", "andrii", "oleksandr", "dmytro", "serhii", "mykola", "ivan",
    "taras", "maksym", "yurii", "petro", "piotr", "jan", "lukas", "max", "tomas", "john", "james", "pierre", "luca",
    "marco", "pedro", "joao", "daan",
)  # fmt: skip
LAST_NAMES = (
    "shevchenko", "kovalenko", "bondarenko", "tkachenko", "kravchenko", "melnyk", "boyko", "koval", "marchenko",
    "lysenko", "rudenko", "savchenko", "nowak", "kowalski", "wisniewski", "muller", "schmidt", "schneider",
    "fischer", "weber", "novak", "svoboda", "kazlauskas", "berzins", "tamm", "smith", "jones", "brown", "martin",
    "bernard", "garcia", "lopez", "rossi", "bianchi", "silva", "santos", "devries", "jansen",
)  # fmt: skip
EMAIL_DOMAINS = {
    "gmail.com": 45, "ukr.net": 8, "outlook.com": 10, "icloud.com": 10, "yahoo.com": 5, "proton.me": 3,
    "gmx.de": 5, "wp.pl": 4, "seznam.cz": 2, "example.org": 8,
}  # fmt: skip

TAGS = ("vinyl", "jazz", "rock", "classical", "gamer", "photo", "runner", "traveler", "parent", "student", "vip", "b2b")
TAG_RATE = (0.03, 0.02, 0.04, 0.015, 0.04, 0.025, 0.05, 0.07, 0.09, 0.06, 0.0, 0.03)  # vip goes by loyalty points
TAG_BOOST = {  # favourite category -> tags that contact is much more likely to carry
    "Vinyl": ("vinyl", "jazz", "rock", "classical"),
    "Games": ("gamer", "student"),
    "Cameras": ("photo", "traveler"),
    "Watches": ("runner",),
}
MAX_TAGS = 4

CATEGORY_SHARE = {
    "iPhones": 10, "Smartphones": 14, "Laptops": 9, "Tablets": 6, "Headphones": 11, "Watches": 6, "TVs": 5,
    "Cameras": 3, "Vinyl": 7, "Books": 10, "Games": 8, "Accessories": 11,
}  # fmt: skip
CATEGORY_BRANDS = {
    "iPhones": {"Apple": 1},
    "Smartphones": {"Samsung": 45, "Xiaomi": 35, "Google": 20},
    "Laptops": {"Apple": 30, "Lenovo": 20, "Dell": 20, "HP": 15, "Asus": 15},
    "Tablets": {"Apple": 55, "Samsung": 30, "Lenovo": 15},
    "Headphones": {"Sony": 35, "Bose": 30, "Apple": 25, "Samsung": 10},
    "Watches": {"Apple": 55, "Samsung": 30, "Google": 15},
    "TVs": {"Samsung": 40, "Sony": 30, "Philips": 30},
    "Cameras": {"Canon": 60, "Sony": 40},
    "Vinyl": {"Universal": 1},
    "Books": {"Penguin": 1},
    "Games": {"Nintendo": 50, "Sony": 50},
    "Accessories": {"Apple": 30, "Samsung": 25, "Xiaomi": 25, "Philips": 20},
}
CATEGORY_PRICE = {  # median price; prices are lognormal around it
    "iPhones": 1000, "Smartphones": 450, "Laptops": 1100, "Tablets": 550, "Headphones": 180, "Watches": 350,
    "TVs": 800, "Cameras": 900, "Vinyl": 30, "Books": 15, "Games": 55, "Accessories": 35,
}  # fmt: skip
PRICE_SIGMA = 0.35
VIEW_FAVOURITE = 0.55  # share of product views in the contact's favourite category
BUY_FAVOURITE = 0.75  # purchases stick to it even more: people buy what they keep looking at
QUANTITY_SHARE = {1: 82, 2: 13, 3: 5}

CAMPAIGN_SHARE = {"promo": 45, "newsletter": 30, "trigger": 15, "transactional": 10}
URLS = tuple(
    f"https://shop.example.com/{path}"
    for path in ("", "sale", "new", "cart", "account", "blog", *(c.lower() for c in CATEGORY_SHARE))
)
URL_GENERAL_SHARE = (30, 20, 12, 8, 5, 5)  # of the general pages; category pages follow the favourite category
APP_VERSIONS = ("4.2.0", "4.3.1", "4.4.0", "5.0.0", "5.0.2", "5.1.0")
APP_RELEASE_DAYS_AGO = (700, 560, 420, 280, 140, 35)
BROWSER_BY_DEVICE = {
    "ios": {"safari": 1},
    "android": {"chrome": 85, "firefox": 10, "edge": 5},
    "desktop": {"chrome": 60, "safari": 15, "firefox": 12, "edge": 13},
}
DEVICE_NULL = 0.01  # opens and clicks whose user agent nobody could parse

LUT_BITS = 12  # categorical draws read a 4096-entry lookup table: probabilities are exact to 1/4096
