"""Reports: run logs (JSONL) rendered as self-contained HTML pages with inline SVG plots.
This package reads run logs and numbers; it imports no detector."""

from .html import Report, Section, table_html
from .svg import bar_chart, line_chart, scatter_chart

__all__ = ["Report", "Section", "bar_chart", "line_chart", "scatter_chart", "table_html"]
