"""``{{ $VARIABLE }}`` placeholders in the repository's YAML (prefect.yaml, alerts.yaml),
filled from given values; every other ``{{ ... }}`` (Prefect's own templates, rendered by
the server: ``{{ event.resource.id }}``) is left as it is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_VARIABLE = re.compile(r"\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class PlaceholderError(ValueError):
    """A ``{{ $VARIABLE }}`` without a value."""


def fill(node: Any, values: Mapping[str, str], where: str) -> Any:
    """``node`` (nested dicts, lists and strings) with its ``{{ $NAME }}`` placeholders
    replaced by ``values[NAME]``; ``where`` names the document in the error."""
    if isinstance(node, dict):
        return {key: fill(value, values, where) for key, value in node.items()}
    if isinstance(node, list):
        return [fill(value, values, where) for value in node]
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise PlaceholderError(f"{where}: no value for {{{{ ${name} }}}}")
            return str(values[name])

        return _VARIABLE.sub(substitute, node)
    return node
