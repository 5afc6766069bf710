"""What the warm fork server (``flows.warm_start``) loads before it forks a run's process:
imported for its side effects there, and nowhere else.

The flows and what their runs import on the way (pandas, pyarrow, the warehouse's SQL
dialects and drivers, the S3 client of the lake and the result storage), and Great
Expectations with its context and the three suites built (``warm_up``): each run then
starts with them loaded instead of importing them again.
"""

from __future__ import annotations

import logging

import boto3  # noqa: F401 - the lake, the landing zone and Prefect's S3 result storage
import prefect.flow_engine  # noqa: F401
import prefect.task_engine  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sqlalchemy.dialects.postgresql  # noqa: F401
import sqlalchemy.dialects.sqlite  # noqa: F401

import flows.backfill  # noqa: F401
import flows.daily_revenue  # noqa: F401
import flows.warm_start  # noqa: F401 - the class of each run's process object
from revenue.quality.runtime import warm_up

try:
    warm_up()
except Exception as error:  # noqa: BLE001 - a run builds it itself then; the server must start
    logging.getLogger("revenue.serve").warning("warm fork server: GX warm-up failed: %s", error)
