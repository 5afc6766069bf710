"""Unit tests of reading landed order files: bytes written here, no S3, no Prefect engine."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import io
import json
import pickle
import random
import tracemalloc

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revenue.io.landing.days import split_by_day
from revenue.io.landing.files import LandedFileError, read_landed_file
from revenue.transforms.clean import RawPart, clean_orders
from testkit.hostile_files import gzip_of_repeats, tall_parquet

DAY = dt.date(2026, 3, 1)
HEADER = "order_id,customer_id,amount,order_date"


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return "\n".join([header, *lines, ""]).encode(encoding)


def refused(data: bytes, key: str = "landing/orders.csv") -> LandedFileError:
    with pytest.raises(LandedFileError) as caught:
        read_landed_file(data, key)
    assert caught.value.key == key
    assert str(caught.value) == f"landed file {key}: {caught.value.reason}"
    return caught.value


def parquet_bytes(frame: pd.DataFrame, **kwargs) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", **kwargs)
    return buffer.getvalue()


def read(data: bytes, key: str) -> pd.DataFrame:
    """The file's order rows (indexed by line), checking no row was set aside."""
    landed = read_landed_file(data, key)
    assert landed.bad_rows.empty
    return landed.rows


def clean_file(rows: pd.DataFrame, day: dt.date):
    """``clean_orders`` of one landed file's rows of a day (no source rows)."""
    return clean_orders([RawPart("source", 0, rows.iloc[0:0]), RawPart("s3://b/landing/orders.csv", 1, rows)], day)


def reasons_by_line(rejected: pd.DataFrame) -> dict[int, str]:
    return dict(zip(rejected["line"], rejected["reason"]))


# ---------------------------------------------------------------- files that cannot be read


def test_zero_bytes_is_an_empty_file():
    error = refused(b"", "landing/2026/orders.csv")
    assert error.reason == "empty file (0 bytes)"
    assert str(error) == "landed file landing/2026/orders.csv: empty file (0 bytes)"


@pytest.mark.parametrize("data", [b"\n", b"  \r\n\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n \n"])
def test_text_file_without_a_header_is_empty(data):
    assert refused(data).reason == "empty file (no header and no rows, only whitespace)"


def test_gzip_of_nothing_is_an_empty_file():
    assert refused(gzip.compress(b""), "orders.csv.gz").reason == "empty file (0 bytes after gzip decompression)"


def test_header_only_csv_has_no_rows():
    assert refused(csv_bytes()).reason == "no rows"
    assert refused(csv_bytes("", "  ")).reason == "no rows"  # blank lines are not rows


def test_binary_garbage_is_not_csv_or_parquet():
    garbage = random.Random(7).randbytes(4096)
    assert refused(garbage, "orders.csv").reason == "not CSV or Parquet (binary content)"


def test_short_binary_that_happens_to_decode_as_cp1252_is_still_binary():
    garbage = bytes([0x01, 0x02, 0x41, 0x03, 0x1B, 0x42, 0x04, 0x05, 0x06, 0x43])
    assert b"\x00" not in garbage and garbage.decode("cp1252")
    assert refused(garbage).reason == "not CSV or Parquet (binary content)"


def test_a_zip_archive_is_named():
    assert refused(b"PK\x03\x04" + b"\x14\x00" * 20, "orders.xlsx").reason == (
        "not CSV or Parquet (looks like a zip archive (or an .xlsx workbook))"
    )


