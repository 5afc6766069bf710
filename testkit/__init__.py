"""Real services for the test suite and the benchmark alike (both import it; neither imports
the other): a Postgres server (given, or a throwaway one), moto's S3 server, a live Prefect
server, and the variables of an environment on them. Not shipped in the wheel."""
