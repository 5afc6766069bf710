"""The landing zone: files of orders dropped under the landing prefix of a bucket, from
the object in the store to the rows a partition reads.

- ``zone``: a landed object (``LandedFile``), resolving a key or URI, listing the prefix,
  error markers; ``keys``: the one key rule.
- ``queue``: the S3 notifications of an SQS queue (the watcher's path for busy zones).
- ``registry``: every landed file version in landing order (``LandingRegistry``).
- ``limits``, ``content``, ``files``, ``isolated_read``: reading one file within limits
  (bytes, gzip, encoding; CSV or Parquet rows split by day; in a capped child process).

Nothing is imported here: each module is imported by its own name.
"""