def test_truncated_gzip():
    whole = gzip.compress(csv_bytes("1,a,10,2026-03-01T10:00:00Z") * 50)
    assert refused(whole[: len(whole) // 2], "orders.csv.gz").reason == "truncated or corrupt gzip"


def test_corrupt_gzip():
    whole = bytearray(gzip.compress(csv_bytes("1,a,10,2026-03-01T10:00:00Z")))
    whole[-8:-4] = b"\x00\x00\x00\x00"  # wrong CRC32
    assert refused(bytes(whole), "orders.csv.gz").reason == "truncated or corrupt gzip"


def test_missing_required_columns_are_named():
    data = csv_bytes("1,a,10", header="order_id,customer_id,total")
    assert refused(data).reason == (
        "missing required column(s) amount, order_date (found: order_id, customer_id, total)"
    )


def test_semicolon_file_shows_what_header_was_found():
    data = csv_bytes("1;a;12,50;2026-03-01", header="order_id;customer_id;amount;order_date")
    assert refused(data).reason == (
        "missing required column(s) order_id, customer_id, amount, order_date "
        "(found: order_id;customer_id;amount;order_date)"
    )


def test_columns_that_collide_after_normalisation():
    data = csv_bytes("1,a,10,2026-03-01,11", header="order_id,customer_id,amount,order_date,AMOUNT ")
    assert refused(data).reason == "duplicate column name(s) after normalisation: amount"


def test_rows_with_the_wrong_number_of_fields_are_set_aside_with_their_lines_and_the_rest_is_read():
    data = csv_bytes(
        "1,a,10,2026-03-01",
        "2,Smith, John,10,2026-03-01",  # unquoted comma: 5 fields
        "3,c,10,2026-03-01",
        "4,d,2026-03-01",  # a field missing: 3 fields
    )
    landed = read_landed_file(data, "orders.csv")
    assert landed.rows["order_id"].tolist() == ["1", "3"] and list(landed.rows.index) == [2, 4]
    assert landed.bad_rows[["line", "reason"]].values.tolist() == [
        [3, "5 fields where the header has 4"],
        [5, "3 fields where the header has 4"],
    ]
    assert json.loads(landed.bad_rows["record"][0]) == ["2", "Smith", " John", "10", "2026-03-01"]


def test_a_short_row_is_not_padded_with_nulls():
    landed = read_landed_file(csv_bytes("1,a,10,2026-03-01", "2,b,2026-03-01", "3,c,12,2026-03-01"), "orders.csv")
    assert landed.rows["order_id"].tolist() == ["1", "3"]
    assert landed.bad_rows["line"].tolist() == [3]


def test_a_file_none_of_whose_rows_fit_is_refused_naming_the_first_ten():
    data = csv_bytes(*[f"{i},a,10,2026-03-01,extra" for i in range(12)])
    reason = refused(data).reason
    assert reason.startswith("no usable rows: 12 row(s) with the wrong number of fields (header has 4): line 2 has 5, ")
    assert reason.endswith("line 11 has 5 and 2 more")


def test_unterminated_quote_is_malformed_csv():
    data = csv_bytes("1,a,10,2026-03-01", '2,"b,10,2026-03-01', "3,c,10,2026-03-01")
    assert refused(data).reason == "malformed CSV in the row starting at line 3: unexpected end of data"


def test_text_after_a_closing_quote_is_malformed_csv():
    data = csv_bytes("1,a,10,2026-03-01", '2,"b"x,10,2026-03-01')
    assert refused(data).reason == "malformed CSV in the row starting at line 3: ',' expected after '\"'"


def test_bytes_neither_utf8_nor_cp1252():
    data = csv_bytes("1,a,10,2026-03-01", encoding="ascii") + b"2,b\x81,10,2026-03-01\n"
    assert refused(data).reason == "not UTF-8 or cp1252 text (byte 0x81 at line 3)"


def test_mixed_utf8_and_cp1252_is_refused_rather_than_turned_into_mojibake():
    data = csv_bytes("1,José,10,2026-03-01") + "2,Zoë,10,2026-03-01\n".encode("cp1252")
    assert refused(data).reason == (
        "mixed encodings: the file has valid UTF-8 multi-byte characters but byte 0xeb at line 3 is not UTF-8"
    )


def test_truncated_parquet():
    whole = parquet_bytes(
        pd.DataFrame({"order_id": [1], "customer_id": ["a"], "amount": [1.0], "order_date": ["2026-03-01"]})
    )
    assert refused(whole[:-20], "orders.parquet").reason == "truncated or corrupt Parquet"


def test_parquet_without_rows():
    empty = pd.DataFrame({c: pd.Series(dtype="str") for c in HEADER.split(",")})
    assert refused(parquet_bytes(empty), "orders.parquet").reason == "no rows"


def test_parquet_missing_a_column():
    data = parquet_bytes(pd.DataFrame({"order_id": [1], "customer_id": ["a"], "order_date": ["2026-03-01"]}))
    assert refused(data, "orders.parquet").reason == (
        "missing required column(s) amount (found: order_id, customer_id, order_date)"
    )


def test_error_survives_pickling_for_prefect():
    error = refused(b"")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.key, copy.reason, str(copy)) == (error.key, error.reason, str(error))


# ---------------------------------------------------------------- CSV content


def test_every_value_is_text_as_written_and_the_index_is_the_line():
    frame = read(csv_bytes("007,a, 10.50 ,2026-03-01", "", "8,b,,2026-03-01"), "orders.csv")
    assert list(frame.index) == [2, 4]  # the header is line 1; a blank line is not a row
    assert all(isinstance(d, pd.StringDtype) for d in frame.dtypes)
    assert frame.loc[2].tolist() == ["007", "a", " 10.50 ", "2026-03-01"]
    assert pd.isna(frame.loc[4, "amount"])  # only an empty field is missing
    assert frame.attrs == {"encoding": "utf-8", "format": "csv", "compression": None}


def test_extra_columns_are_kept_and_headers_normalised():
    data = csv_bytes(
        "1,a,10,2026-03-01,web,",
        "2,b,11,2026-03-01,,x",
        header=" Order_ID ,CUSTOMER_ID,Amount,order_date ,Channel,",
    )
    frame = read(data, "orders.csv")
    assert list(frame.columns) == ["order_id", "customer_id", "amount", "order_date", "channel", "unnamed_5"]
    assert frame["channel"].tolist()[0] == "web" and pd.isna(frame["channel"].iloc[1])
    assert pd.isna(frame["unnamed_5"].iloc[0]) and frame["unnamed_5"].iloc[1] == "x"


def test_quoted_commas_newlines_and_quotes():
    data = csv_bytes(
        '1,"Smith, John",10,2026-03-01',
        '2,"Line one\nline two",11,2026-03-01',
        '3,"The ""Best"" Shop",12,2026-03-01',
    )
    frame = read(data, "orders.csv")
    assert frame["customer_id"].tolist() == ["Smith, John", "Line one\nline two", 'The "Best" Shop']
    assert frame["amount"].tolist() == ["10", "11", "12"]


def test_crlf_line_endings():
    data = (HEADER + "\r\n1,a,10,2026-03-01\r\n2,b,11,2026-03-01\r\n").encode()
    frame = read(data, "orders.csv")
    assert frame["order_date"].tolist() == ["2026-03-01", "2026-03-01"]


def test_utf8_bom_is_stripped_from_the_header():
    data = b"\xef\xbb\xbf" + csv_bytes("1,Zoë,10,2026-03-01")
    frame = read(data, "orders.csv")
    assert list(frame.columns) == ["order_id", "customer_id", "amount", "order_date"]
    assert frame.loc[2, "customer_id"] == "Zoë"
    assert frame.attrs["encoding"] == "utf-8-sig"


def test_cp1252_text_is_decoded_and_the_encoding_recorded():
    data = csv_bytes("1,José,10,2026-03-01", "2,Ann,12,2026-03-01", encoding="cp1252")
    assert b"Jos\xe9" in data
    frame = read(data, "orders.csv")
    assert frame["customer_id"].tolist() == ["José", "Ann"]
    assert frame.attrs["encoding"] == "cp1252"


def test_utf8_text_is_utf8():
    frame = read(csv_bytes("1,José,10,2026-03-01"), "orders.csv")
    assert frame.loc[2, "customer_id"] == "José"
    assert frame.attrs["encoding"] == "utf-8"


def test_utf16_with_a_bom():
    frame = read(csv_bytes("1,José,10,2026-03-01", encoding="utf-16"), "orders.csv")
    assert frame.loc[2].tolist() == ["1", "José", "10", "2026-03-01"]
    assert frame.attrs["encoding"] == "utf-16"


def test_csv_gzip_round_trip_and_content_wins_over_the_key():
    plain = csv_bytes("1,a,10.5,2026-03-01T10:00:00Z", "2,b,NaN,2026-03-02")
    expected = read(plain, "orders.csv")
    for key in ("orders.csv.gz", "orders.gz", "orders.csv"):
        frame = read(gzip.compress(plain), key)
        pd.testing.assert_frame_equal(frame, expected)
        assert frame.attrs == {"encoding": "utf-8", "format": "csv", "compression": "gzip"}
    assert read(plain, "orders.csv.gz").attrs["compression"] is None


# ---------------------------------------------------------------- Parquet


def parquet_orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": pd.array([9007199254740993, 2, None], dtype="Int64"),  # 2**53 + 1: floats would lose it
            "customer_id": ["a", "b", "c"],
            "amount": [10.5, float("nan"), 3.0],
            "order_date": pd.to_datetime(["2026-03-01 23:30", "2026-03-02 00:10", "2026-03-01 08:00"], utc=True),
            "Channel": ["web", "shop", None],
        }
    )


