"""Prefect block types of the revenue pipeline and the code that creates their documents."""

from blocks.environment import RevenueEnvironment

__all__ = ["RevenueEnvironment"]
