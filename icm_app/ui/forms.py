"""The settings form, generated from the config dataclasses (help texts, choices) and the field table
(ui/fields.py: labels, groups), so nothing is written twice.

Every field is read as text and parsed where it stands; a value the dataclass refuses gets its message,
in words, under its own field. The form returns configs only when every field is valid, so nothing wrong
is ever stored.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from ..numbers import parse_number
from .fields import GROUPS

REFUSAL = re.compile(r"^\w+\.(\w+)=.*?: (.*)$")  # "SearchConfig.min_share=1.5: must be in [0, 1]"


@dataclass
class Spec:
    """One dataclass in the form: its class, current values and field table (name -> (label, group))."""

    cls: type
    values: dict[str, Any]
    table: dict[str, tuple[str, str]]


@dataclass
class FormResult:
    configs: list[Any] | None  # one instance per Spec, or None while any field is wrong
    errors: dict[str, str] = field(default_factory=dict)  # field name -> message shown under it


def settings_form(specs: list[Spec], *, prefix: str, hide: tuple[str, ...] = ()) -> FormResult:
    """Each group's fields in three columns (Advanced in a collapsed expander; `hide` skips groups)."""
    parsed: list[dict[str, Any]] = [{} for _ in specs]
    errors: dict[str, str] = {}
    slots: dict[str, Any] = {}
    for group in (g for g in GROUPS if g not in hide):
        members = [(k, f) for k, spec in enumerate(specs) for f in dataclasses.fields(spec.cls)
                   if spec.table.get(f.name, ("", ""))[1] == group]  # fmt: skip
        if not members:
            continue
        box = st.expander(group, expanded=False) if group == "Advanced" else st.container()
        if group != "Advanced":
            box.markdown(f"**{group}**")
        columns = box.columns(3)
        for n, (k, f) in enumerate(members):
            with columns[n % 3]:
                value, message = _input(f, specs[k], key=f"{prefix}_{f.name}")
                parsed[k][f.name] = value
                slots[f.name] = st.empty()
                if message:
                    errors[f.name] = message
    configs = None if errors else _build(specs, parsed, errors)
    for name, message in errors.items():
        (slots.get(name) or st).error(message, icon=":material/error:")
    return FormResult(configs, errors)


def _input(f: dataclasses.Field, spec: Spec, *, key: str) -> tuple[Any, str | None]:
    """(parsed value, message if it cannot be parsed) for one field's widget."""
    label, meta = spec.table[f.name][0], f.metadata
    value = spec.values.get(f.name, f.default)
    kind = str(f.type)
    if meta.get("choices"):
        choices = list(meta["choices"])
        return st.selectbox(label, choices, index=choices.index(value), help=meta.get("help"), key=key), None
    if "bool" in kind:
        return st.checkbox(label, value=bool(value), help=meta.get("help"), key=key), None
    text = st.text_input(label, "" if value is None else str(value), help=meta.get("help"), key=key)
    if "int" not in kind and "float" not in kind:
        return text, None
    return parse_number(text, whole="int" in kind, optional="None" in kind)


def _build(specs: list[Spec], parsed: list[dict[str, Any]], errors: dict[str, str]) -> list[Any] | None:
    """The dataclasses from the parsed fields; a refusal goes under the field it names."""
    out = []
    for spec, values in zip(specs, parsed):
        try:
            out.append(spec.cls(**{**spec.values, **values}))
        except (ValueError, TypeError) as exc:
            found = REFUSAL.match(str(exc))
            name = found.group(1) if found and found.group(1) in values else next(iter(values))
            why = found.group(2) if found else str(exc)
            for other, (label, _) in spec.table.items():  # "must be <= max_share": the other field's label
                why = re.sub(rf"\b{other}\b", f"“{label}”", why)
            errors[name] = why[0].upper() + why[1:] + "."
    return None if errors else out
