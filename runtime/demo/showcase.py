"""The rules ``segmint demo`` shows: the mission's segments on the demo schema, as (name, rule, parameters).

Segments the demo schema defines (``churned``, ``engaged``) are shown with the schema's own text, so the two can
never drift apart.
"""

from __future__ import annotations

from .generator import demo_schema

_DEFINED = demo_schema().definitions

SHOWCASE: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "mission",
        "opened > 2 within 90d and (ios_open or viewed category=iPhones > 3 times within 21d or bought brand=Apple)",
        {},
    ),
    ("churned", _DEFINED["churned"], {}),
    ("engaged", _DEFINED["engaged"], {}),
    ("high value", "sum(bought.amount within 365d) > 500", {}),
    ("newcomers", "created_at within 30d and not bought", {}),
    ("demographic", "gender = f and city in (Kyiv, Lviv) and age(birth_date) between 25 and 40", {}),
    (
        "parametric",
        "viewed category=$category within $days and not bought category=$category",
        {"category": "Laptops", "days": "14d"},
    ),
)
