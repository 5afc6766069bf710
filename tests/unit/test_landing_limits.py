"""Unit tests of the landed-file limits' settings: defaults, parsing, refusals, the size check."""

from __future__ import annotations

import pickle

import pytest

from revenue.errors import ConfigurationError, DataError
from revenue.io.landing.files import LandedFileError
from revenue.io.landing.limits import GiB, KiB, LandingLimitError, LandingLimits, MiB, human_bytes

VARIABLES = {
    "object_bytes": "REVENUE_LANDING_MAX_OBJECT_BYTES",
    "inflated_bytes": "REVENUE_LANDING_MAX_INFLATED_BYTES",
    "rows": "REVENUE_LANDING_MAX_ROWS",
    "columns": "REVENUE_LANDING_MAX_COLUMNS",
    "fields": "REVENUE_LANDING_MAX_FIELDS",
    "line_chars": "REVENUE_LANDING_MAX_LINE_CHARS",
}


def test_defaults_when_nothing_is_set():
    assert LandingLimits.from_environment({}) == LandingLimits(
        object_bytes=256 * MiB,
        inflated_bytes=512 * MiB,
        rows=2_000_000,
        columns=100,
        fields=25_000_000,
        line_chars=64 * KiB,
    )


def test_every_limit_has_its_variable():
    for name, variable in VARIABLES.items():
        assert LandingLimits.setting(name) == variable
        assert getattr(LandingLimits.from_environment({variable: "7"}), name) == 7


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1024", 1024), ("1_048_576", MiB), ("64KiB", 64 * KiB), ("512 MiB", 512 * MiB), ("2gib", 2 * GiB), (" 9B ", 9)],
)
def test_byte_settings_take_a_number_with_a_binary_unit(raw, value):
    assert LandingLimits.from_environment({"REVENUE_LANDING_MAX_INFLATED_BYTES": raw}).inflated_bytes == value


def test_count_settings_take_a_whole_number():
    assert LandingLimits.from_environment({"REVENUE_LANDING_MAX_ROWS": "5_000_000"}).rows == 5_000_000
    assert LandingLimits.from_environment({"REVENUE_LANDING_MAX_ROWS": ""}).rows == 2_000_000  # unset


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("REVENUE_LANDING_MAX_ROWS", "0"),
        ("REVENUE_LANDING_MAX_ROWS", "-5"),
        ("REVENUE_LANDING_MAX_ROWS", "1.5"),
        ("REVENUE_LANDING_MAX_ROWS", "2M"),  # units are for bytes only
        ("REVENUE_LANDING_MAX_COLUMNS", "lots"),
        ("REVENUE_LANDING_MAX_LINE_CHARS", "64KiB"),
        ("REVENUE_LANDING_MAX_INFLATED_BYTES", "1 TB"),
        ("REVENUE_LANDING_MAX_INFLATED_BYTES", "0MiB"),
        ("REVENUE_LANDING_MAX_OBJECT_BYTES", "MiB"),
    ],
)
def test_a_malformed_setting_is_a_configuration_error_naming_it(variable, raw):
    with pytest.raises(ConfigurationError) as caught:
        LandingLimits.from_environment({variable: raw})
    message = str(caught.value)
    assert message.startswith(f"{variable}={raw.strip()!r} is not a positive limit on a landed file's ")
    assert "unset it for the default" in message


def test_a_malformed_setting_fails_reading_not_silently_falls_back(monkeypatch):
    from revenue.io.landing.files import read_landed_file

    monkeypatch.setenv("REVENUE_LANDING_MAX_ROWS", "many")
    with pytest.raises(ConfigurationError, match="REVENUE_LANDING_MAX_ROWS"):
        read_landed_file(b"order_id,customer_id,amount,order_date\n1,a,1,2026-03-01\n", "x.csv")


def test_a_hostile_setting_is_quoted_short():
    with pytest.raises(ConfigurationError) as caught:
        LandingLimits.from_environment({"REVENUE_LANDING_MAX_ROWS": "x" * 10_000})
    assert len(str(caught.value)) < 300


def test_limits_in_code_must_be_positive():
    with pytest.raises(ValueError, match="rows"):
        LandingLimits(rows=0)


def test_check_size_refuses_before_anything_is_fetched():
    limits = LandingLimits(object_bytes=256 * MiB)
    limits.check_size("s3://b/landing/x.csv.gz", 256 * MiB)  # at the limit: fine
    with pytest.raises(LandingLimitError) as caught:
        limits.check_size("s3://b/landing/x.csv.gz", 300 * MiB)
    error = caught.value
    assert str(error) == (
        "landed file s3://b/landing/x.csv.gz: is 300 MiB, over 256 MiB (REVENUE_LANDING_MAX_OBJECT_BYTES); "
        "split the file or raise the limit"
    )
    assert isinstance(error, LandedFileError) and isinstance(error, DataError)
    assert error.setting == "REVENUE_LANDING_MAX_OBJECT_BYTES"


def test_a_limit_error_survives_pickling_for_prefect():
    with pytest.raises(LandingLimitError) as caught:
        LandingLimits(object_bytes=1).check_size("k", 2)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), copy.key, copy.reason, copy.setting, str(copy)) == (
        LandingLimitError,
        "k",
        caught.value.reason,
        "REVENUE_LANDING_MAX_OBJECT_BYTES",
        str(caught.value),
    )


def test_human_bytes():
    assert [human_bytes(n) for n in (512 * MiB, GiB, 3 * KiB, 1_000_001)] == [
        "512 MiB",
        "1 GiB",
        "3 KiB",
        "1,000,001 bytes",
    ]