def test_parquet_round_trip_keeps_types_and_every_digit():
    frame = read(parquet_bytes(parquet_orders()), "orders.parquet")
    assert list(frame.columns) == ["order_id", "customer_id", "amount", "order_date", "channel"]
    assert frame["order_id"].tolist()[:2] == [9007199254740993, 2] and pd.isna(frame["order_id"].iloc[2])
    assert frame["amount"].tolist()[0] == 10.5
    assert frame.attrs == {"encoding": "parquet", "format": "parquet", "compression": None}
    by_day, unassigned = split_by_day(frame)
    assert {d: list(rows.index) for d, rows in by_day.items()} == {DAY: [1, 3], dt.date(2026, 3, 2): [2]}
    assert unassigned.empty
    result = clean_file(by_day[DAY], DAY)
    assert result.cleaned["order_id"].tolist() == [9007199254740993]
    assert result.rejected["reason"].tolist() == ["null order_id"]


def test_gzipped_parquet_round_trip():
    data = parquet_bytes(parquet_orders())
    frame = read(gzip.compress(data), "orders.parquet.gz")
    pd.testing.assert_frame_equal(frame, read(data, "orders.parquet"))
    assert frame.attrs["compression"] == "gzip" and frame.attrs["format"] == "parquet"


def test_parquet_index_written_by_pandas():
    named = parquet_orders().set_index("order_id")
    assert "order_id" in read(parquet_bytes(named), "o.parquet").columns  # an id is data
    unnamed = parquet_orders().set_axis([10, 11, 12])
    frame = read(parquet_bytes(unnamed), "o.parquet")
    assert list(frame.columns) == ["order_id", "customer_id", "amount", "order_date", "channel"]
    assert list(frame.index) == [1, 2, 3]  # Parquet rows are numbered from 1


