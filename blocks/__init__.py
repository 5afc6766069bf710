"""Prefect block types of the revenue pipeline and the code that creates their documents."""

from blocks.pipeline import RevenuePipeline

__all__ = ["RevenuePipeline"]
