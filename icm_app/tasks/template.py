"""A small, safe prompt-template renderer: `{field}` is replaced by that field's text, `{{`/`}}` are braces.

No attribute access, indexing or format specs (unlike `str.format`), so a template cannot reach Python objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_ \-]*)\}|\{|\}")


class TemplateError(ValueError):
    """The template is malformed or names a field the data lacks."""


def template_fields(template: str) -> list[str]:
    """Field names used by `template`, in order of first use; raises TemplateError when malformed."""
    names: list[str] = []
    for m in _TOKEN.finditer(template):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            raise TemplateError(
                f"unmatched or invalid brace at position {m.start()} in template; "
                "use {field_name} for a field and {{ or }} for a literal brace"
            )
        if m.group(1) not in names:
            names.append(m.group(1))
    return names


def render(template: str, fields: Mapping[str, str]) -> str:
    """Fill `{name}` with `fields[name]`; a missing field raises TemplateError naming it."""

    def fill(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1)
        if name is None:
            raise TemplateError(f"unmatched or invalid brace at position {m.start()} in template")
        if name not in fields:
            raise TemplateError(f"template names field {name!r}, which the data does not have")
        return str(fields[name])

    return _TOKEN.sub(fill, template)
