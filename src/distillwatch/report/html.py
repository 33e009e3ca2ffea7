"""One self-contained HTML page per report: a title, summary cards, then sections of text, tables and
inline SVG figures. No scripts, no external assets: it opens offline and prints well."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Section", "Report", "table_html"]

_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;max-width:1060px;margin:2rem auto;padding:0 1rem;color:#111827}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
.sub{color:#6b7280}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1.2rem 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:.7rem 1rem;min-width:150px}
.card .v{font-size:1.35rem;font-weight:600}.card .k{color:#6b7280;font-size:.85rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}td,th{border:1px solid #e5e7eb;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f9fafb}figure{margin:1rem 0}figcaption{color:#6b7280;font-size:.85rem}
.good{color:#15803d;font-weight:600}.bad{color:#b91c1c;font-weight:600}.warn{color:#b45309;font-weight:600}
"""


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless `raw` (for cells that carry their own markup)."""
    cell = (lambda v: str(v)) if raw else (lambda v: escape(str(v)))
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class Section:
    title: str
    anchor: str
    parts: list[str] = field(default_factory=list)

    def text(self, paragraph: str) -> "Section":
        self.parts.append(f"<p>{escape(paragraph)}</p>")
        return self

    def html(self, markup: str) -> "Section":
        self.parts.append(markup)
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> "Section":
        self.parts.append(table_html(headers, rows, raw))
        return self

    def figure(self, svg: str, caption: str) -> "Section":
        self.parts.append(f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>")
        return self

    def render(self) -> str:
        return f'<section id="{escape(self.anchor)}"><h2>{escape(self.title)}</h2>{"".join(self.parts)}</section>'


@dataclass
class Report:
    title: str
    subtitle: str = ""
    cards: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def card(self, key: str, value: Any) -> "Report":
        self.cards.append((key, str(value)))
        return self

    def section(self, title: str, anchor: str) -> Section:
        s = Section(title, anchor)
        self.sections.append(s)
        return s

    def render(self) -> str:
        cards = "".join(f'<div class="card"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
                        for k, v in self.cards)
        nav = " · ".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in self.sections)
        return (
            f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{escape(self.title)}</h1>"
            f'<div class="sub">{escape(self.subtitle)}</div><div class="cards">{cards}</div>'
            f"<nav>{nav}</nav>{''.join(s.render() for s in self.sections)}</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path
