"""A small self-contained HTML report: metric tables and embedded PNG pictures."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

import depthkit as dk


def png_data_uri(image: np.ndarray) -> str:
    import cv2

    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise dk.errors.FileFormatError("could not encode a PNG for the report")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def write_html_report(path: Path, title: str,
                      sections: list[tuple[str, dict | None, list]]) -> None:
    """Write `sections` of (heading, {metric: value} or None, [(caption, RGB image), ...])."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
        "padding:.2em .6em;text-align:right}th{text-align:left;background:#f4f4f4}"
        "figure{display:inline-block;margin:.4em}figcaption{text-align:center;font-size:90%}"
        "img{max-width:440px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>depthkit {html.escape(dk.__version__)}</p>",
    ]
    for heading, metrics, images in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if metrics:
            parts.append("<table>")
            for k, v in metrics.items():
                val = f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))
                parts.append(f"<tr><th>{html.escape(k)}</th><td>{val}</td></tr>")
            parts.append("</table>")
        for caption, img in images:
            parts.append(f"<figure><img src='{png_data_uri(img)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    with dk.io.atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
