"""The standard format: CSV dialects, headers, mapping, JSON, and whole-file errors."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from app.feeds import FORMATS, FeedError, FeedRow, parse, reading
from app.feeds.reading import sniff_delimiter
from tests.feeds.helpers import one, problems, rows


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_sniffs_the_delimiter_from_the_header(delimiter: str) -> None:
    data = delimiter.join(["sku", "name", "price"]) + "\n" + delimiter.join(["A", "Mug", "1.50"])
    assert one(data.encode()).feed_row == FeedRow("A", "Mug", 150)


def test_it_ignores_delimiters_inside_quoted_header_cells() -> None:
    assert sniff_delimiter('"a;b;c",d,e\n') == ","
    assert sniff_delimiter("single\n") == ","


def test_it_reads_quoted_fields_with_delimiters_newlines_and_quotes() -> None:
    data = b'sku;name;description\nA;"Tee; blue";"Line one\nline ""two"""\nB;Cap;\n'
    first, second = rows(data)
    assert first.feed_row == FeedRow("A", "Tee; blue", description='Line one\nline "two"')
    assert second.row == 2
    assert second.cells == {"sku": "B", "name": "Cap", "description": ""}


def test_it_strips_a_bom_and_matches_headers_case_insensitively() -> None:
    row = one(b"\xef\xbb\xbf SKU ,Name,PRICE_CENTS,Colour\r\nA,Mug,250,red\r\n")
    assert row.feed_row == FeedRow("A", "Mug", 250)
    assert row.cells == {"SKU": "A", "Name": "Mug", "PRICE_CENTS": "250", "Colour": "red"}


def test_it_applies_a_partners_column_mapping() -> None:
    data = b"Article,Bezeichnung,Preis,name\nA,Becher,3.20,ignored\n"
    mapping = {" ARTICLE ": "sku", "bezeichnung": "Name", "Preis": "price"}
    assert one(data, mapping=mapping).feed_row == FeedRow("A", "Becher", 320)


def test_it_refuses_a_mapping_to_an_unknown_field() -> None:
    with pytest.raises(FeedError, match="unknown field 'colour'"):
        parse(b"", format="standard", mapping={"Farbe": "colour"})


