"""The landing zone: files of orders dropped under the landing prefix of a bucket, from the
object in the store to the rows a partition reads. Nothing is imported here: each module is
imported by its own name.

The objects:

- ``zone``: a landed object (``LandedFile``), resolving a key or URI, listing the prefix,
  error markers under ``_errors/``; ``keys``: the one key rule.
- ``queue``: S3 notifications read from an SQS queue, with long polling (the watcher's
  path for busy landing zones).

The registry (its tables declared in ``tables``, grain there):

- ``registry``: ``LandingRegistry``, every landed file version in landing order:
  registering, announcing, the current files of days; ``versions``: the values it hands
  out (``LandedVersion``, ``Registration``, ``ReadStatus``).
- ``listing``: the watcher's listing pass (``watch_once``) and its cursor.
- ``reads``: reading pending landings once each, under the read lease of ``leases``.
- ``rows``: a read landing's rows for a day; ``orders``: the versions of orders current
  landings hold, by ``order_id``.

Reading one file (no table): ``limits`` (what a file may cost), ``content`` (its bytes,
gzip and encoding, in chunks), ``files`` (its CSV or Parquet rows), ``days`` (the rows split
by UTC day) and ``isolated_read`` (all that in a child process with a memory cap).

A partition's input, the source overlaid by the current landed files, is
``revenue.io.partition_input``'s: it reads the source too.
"""
