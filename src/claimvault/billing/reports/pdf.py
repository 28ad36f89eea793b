"""Renders a report ``Sheet`` as a PDF (reportlab): title, notes, the bar charts the sheet asks for
(reportlab.graphics; stacked bars for aging buckets, horizontal bars for denial reasons, grouped bars for monthly
collections), then the table with its total rows. Built in memory and returned as bytes, never written or logged
here. Page streams stay uncompressed so the text layer is searchable; document properties carry no patient data.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from claimvault.billing.reports.sheets import Cell, Chart, Sheet

PALETTE = (
    colors.HexColor("#1f77b4"),
    colors.HexColor("#ff7f0e"),
    colors.HexColor("#2ca02c"),
    colors.HexColor("#d62728"),
    colors.HexColor("#9467bd"),
)
CHART_WIDTH, CHART_HEIGHT = 8.5 * inch, 3.0 * inch
MAX_CATEGORIES = 24  # more bars than this do not read; the table has them all


def _chart(spec: Chart) -> Drawing:
    categories = spec.categories[:MAX_CATEGORIES]
    drawing = Drawing(CHART_WIDTH, CHART_HEIGHT)
    drawing.add(String(0, CHART_HEIGHT - 12, spec.title, fontName="Helvetica-Bold", fontSize=10))
    chart: Any = HorizontalBarChart() if spec.horizontal else VerticalBarChart()
    chart.x, chart.y = 60, 30
    chart.width, chart.height = CHART_WIDTH - 200, CHART_HEIGHT - 60
    chart.data = [[float(v) for v in values[: len(categories)]] for _, values in spec.series] or [[0.0]]
    chart.categoryAxis.categoryNames = list(categories)
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.forceZero = True
    if spec.stacked:
        chart.categoryAxis.style = "stacked"
    for index in range(len(spec.series)):
        chart.bars[index].fillColor = PALETTE[index % len(PALETTE)]
    drawing.add(chart)
    if len(spec.series) > 1:
        legend = Legend()
        legend.x, legend.y = CHART_WIDTH - 120, CHART_HEIGHT - 30
        legend.fontSize = 7
        legend.alignment = "right"
        legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], name) for i, (name, _) in enumerate(spec.series)]
        drawing.add(legend)
    return drawing


def _text(cell: Cell) -> str:
    return "" if cell is None else str(cell)


def render_pdf(sheet: Sheet, *, organization: str) -> bytes:
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    small = body.clone("small", fontSize=7, leading=9)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(LETTER),
        leftMargin=0.5 * inch,
        rightMargin=0.5 * inch,
        topMargin=0.5 * inch,
        bottomMargin=0.5 * inch,
        title=sheet.title,
        author=organization,
        creator="ClaimVault",
        pageCompression=0,
    )
    story: list[Any] = [
        Paragraph(escape(sheet.title), styles["Title"]),
        Paragraph(escape(f"Organization: {organization}"), body),
    ]
    story += [Paragraph(escape(note), body) for note in sheet.notes]
    story.append(Spacer(1, 0.15 * inch))
    for spec in sheet.charts:
        if spec.categories:
            story += [_chart(spec), Spacer(1, 0.15 * inch)]
    data = [[Paragraph(escape(h), small) for h in sheet.header]]
    data += [[Paragraph(escape(_text(c)), small) for c in row] for row in (*sheet.rows, *sheet.totals)]
    if len(data) == 1:
        data.append([Paragraph("No rows.", small)] + [Paragraph("", small)] * (len(sheet.header) - 1))
    table = Table(data, repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if sheet.totals:
        style.append(("BACKGROUND", (0, len(data) - len(sheet.totals)), (-1, -1), colors.whitesmoke))
    table.setStyle(TableStyle(style))
    story.append(table)
    doc.build(story)
    return buffer.getvalue()