def test_it_keeps_numbering_blank_lines_and_short_rows() -> None:
    data = b"sku,name,stock\nA,Mug,1\n\n,,\nB,Cap\n"
    first, second = rows(data)
    assert (first.row, second.row) == (1, 4)
    assert second.feed_row == FeedRow("B", "Cap")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\nsku,name\n", "the file is empty"),
        (b"sku,price\nA,1\n", "the header has no name column"),
        (b"name\nA\n", "the header has no sku column"),
        (b"sku,na\xffme\nA,B\n", "^the file is not UTF-8 text$"),
        (b"sku,name\n" + b"A,B\n" * 5000 + b"C,\xff\n", "not UTF-8 text \\(near data row"),
        (b"sku,name\nA,B\nC," + b"x" * 200_000 + b"\n", "data row 2 cannot be read: field larger"),
        (b"sku,name," + b"x" * 200_000 + b"\n", "the header row cannot be read: field larger"),
    ],
)
def test_it_fails_a_file_it_cannot_read(data: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        rows(data)


def test_it_refuses_an_unknown_format_at_once() -> None:
    with pytest.raises(FeedError, match="unknown feed format 'xml'"):
        parse(b"", format="xml")
    assert set(FORMATS) == {"standard", "shopify_csv", "google_merchant_tsv"}


def test_it_refuses_text_instead_of_bytes() -> None:
    with pytest.raises(TypeError):
        parse("sku,name", format="standard")  # type: ignore[arg-type]


def test_it_reads_byte_chunks_split_anywhere() -> None:
    data = 'sku;name;description\nA;Thé vert;"a;\nb"\n'.encode()
    chunks: Iterator[bytes] = (data[index : index + 1] for index in range(len(data)))
    row = next(parse(chunks, format="standard"))
    assert row.feed_row == FeedRow("A", "Thé vert", description="a;\nb")


def test_it_reads_a_binary_file_and_leaves_it_open() -> None:
    source = io.BytesIO(b"sku,name\nA,Mug\n")
    assert [row.sku for row in parse(source, format="standard")] == ["A"]
    assert not source.closed


def test_it_reads_json_when_the_body_is_a_list() -> None:
    data = b'\xef\xbb\xbf  [{"SKU": "A", "Name": "Mug", "price": 12.99, "stock": 3, "x": [1]}]'
    row = one(data)
    assert row.feed_row == FeedRow("A", "Mug", 1299, 3)
    assert row.cells == {"SKU": "A", "Name": "Mug", "price": "12.99", "stock": "3", "x": "[1]"}


def test_it_reads_json_by_content_type_and_csv_despite_a_bracket() -> None:
    assert rows(b" [ ] ", content_type="application/json; charset=utf-8") == []
    row = one(b"[sku],name\nA,Mug\n", content_type="text/csv", mapping={"[sku]": "sku"})
    assert row.feed_row == FeedRow("A", "Mug")


def test_it_keeps_json_prices_exact_and_refuses_float_cents() -> None:
    first, second, third = rows(
        b'[{"sku":"A","name":"M","price":0.29},{"sku":"B","name":"M","price_cents":12.5},'
        b'{"sku":"C","name":"M","price":1e2,"stock":null}]'
    )
    assert first.feed_row == FeedRow("A", "M", 29)
    assert problems(second) == {"price_cents": "must be a whole number"}
    assert problems(third) == {"price": "must be a decimal amount such as 12.99"}


def test_it_rejects_json_elements_that_are_not_objects() -> None:
    first, second = rows(b'[1234, {"sku": "A", "name": "Mug", "note": null}]')
    assert first.problems[0].message == "must be a JSON object"
    assert first.cells == {"": "1234"}
    assert second.cells == {"sku": "A", "name": "Mug", "note": ""}


def test_it_reads_json_split_into_tiny_chunks() -> None:
    data = b'[{"sku": "A", "name": "Mug", "stock": 12345}, 678, {"sku": "B", "name": "Cap"}]'
    chunks = [data[index : index + 3] for index in range(0, len(data), 3)]
    parsed = list(parse(chunks, format="standard", content_type="application/json"))
    assert [row.sku for row in parsed] == ["A", None, "B"]
    assert parsed[0].feed_row == FeedRow("A", "Mug", stock=12345)
    assert parsed[1].cells == {"": "678"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "must be a list of objects"),
        (b'{"sku": "A"}', "must be a list of objects"),
        (b'[{"sku": "A"} {"sku": "B"}]', "data row 1: expected ',' or ']'"),
        (b'[{"sku": "A"}', "data row 1: expected ',' or ']'"),
        (b'[{"sku": "A",}]', "data row 1: invalid JSON"),
        (b"[] []", "unexpected data after the JSON list"),
        (b'[{"sku": "\xff"}]', "not UTF-8 text"),
    ],
)
def test_it_fails_broken_json(data: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        rows(data, content_type="application/json")


def test_it_fails_a_json_element_larger_than_a_megabyte() -> None:
    data = b'[{"sku": "A", "description": "' + b"x" * 1_200_000
    with pytest.raises(FeedError, match="data row 1 is larger than 1 MB"):
        rows(data, content_type="application/json")


def test_it_reads_a_json_number_cut_between_two_chunks_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reading, "JSON_CHUNK", 3)
    data = b'[1234, {"sku": "A", "name": "Mug"}]'
    parsed = list(parse(io.BytesIO(data), format="standard", content_type="application/json"))
    assert [row.cells for row in parsed] == [{"": "1234"}, {"sku": "A", "name": "Mug"}]
