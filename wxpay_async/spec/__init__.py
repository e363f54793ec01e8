"""The endpoint spec (operations.json): the single source of truth for code generation.

The hand-written inputs of ``scripts/openapi_to_spec.py`` are ``overrides.json``,
``descriptions.json``, ``sources.json``, ``answer_required.json`` and ``corrections.json``.
A family added without reference YAML (brand-direct product coupons, merchant coupons) keeps its
part of each in one file, ``families/<family>.json``, keyed by the stem of the file it extends
(``{"overrides": {"operations": {...}}, "sources": {"operations": {...}}, ...}``), so families
are added side by side without editing the shared files. :func:`load_part` merges them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parent


def load_part(stem: str) -> dict[str, Any]:
    """``<stem>.json`` with every family file's ``<stem>`` section merged in (dicts one level deep).

    A key defined twice with different values (an operation in two files) is an error: each entry
    has one home. The same value twice (one field's English in two families) is not a clash.
    """
    base: dict[str, Any] = json.loads((SPEC_DIR / f"{stem}.json").read_text(encoding="utf-8"))
    for family in sorted((SPEC_DIR / "families").glob("*.json")):
        part = json.loads(family.read_text(encoding="utf-8")).get(stem) or {}
        for key, value in part.items():
            if key == "note":
                continue
            if isinstance(value, dict):
                target = base.setdefault(key, {})
                for sub, entry in value.items():
                    if sub not in target or target[sub] == entry:
                        target[sub] = entry
                    elif isinstance(entry, dict) and isinstance(target[sub], dict):
                        clash = [k for k in entry if k in target[sub] and target[sub][k] != entry[k]]
                        if clash:
                            raise ValueError(f"{family.name}: {stem}.{key}.{sub}.{clash[0]} is defined twice")
                        target[sub] = {**target[sub], **entry}
                    else:
                        raise ValueError(f"{family.name}: {stem}.{key}.{sub} is defined twice")
            elif isinstance(value, list):
                base.setdefault(key, []).extend(value)
            else:
                raise ValueError(f"{family.name}: {stem}.{key} must be an object or a list")
    return base
