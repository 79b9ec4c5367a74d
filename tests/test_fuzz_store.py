"""Fuzzing saved stores (``Store.open``): the store of tests/test_examples.py saved, then one of its files damaged
(bytes flipped, cut short, lengthened, deleted, swapped with another file's) or its manifest edited (a place replaced
by junk).

- Opening gives a store or a ``SegmintError``; evaluating a rule on an opened store gives the answer the undamaged
  store gives, or a ``SegmintError``: never another exception, never a wrong answer, never a read out of bounds
  (tests/test_fuzz_bounds.py runs this module with Numba's bounds checks on).
"""

import json
import shutil
import tempfile
from pathlib import Path

from data import CONTACTS, EVENTS
from fuzzgen import ENGINES, JSON_VALUES, NOW, SCHEMA, attempt, fuzz, places, put, refused, shown
from hypothesis import given
from hypothesis import strategies as st
from storebuilder import build_store

import segmint

# Rules that read every kind of saved array: ids, offsets, times, codes of narrow and wide dictionaries, tags,
# validity masks, integers, floats, dates and timestamps.
RULES = [
    "opened > 2 within 90d",
    "viewed category=iPhones, price >= 500 within 3w",
    "bought brand not in (Apple, Samsung)",
    "sum(bought.amount within 365d) > 500",
    "avg(bought.amount) is null",
    "distinct(viewed.category within 30d) >= 3",
    "first(bought) within 30d",
    "last(clicked between 2026-10-01 and 2026-10-31) is not null",
    "opened device = ios",
    "gender = f and city in (Kyiv, Lviv)",
    'email endswith "@gmail.com"',
    "not email_subscribed",
    "age(birth_date) between 25 and 40",
    "created_at within 30d",
    "tags has any (rock, vip)",
    "loyalty_points not in (0, 5)",
]
STORE = build_store(SCHEMA, CONTACTS, EVENTS)
SEGMENTS = [segmint.compile(rule, SCHEMA) for rule in RULES]
ANSWERS = [segment.evaluate(STORE, now=NOW, engine="reference").mask for segment in SEGMENTS]


NPY_HEADER = 128
# Positions are drawn as numbers taken modulo a file's length or a list's size: the store's file sizes and names
# may differ from one save to the next, and Hypothesis replays draws, not positions.
ANY = st.integers(0, 2**32)


@st.composite
def damage(draw, folder: Path) -> str:
    """Damage one file of the saved store in ``folder``; says what was done (Hypothesis prints it on failure)."""
    files = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    name = files[draw(ANY) % len(files)]
    path = folder / name
    content = path.read_bytes()
    kind = draw(st.sampled_from(["flip", "flip", "flip", "cut", "lengthen", "delete", "swap", "manifest"]))
    match kind:
        case "flip" if content:
            data = bytearray(content)
            # Mostly in the values (a .npy header is 128 bytes), where nothing but a checksum can see a change.
            start = NPY_HEADER if len(data) > NPY_HEADER and draw(st.sampled_from([True, True, True, False])) else 0
            flips = []
            for _ in range(draw(st.integers(1, 4))):
                at = start + draw(ANY) % (len(data) - start)
                mask = draw(st.sampled_from([1, 0x80, 0x40, 0xFF, 2]))
                data[at] ^= mask
                flips.append(f"byte {at} ^= {mask:#x}")
            path.write_bytes(bytes(data))
            return f"{name}: {', '.join(flips)} (of {len(data)} bytes)"
        case "cut":
            size = draw(ANY) % max(1, len(content))
            path.write_bytes(content[:size])
            return f"{name}: cut to {size} of {len(content)} bytes"
        case "lengthen":
            extra = draw(st.binary(min_size=1, max_size=64))
            path.write_bytes(content + extra)
            return f"{name}: {extra!r} appended"
        case "delete":
            path.unlink()
        case "swap":
            others = [file for file in files if file != name]
            other = others[draw(ANY) % len(others)]
            shutil.copyfile(folder / other, path)
            return f"{name}: replaced by a copy of {other}"
        case "manifest":
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            edits = []
            for _ in range(draw(st.integers(1, 2))):
                where = list(places(manifest))[1:]
                place, value = where[draw(ANY) % len(where)], draw(JSON_VALUES)
                manifest = put(manifest, place, value)
                edits.append(f"manifest{''.join(f'[{key!r}]' for key in place)} = {value!r}")
            (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
            return "; ".join(edits)
    return f"{name}: {kind}"


def assert_right_or_refused(store, engines) -> None:
    for segment, expected in zip(SEGMENTS, ANSWERS, strict=True):
        for engine in engines:
            got = attempt(segment.evaluate, store, now=NOW, engine=engine)
            if not refused(got):
                assert (got.mask == expected).all(), (
                    f"{segment.text}: {engine} gives a wrong answer on the damaged store: contacts "
                    f"{store.ids[got.mask].tolist()}, not {STORE.ids[expected].tolist()}"
                )


def damaged_store_answers(data, engines) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "store"
        STORE.save(folder)
        data.draw(damage(folder))
        store = attempt(segmint.Store.open, folder)
        if not refused(store):
            assert_right_or_refused(shown(store), engines)


@fuzz(100)
@given(data=st.data())
def test_fuzz_damaged_stores(data):
    damaged_store_answers(data, ("reference", "vector"))


@fuzz(25)  # one kernel per rule for the undamaged store's shape; a damaged dtype may compile another
@given(data=st.data())
def test_fuzz_damaged_stores_compiled(data):
    damaged_store_answers(data, ENGINES)
