"""The workbook as it prints: pictures at their drawn size and aspect, type ≥ 8 pt, readable colours,
numbers numeric, no internal codes, the cover, and the citizens' comments with personal data masked.

The render test (marked slow) opens the workbook in LibreOffice under vi-VN, as a district would, and
reads the PDF back; it is skipped only where LibreOffice or poppler-utils are not installed.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from PIL import Image

import questionnaires
from reports import charts
from reports.colours import SCALE, contrast_ratio, ink_for, scale_colour
from reports.comments import EMAIL, ID_NUMBER, PHONE, collect_comments, mask_personal_data
from reports.structure import Structure, short_name, vn_number
from reports.synthetic import synthetic_index_table
from reports.workbook import (
    FIGURE_DPI,
    PRINT_WIDTH_PX,
    SHEET_COMMENTS,
    SHEET_FIGURES,
    SHEET_METHOD,
    SHEET_RANKING,
    Cover,
    build_report,
    column_px,
)

ROOT = Path(__file__).resolve().parents[1]
EMU_PER_INCH = 914_400
SCRIPT = ROOT / "scripts" / "render_report.sh"

# Hand-made comments: unit, text as typed, text as it must appear in the workbook.
COMMENTS = [
    ("tra-son", "Cán bộ tốt. Gọi tôi: 0905 123 456 nhé", f"Cán bộ tốt. Gọi tôi: {PHONE} nhé"),
    ("tra-son", "SĐT 0905.123.456 hoặc (+84) 935-111-222", f"SĐT {PHONE} hoặc {PHONE}"),
    ("tra-son", "Liên hệ +84905123456, email nguyen.van.a@gmail.com.", f"Liên hệ {PHONE}, email {EMAIL}."),
    ("tra-phu", "Máy bàn (0255) 3.822.123, CCCD 051090001234", f"Máy bàn {PHONE}, CCCD {ID_NUMBER}"),
    ("tra-phu", "CMND: 212345678 — xin cấp lại", f"CMND: {ID_NUMBER} — xin cấp lại"),
    ("tra-phu", "Số căn cước 0510 9000 1234 bị sai", f"Số căn cước {ID_NUMBER} bị sai"),
    ("tra-phu", "Lệ phí 150.000.000 đồng là quá cao; tổng đài 1900 1234", None),
    (
        "tra-lam",
        '=HYPERLINK("http://x","Bấm vào đây") 84 912 345 678',
        f'=HYPERLINK("http://x","Bấm vào đây") {PHONE}',
    ),
    ("tra-lam", "Ủy ban xã phục vụ chu đáo, nhiệt tình; cảm ơn!", None),
]


@pytest.fixture(scope="module")
def questionnaire():
    return questionnaires.load_questionnaire("sipas-2017")


@pytest.fixture(scope="module")
def names():
    return {u.code: u.name for u in questionnaires.load_units("tra-bong-2023")}


@pytest.fixture(scope="module")
def table(questionnaire, names):
    return synthetic_index_table(
        questionnaire, list(names), names=names, seed=17, n=[60 + 3 * i for i in range(16)]
    )


@pytest.fixture(scope="module")
def comments_table(names):
    rows = []
    for i, code in enumerate(names):
        for k in range(4):
            rows.append({"response_id": f"R{i:02d}{k}", "unit": code, "gop_y": None})
    frame = pd.DataFrame(rows)
    for unit, text, _ in COMMENTS:
        index = frame.index[(frame["unit"] == unit) & frame["gop_y"].isna()][0]
        frame.loc[index, "gop_y"] = text
    return frame


@pytest.fixture(scope="module")
def report(tmp_path_factory, table, questionnaire, names, comments_table):
    path = tmp_path_factory.mktemp("print") / "bao-cao.xlsx"
    build_report(
        table,
        questionnaire,
        path,
        unit_names=names,
        comments=comments_table,
        title="Kết quả Chỉ số hài lòng năm 2024",
        issuer="UBND huyện Trà Bồng",
        period="Năm 2024",
        cover=Cover.of(
            "125/BC-UBND",
            ["Sở Nội vụ tỉnh Quảng Ngãi;", "Lưu: VT, NV."],
            ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"],
            "Nguyễn Văn A",
        ),
    )
    return path


@pytest.fixture(scope="module")
def book(report):
    return openpyxl.load_workbook(report)


# ------------------------------------------------------------------------------- personal data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0905 123 456", PHONE),
        ("0905.123.456", PHONE),
        ("0905-123-456", PHONE),
        ("0905123456", PHONE),
        ("(+84) 905 123 456", PHONE),
        ("+84 905 123 456", PHONE),
        ("84 905 123 456", PHONE),
        ("0235 3822 123", PHONE),
        ("(0235) 3.822.123", PHONE),
        ("+84 235 3822 123", PHONE),
        ("0168 123 4567", PHONE),
        ("gọi (0905123456) nhé", f"gọi ({PHONE}) nhé"),
        ("051090001234", ID_NUMBER),
        ("0510 9000 1234", ID_NUMBER),
        ("CMND 212345678", f"CMND {ID_NUMBER}"),
        ("CMND số 201.234.567", f"CMND số {ID_NUMBER}"),
        ("thư: a_b@ubnd.quangngai.gov.vn.", f"thư: {EMAIL}."),
        # Left alone: amounts, hotlines, dates, years, short numbers.
        ("phí 150.000.000 đồng", "phí 150.000.000 đồng"),
        ("150.000.000", "150.000.000"),
        ("tổng đài 1900 1234 56", "tổng đài 1900 1234 56"),
        ("ngày 20/12/2023, năm 2023", "ngày 20/12/2023, năm 2023"),
        ("hồ sơ số 123", "hồ sơ số 123"),
    ],
)
def test_personal_data_is_masked(text, expected):
    assert mask_personal_data(text)[0] == expected


def test_masking_keeps_diacritics_and_counts(questionnaire, comments_table):
    decomposed = "Ủy ban xã".encode().decode()  # NFC already; and a decomposed variant below
    import unicodedata

    text, found = mask_personal_data(unicodedata.normalize("NFD", "Cán bộ Ủy ban: 0905 123 456"))
    assert text == f"Cán bộ Ủy ban: {PHONE}" and unicodedata.is_normalized("NFC", text)
    assert found == {PHONE: 1}
    assert decomposed in mask_personal_data("Ủy ban xã")[0]
    collected = collect_comments(questionnaire, comments_table, ["tra-son", "tra-phu", "tra-lam"])
    assert [c.text for c in collected.rows] == [expected or text for _, text, expected in COMMENTS]
    assert collected.masked == {PHONE: 6, ID_NUMBER: 3, EMAIL: 1}
    assert collected.forms["tra-son"] == 4 and collected.with_comment["tra-son"] == 3
    assert collected.with_comment.get("tra-xuan", 0) == 0


# ------------------------------------------------------------------------------ the comments sheet


def test_comments_sheet_masked_filterable_and_safe(report, book, names, table):
    assert SHEET_COMMENTS in book.sheetnames
    assert book.sheetnames.index(SHEET_COMMENTS) == book.sheetnames.index(SHEET_METHOD) - 1
    ws = book[SHEET_COMMENTS]
    assert list(ws.tables) == ["GopY"]
    gop_y = ws.tables["GopY"]
    assert gop_y.autoFilter is not None
    first, last = gop_y.ref.split(":")
    head = int(re.sub(r"\D", "", first))
    assert [c.value for c in ws[head][:3]] == ["STT", "Đơn vị", "Góp ý"]
    assert gop_y.autoFilter.ref == gop_y.ref and int(re.sub(r"\D", "", last)) == head + len(COMMENTS)
    rows = [[c.value for c in r[:3]] for r in ws.iter_rows(min_row=head + 1, max_row=head + len(COMMENTS))]
    # Units in rank order, each unit's comments in the order received; text masked, nothing else changed.
    rank = {u.unit: u.rank for u in table.units}
    ordered = sorted(COMMENTS, key=lambda c: rank[c[0]])
    assert [r[1] for r in rows] == [names[u] for u, _, _ in ordered]
    assert [r[2] for r in rows] == [expected or text for _, text, expected in ordered]
    assert [r[0] for r in rows] == list(range(1, len(COMMENTS) + 1))
    hostile = next(
        c for r in ws.iter_rows() for c in r if isinstance(c.value, str) and "HYPERLINK" in c.value
    )
    assert hostile.data_type == "s"  # text, never a formula
    every = " ".join(str(c.value) for r in ws.iter_rows() for c in r if c.value is not None)
    for secret in ("0905", "123 456", "051090001234", "212345678", "gmail", "3.822.123", "912 345"):
        assert secret not in every
    # Counts per unit beside the comments: numbers with number formats.
    counts = {r[4].value: r for r in ws.iter_rows(min_row=head + 1) if r[4].value in names.values()}
    assert len(counts) == 16
    son = counts[names["tra-son"]]
    assert (son[5].value, son[6].value, son[7].value) == (4, 3, 75)
    assert (son[5].number_format, son[7].number_format) == ("#,##0", "0.0")
    assert counts[names["tra-xuan"]][6].value == 0
    with zipfile.ZipFile(report) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert "<f>" not in z.read(name).decode("utf-8")


def test_comments_table_in_constant_memory_mode(table, questionnaire, names, comments_table):
    buffer = io.BytesIO()
    build_report(
        table,
        questionnaire,
        buffer,
        unit_names=names,
        comments=comments_table,
        pictures=False,
        constant_memory=True,
    )
    ws = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))[SHEET_COMMENTS]
    assert list(ws.tables) == ["GopY"]


def test_no_comments_sheet_without_text_answers(table, questionnaire, names, tmp_path):
    frame = pd.DataFrame({"response_id": ["a"], "unit": ["tra-son"]})
    sheets = build_report(table, questionnaire, tmp_path / "x.xlsx", comments=frame, pictures=False)
    assert SHEET_COMMENTS not in sheets


# ---------------------------------------------------------------------------- numbers and text


def test_numbers_stay_numbers_with_standard_formats(book, table):
    ws = book[SHEET_RANKING]
    head = next(r[0].row for r in ws.iter_rows(min_col=1, max_col=1) if r[0].value == "Hạng")
    header = [c.value for c in ws[head]]
    first = ws[head + 1]
    expected = {"Số phiếu": "#,##0", "Chỉ số (%)": "0.00", "Cận dưới": "0.00", "Cận trên": "0.00"}
    for title, fmt in expected.items():
        cell = first[header.index(title)]
        assert isinstance(cell.value, int | float) and cell.number_format == fmt, title
    # Numbers inside text: the Vietnamese way (dot thousands, comma decimals), the same everywhere.
    o = table.overall
    summary = next(
        c.value for r in ws.iter_rows(max_row=10) for c in r if str(c.value).startswith("Toàn huyện")
    )
    assert f"chỉ số {vn_number(o.index)}" in summary and f"{vn_number(o.n, 0)} phiếu" in summary
    assert vn_number(1234567.891) == "1.234.567,89" and vn_number(0.5, 0) == "0" and vn_number(None) == "—"


def test_no_internal_codes_in_print(book, table, names):
    ranking = book[SHEET_RANKING]
    area = ranking.print_area
    assert area.endswith("$K$" + area.rsplit("$", 1)[1])  # column L (unit codes) is not printed
    printed = [b for b in book.sheetnames if b not in ("Dữ liệu", "Mã hoá")]
    codes = set(names) | {"lonely_cell", "small_sample", "missing_criteria", "below_target", "tiep_can_1"}
    for name in printed:
        ws = book[name]
        cols = None
        if ws.print_area:
            cols = re.findall(r"\$([A-Z]+)\$", ws.print_area)[1]
        for row in ws.iter_rows():
            for c in row:
                if not hasattr(c, "column_letter"):
                    continue  # inside a merged range: its text is in the range's first cell
                if cols and c.column_letter > cols and len(c.column_letter) == len(cols):
                    continue
                if isinstance(c.value, str):
                    assert not any(
                        re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", c.value) for k in codes
                    ), (
                        name,
                        c.coordinate,
                        c.value,
                    )
    method = {r[0]: r[1] for r in book[SHEET_METHOD].iter_rows(values_only=True) if r[0]}
    assert "chỉ có 1 phiếu" in method["Có ô chỉ 1 phiếu"] and "gần đúng" in method["Có ô chỉ 1 phiếu"]


def test_cover_number_recipients_and_signature(book, table, questionnaire, tmp_path):
    values = [c for row in book[SHEET_RANKING].iter_rows(values_only=True) for c in row if c]
    assert "Số: 125/BC-UBND" in values
    assert "Nơi nhận:" in values and "- Sở Nội vụ tỉnh Quảng Ngãi;" in values and "- Lưu: VT, NV." in values
    assert "TM. ỦY BAN NHÂN DÂN" in values and "CHỦ TỊCH" in values and "Nguyễn Văn A" in values
    assert Cover.of(None, [" "], [], "") is None
    path = tmp_path / "plain.xlsx"
    build_report(table, questionnaire, path, pictures=False)
    plain = [
        c for row in openpyxl.load_workbook(path)[SHEET_RANKING].iter_rows(values_only=True) for c in row if c
    ]
    assert not [v for v in plain if str(v).startswith(("Số:", "Nơi nhận"))]


# ---------------------------------------------------------------------------------------- colours


def test_colour_scales_keep_text_readable():
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21)
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
    # The workbook's scale, everywhere between its ends, and the heatmap's colour map.
    for t in np.linspace(0, 100, 201):
        fill = scale_colour(t, 0, 50, 100)
        assert contrast_ratio(fill, ink_for(fill)) >= 4.5, fill
        rgba = charts.HEAT(t / 100)
        assert contrast_ratio(rgba, charts._ink(rgba)) >= 4.5, rgba
    assert scale_colour(0, 0, 50, 100) == SCALE[0] and scale_colour(100, 0, 50, 100) == SCALE[2]
    # The old choice, dark red type on the scale's red, is what this prevents.
    assert contrast_ratio("#9C0006", SCALE[0]) < 4.5
    assert ink_for("#1F3B73") == "#FFFFFF" and ink_for("#FEE08B") == "#111111"


def test_heatmap_cells_use_the_readable_ink(questionnaire, table, names):
    figure = charts.heatmap_figure(table, names, questionnaire=questionnaire)
    ax = figure.axes[0]
    image = ax.images[0]
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    assert numbers
    for t in numbers:
        fill = image.cmap(image.norm(float(t.get_text())))
        assert contrast_ratio(fill, t.get_color()) >= 4.4  # the number is rounded; the fill is the value's


# ------------------------------------------------------------------------------------- figures


def test_charts_start_at_zero_and_name_criteria(questionnaire, table, names):
    radar = charts.elements_figure(table, names, questionnaire=questionnaire)
    polar = [ax for ax in radar.axes if ax.name == "polar"]
    assert polar and all(ax.get_ylim() == (0, 100) for ax in polar)
    ranking = charts.ranking_figure(table, names)
    assert ranking.axes[0].get_xlim()[0] == 0
    profile = charts.unit_profile_figure(table, table.units[0].unit, names, questionnaire=questionnaire)
    assert profile.axes[0].get_xlim()[0] == 0
    heat = charts.heatmap_figure(table, names, questionnaire=questionnaire)
    labels = [t.get_text().replace("\n", " ") for t in heat.axes[0].get_xticklabels()]
    assert labels[0] == "1.1 Nơi ngồi chờ có đủ chỗ ngồi"
    assert labels[2] == "1.3 Trang thiết bị phục … hiện đại"
    assert len(set(labels)) == len(labels)


def test_short_names_only_remove_words(questionnaire, table):
    structure = Structure.build(table, questionnaire)
    for code, name in structure.names.items():
        words = structure.label(code).replace("(", " ").replace(")", " ").split()
        kept = [w for w in name.split() if w != "…"]
        it = iter(words)
        assert all(any(w.rstrip(",;:") == x.rstrip(",;:") for x in it) for w in kept), (code, name)
        assert len(name) <= 40
    assert short_name("Thời hạn giải quyết (tính từ ngày hồ sơ được tiếp nhận) là đúng quy định") == (
        "Thời hạn giải quyết … quy định"
    )


@pytest.mark.parametrize("kind", ["ranking", "heatmap", "elements", "profile"])
def test_every_chart_text_is_at_least_8_pt(kind, questionnaire, table, names):
    make = {
        "ranking": lambda: charts.ranking_figure(table, names, width=9.6),
        "heatmap": lambda: charts.heatmap_figure(
            table, names, questionnaire=questionnaire, width=9.6, height=6.4
        ),
        "elements": lambda: charts.elements_figure(
            table, names, questionnaire=questionnaire, width=9.6, height=6.4
        ),
        "profile": lambda: charts.unit_profile_figure(
            table, "tra-son", names, questionnaire=questionnaire, width=4.2
        ),
    }
    assert charts.smallest_font(make[kind]()) >= charts.MIN_FONT_PT


def _drawings(path: Path) -> list[tuple[str, dict]]:
    """(sheet name, picture) for every picture: its anchor columns, its size (EMU) and its PNG."""
    ns = {
        "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
        "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    }
    rel = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
    out = []
    with zipfile.ZipFile(path) as z:
        book = ET.fromstring(z.read("xl/workbook.xml"))
        book_rels = {
            r.get("Id"): r.get("Target")
            for r in ET.fromstring(z.read("xl/_rels/workbook.xml.rels")).iter(rel)
        }
        for sheet in book.iter("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}sheet"):
            target = "xl/" + book_rels[sheet.get(f"{{{ns['r']}}}id")]
            rels_path = target.replace("worksheets/", "worksheets/_rels/") + ".rels"
            if rels_path not in z.namelist():
                continue
            for r in ET.fromstring(z.read(rels_path)).iter(rel):
                if not r.get("Target").startswith("../drawings/"):
                    continue
                drawing = "xl/drawings/" + r.get("Target").rsplit("/", 1)[1]
                media = {
                    d.get("Id"): "xl/media/" + d.get("Target").rsplit("/", 1)[1]
                    for d in ET.fromstring(
                        z.read(drawing.replace("drawings/", "drawings/_rels/") + ".rels")
                    ).iter(rel)
                }
                for anchor in ET.fromstring(z.read(drawing)).findall("xdr:twoCellAnchor", ns):
                    pic = anchor.find("xdr:pic", ns)
                    if pic is None:
                        continue
                    ext = anchor.find("xdr:pic/xdr:spPr/a:xfrm/a:ext", ns)
                    blip = anchor.find("xdr:pic/xdr:blipFill/a:blip", ns).get(f"{{{ns['r']}}}embed")
                    out.append(
                        (
                            sheet.get("name"),
                            {
                                "from": int(anchor.find("xdr:from/xdr:col", ns).text),
                                "to": int(anchor.find("xdr:to/xdr:col", ns).text),
                                "cx": int(ext.get("cx")),
                                "cy": int(ext.get("cy")),
                                "png": z.read(media[blip]),
                            },
                        )
                    )
    return out


def test_pictures_keep_their_aspect_and_print_at_drawn_size(report, book):
    pictures = _drawings(report)
    assert {s for s, _ in pictures} >= {SHEET_FIGURES, "Xã Trà Sơn"}
    assert len(pictures) == 3 + 16
    for sheet, p in pictures:
        image = Image.open(io.BytesIO(p["png"]))
        width, height = image.size
        dpi = image.info["dpi"][0]
        assert dpi == pytest.approx(FIGURE_DPI, rel=1e-3)
        # Same scale on both axes, and exactly the figure's own size in inches: type prints at its size.
        assert p["cx"] / p["cy"] == pytest.approx(width / height, rel=2e-3), sheet
        assert p["cx"] / EMU_PER_INCH == pytest.approx(width / dpi, rel=2e-3), sheet
        # Within one column: no spreadsheet can stretch it by measuring columns its own way.
        assert p["from"] == p["to"], sheet
        # The sheet is narrower than the printed page, so "one page wide" never shrinks it.
        ws = book[sheet]
        letters = [openpyxl.utils.get_column_letter(i) for i in range(1, p["to"] + 2)]
        sheet_px = sum(
            column_px(ws.column_dimensions[c].width) if c in ws.column_dimensions else 64 for c in letters
        )
        assert sheet_px <= PRINT_WIDTH_PX, sheet


# ---------------------------------------------------------------------------------------- render


needs_render = pytest.mark.skipif(
    not (shutil.which("libreoffice") and shutil.which("pdftoppm") and shutil.which("pdfimages")),
    reason="LibreOffice or poppler-utils not installed (Debian: libreoffice-calc poppler-utils)",
)


@pytest.mark.slow
@needs_render
def test_rendered_pdf_as_a_district_sees_it(report, table, tmp_path):
    out = tmp_path / "render"
    subprocess.run(
        ["bash", str(SCRIPT), str(report), str(out), "40"], check=True, capture_output=True, timeout=600
    )
    pdf = out / "bao-cao.pdf"
    listing = subprocess.run(
        ["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    images = [line.split() for line in listing.splitlines()[2:] if line.split()[2] == "image"]
    assert len(images) == 3 + 16
    for cols in images:
        x_ppi, y_ppi = float(cols[12]), float(cols[13])
        assert x_ppi == pytest.approx(y_ppi, rel=0.02), cols  # not stretched
        # Printed at the drawn size (ppi = the PNG's dpi), so the smallest type is the figure's ≥ 8 pt.
        assert x_ppi == pytest.approx(FIGURE_DPI, rel=0.03), cols
    page = subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "2", str(pdf), "-"], capture_output=True, text=True
    )
    text = page.stdout
    first, second = text.split("\f")[:2]
    # vi-VN: the cell formatted 0.00 shows a decimal comma, the count #,##0 a dot for thousands.
    best = table.units[0]
    assert f" {vn_number(best.index)} " in first
    assert vn_number(table.overall.n, 0) in first
    # Page 2 holds the notes and the signature, with no orphan header row and no unit code.
    assert "Cận dưới" not in second and "Mã đơn vị" not in first + second
    assert "Nơi nhận" in second and "Nguyễn Văn A" in second
    assert len(list(out.glob("bao-cao-*.png"))) >= 20


def test_many_comments_stream_with_a_plain_filter(table, questionnaire, names, comments_table, monkeypatch):
    # Above TABLE_MAX comments the sheet streams row by row (constant memory) with a header filter.
    monkeypatch.setattr("reports.comments.TABLE_MAX", 3)
    buffer = io.BytesIO()
    build_report(table, questionnaire, buffer, comments=comments_table, pictures=False, constant_memory=True)
    ws = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))[SHEET_COMMENTS]
    assert not ws.tables
    head = next(r[0].row for r in ws.iter_rows(min_col=1, max_col=1) if r[0].value == "STT")
    assert ws.auto_filter.ref == f"A{head}:C{head + len(COMMENTS)}"
    texts = [r[2] for r in ws.iter_rows(min_row=head + 1, max_row=head + len(COMMENTS), values_only=True)]
    assert sorted(texts) == sorted(expected or text for _, text, expected in COMMENTS)
