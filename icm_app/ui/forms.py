"""Widgets generated from the config dataclasses, so help texts and choices are written once."""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st


def dataclass_inputs(
    cls: type, values: dict[str, Any], *, prefix: str, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One input per field, defaulting to `values`, with the field's help and choices."""
    out: dict[str, Any] = {}
    columns = st.columns(3)
    for k, f in enumerate(f for f in dataclasses.fields(cls) if f.name not in skip):
        value, meta, key = values.get(f.name, f.default), f.metadata, f"{prefix}_{f.name}"
        label = f.name.replace("_", " ")
        with columns[k % 3]:
            if meta.get("choices"):
                choices = list(meta["choices"])
                out[f.name] = st.selectbox(
                    label, choices, index=choices.index(value), help=meta.get("help"), key=key
                )
            elif isinstance(value, bool) or "bool" in str(f.type):
                out[f.name] = st.checkbox(label, value=bool(value), help=meta.get("help"), key=key)
            elif "float | None" in str(f.type):
                text = st.text_input(
                    label, "" if value is None else str(value), help=meta.get("help"), key=key
                )
                out[f.name] = float(text) if text.strip() else None
            elif "float" in str(f.type):
                out[f.name] = st.number_input(
                    label, value=float(value), help=meta.get("help"), key=key, format="%g"
                )
            elif "int" in str(f.type):
                out[f.name] = int(
                    st.number_input(label, value=int(value), step=1, help=meta.get("help"), key=key)
                )
            else:
                out[f.name] = st.text_input(label, str(value), help=meta.get("help"), key=key)
    return out
