"""The corpus generator: picks a format per document, renders a split's templates, and records what it planted.

``generate_corpus(split=..., seed=..., documents=...)`` is deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from . import structured
from .builder import Builder, J, Rich, delimited_row, emit_json, jr, lit, render
from .fields import Ctx
from .kit import Each, Table, TemplateSet
from .model import FORMATS, Document
from .office import docx_bytes, pdf_bytes, xlsx_bytes, zip_bytes
from .templates_test import TEMPLATES as TEST_TEMPLATES
from .templates_train import TEMPLATES as TRAIN_TEMPLATES

WEIGHTS = {
    "text": 11,
    "csv": 11,
    "tsv": 7,
    "json": 11,
    "fhir": 11,
    "x12": 11,
    "hl7": 11,
    "xlsx": 8,
    "docx": 7,
    "pdf": 7,
    "zip": 5,
}
EXTENSIONS = {
    "text": "txt",
    "csv": "csv",
    "tsv": "tsv",
    "json": "json",
    "fhir": "json",
    "x12": "x12",
    "hl7": "hl7",
    "xlsx": "xlsx",
    "docx": "docx",
    "pdf": "pdf",
    "zip": "zip",
}
Maker = Callable[[TemplateSet, random.Random, str], Document]


def _ctx(rng: random.Random, **kwargs: bool) -> Ctx:
    return Ctx(rng, rng.randrange(2**31), **kwargs)


def _text_doc(path: str, fmt: str, rich: Rich) -> Document:
    builder = Builder().add(rich)
    return Document(path, fmt, builder.text().encode("utf-8"), tuple(builder.entities), tuple(builder.negatives), True)


def _binary_doc(path: str, fmt: str, data: bytes, pieces: list[Rich]) -> Document:
    builder = Builder()
    for piece in pieces:
        builder.add(piece).lit("\n")
    return Document(path, fmt, data, tuple(builder.entities), (), False)


def _prose(ts: TemplateSet, ctx: Ctx) -> list[Rich]:
    """A letter, or a log of short notes about several patients, plus sentences carrying hard negatives."""
    rng = ctx.rng
    if rng.random() < 0.55:
        letter = rng.choice(ts.letters)
        paragraphs = [render(text, ctx.resolve) for text in letter.paragraphs]
    else:
        paragraphs = [render(rng.choice(ts.notes), ctx.resolve) for _ in range(rng.randint(4, 9))]
    for _ in range(rng.randint(1, 3)):
        paragraphs.insert(rng.randint(1, len(paragraphs)), render(rng.choice(ts.negative_snippets), ctx.resolve))
    return paragraphs


def make_text(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng)
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    rich: Rich = []
    for index, paragraph in enumerate(_prose(ts, ctx)):
        if index:
            rich.append((None, ts.note_separator.replace("\n", newline)))
        rich.extend((kind, text.replace("\n", newline) if kind is None else text) for kind, text in paragraph)
    rich.append((None, newline))
    return _text_doc(path, "text", rich)


def _table_rows(table: Table, ctx: Ctx) -> list[list[Rich]]:
    rows = [[lit(header) for header, _ in table.columns]]
    for _ in range(ctx.rng.randint(*table.rows)):
        ctx.new_patient()
        rows.append([render(template, ctx.resolve) for _, template in table.columns])
    return rows


def _delimited(ts: TemplateSet, rng: random.Random, path: str, fmt: str) -> Document:
    ctx = _ctx(rng)
    delimiter = "," if fmt == "csv" else "\t"
    newline = "\r\n" if fmt == "csv" and rng.random() < 0.5 else "\n"
    quote_all = fmt == "csv" and rng.random() < 0.2
    rich: Rich = []
    for row in _table_rows(rng.choice(ts.tables), ctx):
        rich.extend(delimited_row(row, delimiter, quote_all=quote_all))
        rich.append((None, newline))
    return _text_doc(path, fmt, rich)


def make_csv(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    return _delimited(ts, rng, path, "csv")


def make_tsv(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    return _delimited(ts, rng, path, "tsv")


def _json_value(node: Any, ctx: Ctx) -> Any:
    if isinstance(node, Each):
        items = []
        for _ in range(ctx.rng.randint(node.lo, node.hi)):
            if node.new_patient:
                ctx.new_patient()
            items.append(_json_value(node.item, ctx))
        return items
    if isinstance(node, dict):
        return {key: _json_value(value, ctx) for key, value in node.items()}
    if isinstance(node, list):
        return [_json_value(value, ctx) for value in node]
    if isinstance(node, str) and node.startswith("#{"):
        return J(tuple(render(node[1:], ctx.resolve)), raw=True)
    if isinstance(node, str) and "{" in node:
        return jr(render(node, ctx.resolve))
    return node


def make_json(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng)
    _, skeleton = rng.choice(ts.json_docs)
    value = _json_value(skeleton, ctx)
    indent = None if rng.random() < 0.3 else rng.choice((2, 4))
    return _text_doc(path, "json", [*emit_json(value, indent=indent), (None, "\n")])


def make_fhir(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng)
    return _text_doc(path, "fhir", [*structured.fhir_bundle(ctx, ts.fhir), (None, "\n")])


def make_x12(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng, upper=True, fold=True)
    kind = rng.choices(("837", "835", "270"), (50, 25, 25))[0]
    writer = {"837": structured.x12_837, "835": structured.x12_835, "270": structured.x12_270}[kind]
    return _text_doc(path, "x12", writer(ctx, ts.x12))


def make_hl7(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng, upper=ts.hl7.get("upper", False))
    rich: Rich = []
    for _ in range(rng.randint(*ts.hl7["messages"])):
        rich.extend(structured.hl7_message(ctx, ts.hl7, rng.choice(ts.hl7_events)))
        rich.append((None, "\r"))
    return _text_doc(path, "hl7", rich)


def make_xlsx(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng)
    sheets: list[tuple[str, list[list[Rich | float]]]] = []
    pieces: list[Rich] = []
    for table in rng.sample(ts.sheets, rng.choice((1, 1, 2))):
        rows = _table_rows(table, ctx)
        cells: list[list[Rich | float]] = []
        for r, row in enumerate(rows):
            out: list[Rich | float] = []
            for c, cell in enumerate(row):
                numeric = r > 0 and table.columns[c][1] == "{amount}"
                out.append(float("".join(text for _, text in cell)) if numeric else cell)
                if not numeric:
                    pieces.append(cell)
            cells.append(out)
        sheets.append((table.name.replace("_", " ").title()[:31], cells))
    return _binary_doc(path, "xlsx", xlsx_bytes(sheets, rng), pieces)


def make_docx(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng)
    blocks: list[Rich | list[list[Rich]]] = []
    pieces: list[Rich] = []
    for paragraph in _prose(ts, ctx):
        for line in _split_lines(paragraph):
            blocks.append(line)
            pieces.append(line)
    if rng.random() < 0.5:
        table = rng.choice(ts.sheets)
        rows = _table_rows(Table(table.name, table.columns, (2, 5)), ctx)
        blocks.append(rows)
        pieces.extend(cell for row in rows for cell in row)
    return _binary_doc(path, "docx", docx_bytes(blocks, rng), pieces)


def _split_lines(rich: Rich) -> list[Rich]:
    lines: list[Rich] = [[]]
    for kind, text in rich:
        if kind is not None or "\n" not in text:
            lines[-1].append((kind, text))
            continue
        parts = text.split("\n")
        lines[-1].append((None, parts[0]))
        lines.extend([[(None, part)] for part in parts[1:]])
    return lines


def make_pdf(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    ctx = _ctx(rng, fold=True)
    paragraphs = _prose(ts, ctx)
    return _binary_doc(path, "pdf", pdf_bytes(paragraphs, "Correspondence"), paragraphs)


MEMBER_NAMES = {
    "text": "notes",
    "csv": "export",
    "tsv": "extract",
    "json": "api_dump",
    "fhir": "bundle",
    "x12": "batch",
    "hl7": "feed",
    "xlsx": "workbook",
    "docx": "letter",
    "pdf": "scan",
}


def _zip_members(ts: TemplateSet, rng: random.Random, path: str, count: int, nested: bool) -> tuple[Document, ...]:
    members: list[Document] = []
    for index in range(count):
        fmt = rng.choice([f for f in FORMATS if f != "zip"])
        folder = rng.choice(ts.zip_folders)
        name = f"{folder}/{MEMBER_NAMES[fmt]}_{index + 1:02d}.{EXTENSIONS[fmt]}"
        members.append(MAKERS[fmt](ts, random.Random(rng.randrange(2**63)), f"{path}!{name}"))
    if nested:
        name = f"{rng.choice(ts.zip_folders)}/archive/older.zip"
        inner = _zip_members(ts, random.Random(rng.randrange(2**63)), f"{path}!{name}", rng.randint(1, 2), False)
        members.append(_zip_doc(f"{path}!{name}", inner))
    return tuple(members)


def _zip_doc(path: str, members: tuple[Document, ...]) -> Document:
    files = [(member.path.rsplit("!", 1)[1], member.data) for member in members]
    return Document(path, "zip", zip_bytes(files), (), (), False, members)


def make_zip(ts: TemplateSet, rng: random.Random, path: str) -> Document:
    return _zip_doc(path, _zip_members(ts, rng, path, rng.randint(3, 5), True))


MAKERS: dict[str, Maker] = {
    "text": make_text,
    "csv": make_csv,
    "tsv": make_tsv,
    "json": make_json,
    "fhir": make_fhir,
    "x12": make_x12,
    "hl7": make_hl7,
    "xlsx": make_xlsx,
    "docx": make_docx,
    "pdf": make_pdf,
    "zip": make_zip,
}


def _plan(documents: int, rng: random.Random) -> list[str]:
    total = sum(WEIGHTS.values())
    counts = {fmt: max(1, documents * weight // total) for fmt, weight in WEIGHTS.items()}
    order = sorted(WEIGHTS, key=lambda fmt: -WEIGHTS[fmt])
    index = 0
    while sum(counts.values()) < documents:
        counts[order[index % len(order)]] += 1
        index += 1
    plan = [fmt for fmt in FORMATS for _ in range(counts[fmt])]
    rng.shuffle(plan)
    return plan[:documents]


def generate_corpus(*, split: Literal["train", "test"], seed: int = 0, documents: int = 220) -> list[Document]:
    """The ``split`` corpus: ``documents`` files over every format, the same bytes for the same arguments."""
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'")
    if documents < 1:
        raise ValueError("documents must be positive")
    templates = TRAIN_TEMPLATES if split == "train" else TEST_TEMPLATES
    plan = _plan(documents, random.Random(f"{split}:{seed}:plan"))
    corpus = []
    for index, fmt in enumerate(plan):
        rng = random.Random(f"{split}:{seed}:{index}")
        corpus.append(MAKERS[fmt](templates, rng, f"{split}/{index:04d}.{EXTENSIONS[fmt]}"))
    return corpus


def write_corpus(documents: list[Document], directory: Path) -> None:
    """Write each document's bytes at ``directory / document.path`` (archives as archives)."""
    for document in documents:
        target = directory / document.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(document.data)
