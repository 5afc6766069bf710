"""Why an environment's block is not found: never created, or created by an earlier version
under the block type ``revenue-pipeline`` (``docs/operations.md``, "Upgrading an existing
server"). Light: only Prefect's client, so a command can answer before it imports what
loading a block takes."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

from revenue.errors import UnknownEnvironmentError

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

EARLIER_BLOCK_TYPE = "revenue-pipeline"
"""The environment block's type before it was named ``revenue-environment``."""


def not_found(name: str, client: SyncPrefectClient | None = None) -> UnknownEnvironmentError:
    """The error for an environment whose block the server does not hold: it names an
    earlier version's block of that name when there is one."""
    if _made_by_an_earlier_version(name, client):
        return UnknownEnvironmentError.from_earlier_version(name)
    return UnknownEnvironmentError.named(name)


def _made_by_an_earlier_version(name: str, client: SyncPrefectClient | None) -> bool:
    from prefect.client.orchestration import get_client

    try:
        with nullcontext(client) if client is not None else get_client(sync_client=True) as asking:
            asking.read_block_document_by_name(name, block_type_slug=EARLIER_BLOCK_TYPE, include_secrets=False)
    except Exception:  # noqa: BLE001 - not found, or the server cannot say: "no environment block" stands
        return False
    return True