def test_parquet_naive_timestamps_are_utc_and_zoned_ones_converted():
    frame = pd.DataFrame(
        {
            "order_id": ["1", "2"],
            "customer_id": ["a", "b"],
            "amount": ["1", "2"],
            "order_date": pd.to_datetime(["2026-03-01 23:30", "2026-03-02 00:30"]),
        }
    )
    by_day, _ = split_by_day(read(parquet_bytes(frame), "o.parquet"))
    assert {d: list(r.index) for d, r in by_day.items()} == {DAY: [1], dt.date(2026, 3, 2): [2]}
    new_york = pd.to_datetime(["2026-03-01 18:30", "2026-03-01 19:30"]).tz_localize("America/New_York")
    zoned = frame.assign(order_date=new_york)  # 23:30 and 00:30 UTC
    by_day, _ = split_by_day(read(parquet_bytes(zoned), "o.parquet"))
    assert {d: list(r.index) for d, r in by_day.items()} == {DAY: [1], dt.date(2026, 3, 2): [2]}


def test_parquet_dates_and_text_dates():
    table = pa.table(
        {
            "order_id": ["1", "2", "3"],
            "customer_id": ["a", "b", "c"],
            "amount": [1.0, 2.0, 3.0],
            "order_date": pa.array([dt.date(2026, 3, 1), None, dt.date(1970, 1, 1)], pa.date32()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    by_day, unassigned = split_by_day(read(buffer.getvalue(), "o.parquet"))
    assert {d: list(r.index) for d, r in by_day.items()} == {DAY: [1]}
    assert dict(zip(unassigned["line"], unassigned["reason"])) == {
        2: "null order_date",
        3: "order_date outside accepted range 2000-01-01..2099-12-31",
    }


# ---------------------------------------------------------------- splitting by day


def test_a_file_spanning_three_days_splits_into_three_frames():
    data = csv_bytes(
        "1,a,10,2026-03-01T00:00:00Z",
        "2,b,11,2026-03-02 09:00:00",
        "3,c,12,2026-03-01 23:59:59.999",
        "4,d,13,2026-03-03",
        "5,e,14,2026-03-01T23:30:00-02:00",  # 01:30 UTC on the 2nd
        "6,f,15,2026-03-02T01:00:00+02:00",  # 23:00 UTC on the 1st
        "7,g,16,2026-03-03T23:59:59Z",
    )
    frame = read(data, "orders.csv")
    by_day, unassigned = split_by_day(frame)
    assert list(by_day) == [DAY, dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    assert {d: list(rows.index) for d, rows in by_day.items()} == {
        DAY: [2, 4, 7],
        dt.date(2026, 3, 2): [3, 6],
        dt.date(2026, 3, 3): [5, 8],
    }
    assert by_day[dt.date(2026, 3, 2)]["order_date"].tolist() == ["2026-03-02 09:00:00", "2026-03-01T23:30:00-02:00"]
    assert list(by_day[DAY].columns) == list(frame.columns)
    assert unassigned.empty and list(unassigned.columns) == ["line", "order_id", "reason", "record"]
    for day, rows in by_day.items():  # clean_orders agrees with the split: nothing falls outside
        result = clean_file(rows, day)
        assert len(result.cleaned) == len(rows) and result.rejected.empty


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01",
        "2026-03-01T10:00",
        "2026-03-01 10:00:00",
        "2026-03-01T10:00:00.5",
        "2026-03-01T10:00:00.123456789Z",
        "2026-03-01T10:00:00+05:30",
        "2026-03-01 10:00:00+0530",
        "2026-03-01 10:00:00+00",
        "2026-03-01T10:00:00z".upper(),
        " 2026-03-01 10:00:00 ",
    ],
)
def test_accepted_iso_forms(value):
    frame = read(csv_bytes(f'1,a,10,"{value}"'), "orders.csv")
    by_day, unassigned = split_by_day(frame)
    assert list(by_day) == [DAY] and unassigned.empty
    assert by_day[DAY].loc[2, "order_date"] == value  # untouched text
    assert len(clean_file(by_day[DAY], DAY).cleaned) == 1


def test_dates_in_another_format_are_not_guessed():
    data = csv_bytes(
        "1,a,10,2026-03-01T10:00:00Z",
        "2,b,10,01/03/2026",
        "3,c,10,13/03/2026",
        "4,d,10,03-01-2026",
        '5,e,10,"March 1, 2026"',
        "6,f,10,1772359200",
        "7,g,10,2026-03-01 10:00:00 UTC",
        "8,h,10,2026-03-01 10:00:00",
    )
    by_day, unassigned = split_by_day(read(data, "orders.csv"))
    assert {d: list(r.index) for d, r in by_day.items()} == {DAY: [2, 9]}
    assert dict(zip(unassigned["line"], unassigned["reason"])) == {
        i: "order_date is not a timestamp" for i in range(3, 9)
    }
    assert unassigned["order_id"].tolist() == ["2", "3", "4", "5", "6", "7"]
    assert json.loads(unassigned["record"][0]) == {
        "order_id": "2",
        "customer_id": "b",
        "amount": "10",
        "order_date": "01/03/2026",
    }


def test_dates_outside_any_sensible_range():
    data = csv_bytes(
        "1,a,10,2026-03-01",
        "2,b,10,1970-01-01T00:00:00Z",
        "3,c,10,9999-12-31",
        "4,d,10,0001-01-01",
        "5,e,10,1999-12-31T23:59:59Z",
        "6,f,10,2026-02-30",
        "7,g,10,2026-03-01T25:00:00",
        "8,h,10,2100-01-01",
        "9,i,10,2000-01-01T00:00:00+01:00",  # 1999-12-31 23:00 UTC
    )
    by_day, unassigned = split_by_day(read(data, "orders.csv"))
    outside = "order_date outside accepted range 2000-01-01..2099-12-31"
    assert {d: list(r.index) for d, r in by_day.items()} == {DAY: [2]}
    assert dict(zip(unassigned["line"], unassigned["reason"])) == {
        3: outside,
        4: outside,
        5: outside,
        6: outside,
        7: "order_date is not a timestamp",
        8: "order_date is not a timestamp",
        9: outside,
        10: outside,
    }


def test_the_accepted_range_can_be_narrowed():
    frame = read(csv_bytes("1,a,10,2026-03-01", "2,b,10,2026-03-09"), "orders.csv")
    by_day, unassigned = split_by_day(frame, latest=dt.date(2026, 3, 2))
    assert list(by_day) == [DAY]
    assert unassigned["reason"].tolist() == ["order_date outside accepted range 2000-01-01..2026-03-02"]


def test_missing_order_dates():
    data = csv_bytes("1,a,10,", "2,b,10,   ", '3,c,10,""', "4,d,10,2026-03-01", ",e,10,")
    by_day, unassigned = split_by_day(read(data, "orders.csv"))
    assert list(by_day[DAY].index) == [5]
    assert unassigned["line"].tolist() == [2, 3, 4, 6]
    assert set(unassigned["reason"]) == {"null order_date"}
    assert unassigned["order_id"].tolist() == ["1", "2", "3", None]
    assert json.loads(unassigned["record"][1])["order_date"] == "   "


def test_every_row_lands_in_exactly_one_place():
    rng = random.Random(3)
    dates = ["2026-03-01", "2026-03-02T05:00:00Z", "01/03/2026", "", "9999-01-01", "x"]
    picks = [rng.choice(dates) for _ in range(200)]
    frame = read(csv_bytes(*[f"{i},c,1,{d}" for i, d in enumerate(picks)]), "orders.csv")
    by_day, unassigned = split_by_day(frame)
    lines = sorted([i for rows in by_day.values() for i in rows.index] + list(unassigned["line"]))
    assert lines == list(range(2, 202))
    assert len(by_day.get(DAY, [])) == picks.count("2026-03-01")
    assert len(unassigned) == sum(p in ("01/03/2026", "", "9999-01-01", "x") for p in picks)


def test_split_needs_an_order_date_column():
    with pytest.raises(ValueError, match="no order_date column"):
        split_by_day(pd.DataFrame({"order_id": ["1"]}))


# ---------------------------------------------------------------- bad values reach clean_orders


def test_bad_amounts_pass_through_as_text_and_clean_orders_quarantines_them():
    data = csv_bytes(
        "1,a,10.50,2026-03-01T08:00:00Z",
        "2,b,1e400,2026-03-01T09:00:00Z",
        "3,c,NaN,2026-03-01T10:00:00Z",
        '4,d,"12,50",2026-03-01T11:00:00Z',
        "5,e,twelve,2026-03-01T12:00:00Z",
        "6,f,-3,2026-03-01T13:00:00Z",
        "7,g,,2026-03-01T14:00:00Z",
        "8,h,1e3,2026-03-01T15:00:00Z",
    )
    frame = read(data, "orders.csv")
    assert frame["amount"].tolist()[:5] == ["10.50", "1e400", "NaN", "12,50", "twelve"]
    by_day, unassigned = split_by_day(frame)
    assert unassigned.empty and list(by_day) == [DAY]
    result = clean_file(by_day[DAY], DAY)
    assert result.cleaned["order_id"].tolist() == [1, 6, 8]  # the good rows are all kept
    assert result.cleaned["amount_cents"].tolist() == [1050, -300, 100000]
    assert reasons_by_line(result.rejected) == {
        3: "amount outside +-1,000,000,000,000,000",
        4: "amount is not a finite number",
        5: "amount is not a finite number",
        6: "amount is not a finite number",
        8: "null amount",
    }
    record = json.loads(result.rejected["record"][0])
    assert record["amount"] == "1e400"


def test_duplicate_ids_reach_clean_orders_and_the_newest_wins():
    data = csv_bytes(
        "1,a,10,2026-03-01T08:00:00Z",
        "2,b,20,2026-03-01T09:00:00Z",
        "1,a,11,2026-03-01T12:00:00Z",
        "1,a,9,2026-03-01T10:00:00Z",
        "3,c,30,2026-03-02T09:00:00Z",
    )
    by_day, _ = split_by_day(read(data, "orders.csv"))
    day = by_day[DAY]
    assert list(day.index) == [2, 3, 4, 5]  # split drops nothing: all three versions of order 1
    result = clean_file(day, DAY)
    assert sorted(zip(result.cleaned["order_id"], result.cleaned["amount_cents"])) == [(1, 1100), (2, 2000)]
    assert reasons_by_line(result.rejected) == {
        2: "duplicate order_id (a newer row was kept)",
        5: "duplicate order_id (a newer row was kept)",
    }


def test_duplicate_ids_with_updated_at_keep_the_newest_version():
    data = csv_bytes(
        "1,a,10,2026-03-01T08:00:00Z,2026-03-05T00:00:00Z",
        "1,a,12,2026-03-01T08:00:00Z,2026-03-04T00:00:00Z",
        header=HEADER + ",updated_at",
    )
    by_day, _ = split_by_day(read(data, "orders.csv"))
    result = clean_file(by_day[DAY], DAY)
    assert result.cleaned["amount_cents"].tolist() == [1000]
    assert reasons_by_line(result.rejected) == {3: "duplicate order_id (a newer row was kept)"}


# ---------------------------------------------------------------- limits (issue 23)
#
# Each limit has a setting (REVENUE_LANDING_MAX_*, read when a file is read); these tests
# lower them through the environment so the files stay small and the tests fast.

ROW = "1,a,10,2026-03-01T10:00:00Z"
INFLATED = "REVENUE_LANDING_MAX_INFLATED_BYTES"


def traced_peak(fn):
    """``fn()``'s peak of Python-allocated memory (bytes objects, strings, lists)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_repeat_builder_makes_a_valid_gzip():
    data = gzip_of_repeats(b"head\n", b"0123456789\n", 1000, members=3)
    assert gzip.decompress(data) == b"head\n" + b"0123456789\n" * 1000


def test_a_small_gzip_that_inflates_past_the_limit_is_refused_streaming(monkeypatch):
    monkeypatch.setenv(INFLATED, "4MiB")
    # a CSV that would be valid: a header, then one row repeated; 64 MiB inflated
    bomb = gzip_of_repeats(csv_bytes(), (ROW + "\n").encode() * 1000, 64 * 1024 * 1024 // 28_000)
    assert len(bomb) < 300_000
    error, peak = traced_peak(lambda: refused(bomb, "s3://b/landing/x.csv.gz"))
    assert error.reason == (
        "inflates past 4 MiB (REVENUE_LANDING_MAX_INFLATED_BYTES); split the file or raise the limit"
    )
    assert peak < 4 * 1024 * 1024  # never held what it inflated, not even up to the limit


def test_a_gzip_whose_last_member_looks_small_is_still_stopped_at_the_limit(monkeypatch):
    monkeypatch.setenv(INFLATED, "1MiB")
    bomb = gzip_of_repeats(csv_bytes(), b"\n" * 100_000, 200, members=2) + gzip.compress(b"\n")
    assert refused(bomb, "x.csv.gz").reason.startswith("inflates past 1 MiB (REVENUE_LANDING_MAX_INFLATED_BYTES)")


@pytest.mark.slow  # ~3 s: it inflates 512 MiB before it stops
def test_a_1mb_gzip_of_1gib_is_refused_at_the_default_limits():
    bomb = gzip_of_repeats(csv_bytes(), b"\n" * (1 << 20), 1024)
    assert len(bomb) < 1_200_000
    error, peak = traced_peak(lambda: refused(bomb, "s3://b/landing/x.csv.gz"))
    assert error.reason.startswith("inflates past 512 MiB (REVENUE_LANDING_MAX_INFLATED_BYTES)")
    assert peak < 16 * 1024 * 1024


def test_a_file_just_under_the_inflated_limit_is_read(monkeypatch):
    body = (ROW + "\n").encode() * 100
    data = csv_bytes() + body
    monkeypatch.setenv(INFLATED, str(len(data)))
    assert len(read(gzip.compress(data), "x.csv.gz")) == 100
    monkeypatch.setenv(INFLATED, str(len(data) - 1))
    assert refused(gzip.compress(data), "x.csv.gz").reason.startswith("inflates past 2,")


def test_an_object_over_the_size_limit_is_refused_before_reading(monkeypatch):
    monkeypatch.setenv("REVENUE_LANDING_MAX_OBJECT_BYTES", "1KiB")
    data = csv_bytes(*[ROW] * 100)
    assert refused(data).reason == (
        f"is {len(data):,} bytes, over 1 KiB (REVENUE_LANDING_MAX_OBJECT_BYTES); split the file or raise the limit"
    )


def test_a_small_parquet_file_of_20m_rows_is_refused_from_its_footer():
    data = tall_parquet(20_000_000)
    assert len(data) < 400_000
    assert refused(data, "s3://b/landing/x.parquet").reason == (
        "holds 20,000,000 rows, over 2,000,000 (REVENUE_LANDING_MAX_ROWS); split the file or raise the limit"
    )


def test_parquet_rows_columns_and_uncompressed_size_limits(monkeypatch):
    data = parquet_bytes(pd.DataFrame({"order_id": ["1"] * 50, "customer_id": "a", "amount": "1", "order_date": "d"}))
    monkeypatch.setenv("REVENUE_LANDING_MAX_ROWS", "49")
    assert refused(data).reason.startswith("holds 50 rows, over 49 (REVENUE_LANDING_MAX_ROWS)")
    monkeypatch.setenv("REVENUE_LANDING_MAX_ROWS", "50")
    monkeypatch.setenv("REVENUE_LANDING_MAX_COLUMNS", "3")
    assert refused(data).reason.startswith("has 4 columns, over 3 (REVENUE_LANDING_MAX_COLUMNS)")
    monkeypatch.setenv("REVENUE_LANDING_MAX_COLUMNS", "4")  # the pandas index is not a column
    assert len(read(data, "x.parquet")) == 50
    monkeypatch.delenv("REVENUE_LANDING_MAX_ROWS")
    ids = pd.DataFrame({"order_id": [f"order-{i:08d}" for i in range(20_000)], "customer_id": "a", "amount": "1"})
    packed = parquet_bytes(ids.assign(order_date="2026-03-01"), compression="gzip", use_dictionary=False)
    monkeypatch.setenv(INFLATED, str(len(packed) + 1))
    assert refused(packed).reason.startswith("its columns take ")
    assert f"over {len(packed) + 1:,} bytes uncompressed (REVENUE_LANDING_MAX_INFLATED_BYTES)" in refused(packed).reason


def test_too_many_rows_are_refused_while_scanning(monkeypatch):
    monkeypatch.setenv("REVENUE_LANDING_MAX_ROWS", "3")
    assert len(read(csv_bytes(ROW, "", ROW, ROW), "x.csv")) == 3  # blank lines are not rows
    error = refused(csv_bytes(ROW, ROW, "1,2", ROW))  # a row with the wrong fields is a row too
    assert error.reason == (
        "has more than 3 rows: the 4th starts at line 5 (REVENUE_LANDING_MAX_ROWS); split the file or raise the limit"
    )


def test_too_many_fields_are_refused_while_scanning(monkeypatch):
    """Memory grows with rows x columns: a wide file reaches the fields limit before the rows one."""
    monkeypatch.setenv("REVENUE_LANDING_MAX_FIELDS", "12")
    assert len(read(csv_bytes(ROW, ROW, ROW), "x.csv")) == 3  # 3 rows x 4 columns
    assert refused(csv_bytes(ROW, ROW, ROW, ROW)).reason == (
        "has more than 12 fields (4 columns a row): the 4th starts at line 5 (REVENUE_LANDING_MAX_FIELDS); "
        "split the file or raise the limit"
    )
    data = parquet_bytes(pd.DataFrame({"order_id": ["1"] * 4, "customer_id": "a", "amount": "1", "order_date": "d"}))
    assert refused(data).reason.startswith("holds 16 fields (4 rows x 4 columns), over 12 (REVENUE_LANDING_MAX_FIELDS)")


def test_an_over_long_line_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("REVENUE_LANDING_MAX_LINE_CHARS", "100")
    long_row = f"2,{'x' * 100},10,2026-03-01"
    assert refused(csv_bytes(ROW, long_row, ROW), "s3://b/landing/x.csv").reason == (
        "the row starting at line 3 is longer than 100 characters (REVENUE_LANDING_MAX_LINE_CHARS); "
        "fix the file or raise the limit"
    )
    # a quoted value spanning lines counts as one record
    spread = "2," + '"' + "\n".join(["y" * 30] * 4) + '"' + ",10,2026-03-01"
    assert refused(csv_bytes(spread)).reason.startswith("the row starting at line 2 is longer than 100 characters")
    # an unterminated quote cannot swallow the rest of the file
    assert refused(csv_bytes('2,"oops,10,2026-03-01', *[ROW] * 10)).reason.startswith(
        "the row starting at line 2 is longer than 100 characters"
    )


def test_a_line_at_the_limit_is_read(monkeypatch):
    row = f"2,{'x' * 50},10,2026-03-01\n"
    monkeypatch.setenv("REVENUE_LANDING_MAX_LINE_CHARS", str(len(row)))
    assert len(read(csv_bytes(row.strip()), "x.csv")) == 1


def test_too_many_columns_are_refused_on_the_header():
    header = HEADER + "," + ",".join(f"c{i}" for i in range(96))
    assert len(read(csv_bytes("1,a,10,2026-03-01" + "," * 96, header=header), "x.csv").columns) == 100
    header += ",c96,c97"
    assert refused(csv_bytes(ROW, header=header)).reason == (
        "has 102 columns, over 100 (REVENUE_LANDING_MAX_COLUMNS); split the file or raise the limit"
    )


def test_a_16k_column_header_is_refused_at_once_with_a_short_error():
    header = ",".join(f"c{i}" for i in range(16_384))
    error = refused(csv_bytes("1", header=header))
    assert isinstance(error, LandedFileError) and len(str(error)) < 300


@pytest.mark.parametrize("width", [16_384])
def test_a_wide_header_is_checked_in_linear_time_and_its_error_is_capped(monkeypatch, width):
    """With the limits raised, a 16k-column header is still processed at once (the checks are
    linear) and the error names a few columns, then how many more."""
    monkeypatch.setenv("REVENUE_LANDING_MAX_COLUMNS", str(2 * width + 10))
    monkeypatch.setenv("REVENUE_LANDING_MAX_LINE_CHARS", "1000000")
    names = [f"column_{i}" for i in range(width)]
    missing = refused(csv_bytes("1", header=",".join(["order_id", *names])))
    assert missing.reason.startswith(
        "missing required column(s) customer_id, amount, order_date (found: order_id, column_0, column_1,"
    )
    assert missing.reason.endswith(f" and {width + 1 - 10:,} more)")
    assert len(str(missing)) < 500
    duplicated = refused(csv_bytes("1", header=",".join([HEADER, *names, *(n.upper() for n in names)])))
    assert duplicated.reason.startswith("duplicate column name(s) after normalisation: column_0, column_1,")
    assert duplicated.reason.endswith(f" and {width - 10:,} more")
    assert len(str(duplicated)) < 500


def test_an_error_names_a_long_column_name_shortened():
    header = "order_id," + "n" * 5000
    reason = refused(csv_bytes("1,2", header=header)).reason
    assert len(reason) < 300 and "nnn…" in reason


def test_a_stream_is_read_like_bytes():
    data = csv_bytes(ROW, ROW)
    stream = io.BytesIO(data)
    assert len(read_landed_file(stream, "x.csv").rows) == 2
    gc.collect()
    assert not stream.closed  # the caller's file is left open
    gz = gzip.compress(data)

    class OneWay(io.RawIOBase):  # an HTTP body: readable once, not seekable
        def __init__(self, payload: bytes) -> None:
            self._stream = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            return self._stream.readinto(buffer)

    assert len(read_landed_file(OneWay(gz), "x.csv.gz").rows) == 2
    assert len(read_landed_file(OneWay(parquet_bytes(read(data, "x"))), "x.parquet").rows) == 2


def test_reading_a_csv_does_not_hold_every_row_as_python_lists():
    """A 100k-row file (4.7 MB): the old reader kept the decoded text plus a list of fields
    per row (66 MB of Python objects at its peak); the streaming one packs the rows into
    Arrow strings a chunk at a time (8 MB)."""
    data = csv_bytes(*(f"{i},customer-{i % 977},{i % 1000}.25,2026-03-01T10:00:00Z" for i in range(100_000)))
    landed, peak = traced_peak(lambda: read_landed_file(data, "x.csv"))
    assert len(landed.rows) == 100_000
    assert peak < 16 * 1024 * 1024


def test_running_out_of_memory_reading_parquet_is_memory_not_a_corrupt_file(monkeypatch):
    """Arrow's ``ArrowMemoryError`` is a ``MemoryError``: it reaches the caller as one (the
    isolated reader reports the file as over its memory), not as "truncated or corrupt"."""
    buffer = io.BytesIO()
    pq.write_table(
        pa.table({"order_id": [1], "customer_id": ["a"], "amount": [1.0], "order_date": ["2026-03-01"]}), buffer
    )

    def out_of_memory(*args, **kwargs):
        raise pa.ArrowMemoryError("malloc of size 1073741824 failed")

    monkeypatch.setattr(pq.ParquetFile, "read", out_of_memory)
    with pytest.raises(MemoryError):
        read_landed_file(buffer.getvalue(), "s3://b/landing/big.parquet")
