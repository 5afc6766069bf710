"""What an environment may be called. Its block document names (``NAME-source``, ...) and
its files under the revenue home (``environments/NAME.json``, ``NAME/``) are made from it,
so it holds no dot and no slash: ``--env ../x`` names nothing outside the home."""

from __future__ import annotations

import re

ENV_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


def check_env_name(env: str) -> str:
    """``env`` if it is a valid environment name, else ``ValueError`` saying what is."""
    if not ENV_NAME.fullmatch(env):
        raise ValueError(f"invalid environment name {env!r}: use lowercase letters, digits and dashes")
    return env
