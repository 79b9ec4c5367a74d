"""Every example of docs/language.md compiles against the demo schema; every error example fails to."""

import re
from pathlib import Path

import pytest

import segmint

DOC = (Path(__file__).parent.parent / "docs" / "language.md").read_text(encoding="utf-8")


def blocks(kind: str) -> list[str]:
    """The rules of the fenced blocks of a kind: one per line; an indented line continues the rule above it."""
    rules = []
    for block in re.findall(rf"```{kind}\n(.*?)```", DOC, flags=re.S):
        for line in block.splitlines():
            if line.startswith(" ") and rules:
                rules[-1] += "\n" + line
            elif line.strip():
                rules.append(line)
    return rules


@pytest.mark.parametrize("rule", blocks("segmint"))
def test_documented_rule_compiles(schema, rule):
    segment = segmint.compile(rule, schema)
    assert segmint.compile(segment.text, schema).ir == segment.ir


@pytest.mark.parametrize("rule", blocks("segmint-error"))
def test_documented_error_is_an_error(schema, rule):
    with pytest.raises(segmint.RuleError):
        segmint.compile(rule, schema)


def test_quick_reference_examples_compile(schema):
    section = DOC.split("## Quick reference")[1].split("\n## ")[0]
    rules = [
        snippet
        for row in section.splitlines()[4:]
        if row.startswith("| ")
        for snippet in re.findall(r"`([^`]+)`", row.split(" | ")[1])
    ]
    assert len(rules) >= 12
    for rule in rules:
        segmint.compile(rule, schema)
