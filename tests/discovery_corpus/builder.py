"""Text assembly with exact offsets: rich segments, placeholder rendering, CSV cells and a JSON emitter.

A *rich* text is a list of segments ``(kind, text)``: kind None is template text, an entity type plants an entity,
and ``"!" + kind`` plants a hard negative. The builder turns rich text into a string and its planted spans.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .model import Planted

Seg = tuple[str | None, str]
Rich = list[Seg]
_PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")


def lit(text: str) -> Rich:
    return [(None, text)]


def ent(kind: str, value: str) -> Rich:
    return [(kind, value)]


def plain(rich: Sequence[Seg]) -> str:
    return "".join(text for _, text in rich)


@dataclass
class Builder:
    """Accumulates text and the spans of planted entities and negatives (code-point offsets)."""

    parts: list[str] = field(default_factory=list)
    pos: int = 0
    entities: list[Planted] = field(default_factory=list)
    negatives: list[Planted] = field(default_factory=list)

    def add(self, rich: Iterable[Seg]) -> Builder:
        for kind, text in rich:
            if kind is not None and text:
                span = Planted(kind.lstrip("!"), self.pos, self.pos + len(text), text)
                (self.negatives if kind.startswith("!") else self.entities).append(span)
            self.parts.append(text)
            self.pos += len(text)
        return self

    def lit(self, text: str) -> Builder:
        return self.add(lit(text))

    def text(self) -> str:
        return "".join(self.parts)


def render(template: str, resolve: Callable[[str], Rich]) -> Rich:
    """Replace each ``{name}`` in ``template`` by ``resolve(name)``."""
    out: Rich = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > pos:
            out.append((None, template[pos : match.start()]))
        out.extend(resolve(match.group(1)))
        pos = match.end()
    if pos < len(template):
        out.append((None, template[pos:]))
    return out


def delimited_row(cells: Sequence[Rich], delimiter: str, *, quote_all: bool = False) -> Rich:
    """One CSV/TSV record with RFC 4180 quoting (no line ending)."""
    out: Rich = []
    for index, cell in enumerate(cells):
        if index:
            out.append((None, delimiter))
        text = plain(cell)
        if quote_all or any(ch in text for ch in (delimiter, '"', "\n", "\r")):
            out.append((None, '"'))
            out.extend((kind, value.replace('"', '""')) for kind, value in cell)
            out.append((None, '"'))
        else:
            out.extend(cell)
    return out


@dataclass(frozen=True)
class J:
    """A JSON leaf built from rich text; ``raw`` writes it unquoted (a number)."""

    rich: tuple[Seg, ...]
    raw: bool = False


def jv(kind: str | None, value: str, *, raw: bool = False) -> J:
    return J(((kind, value),), raw)


def jr(rich: Rich) -> J:
    return J(tuple(rich))


JsonValue = object


def emit_json(value: JsonValue, *, indent: int | None = 2, level: int = 0) -> Rich:
    """Serialise ``value`` (dicts, lists, scalars and ``J`` leaves) keeping planted spans exact."""
    if isinstance(value, J):
        if value.raw:
            return list(value.rich)
        out: Rich = [(None, '"')]
        for kind, text in value.rich:
            escaped = json.dumps(text, ensure_ascii=False)[1:-1]
            if kind is not None and escaped != text:
                raise ValueError("planted JSON value needs escaping")
            out.append((kind, escaped))
        out.append((None, '"'))
        return out
    if isinstance(value, dict):
        return _container([(json.dumps(k, ensure_ascii=False), v) for k, v in value.items()], "{}", indent, level)
    if isinstance(value, list):
        return _container([(None, v) for v in value], "[]", indent, level)
    return [(None, json.dumps(value, ensure_ascii=False))]


def _container(items: list[tuple[str | None, JsonValue]], brackets: str, indent: int | None, level: int) -> Rich:
    if not items:
        return [(None, brackets)]
    out: Rich = [(None, brackets[0])]
    for index, (key, item) in enumerate(items):
        if index:
            out.append((None, ","))
        if indent is not None:
            out.append((None, "\n" + " " * (indent * (level + 1))))
        if key is not None:
            out.append((None, key + (": " if indent is not None else ":")))
        out.extend(emit_json(item, indent=indent, level=level + 1))
    if indent is not None:
        out.append((None, "\n" + " " * (indent * level)))
    out.append((None, brackets[1]))
    return out
