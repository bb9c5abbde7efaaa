"""Looking at a page in a real browser: headless Chromium (Debian's `chromium`), as a phone or a laptop sees it.

`measure(html, width)` loads a copy of the page with a small script added at its end and reads back
what the script found (`--dump-dom`): whether the page scrolls sideways, and every piece of visible
text smaller than 12 px (an SVG's text as drawn, after the chart is scaled to fit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html import escape
from pathlib import Path

CHECK = """
<script>
(function () {
  const small = [], wide = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest("script, style, title")) continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.getScreenCTM()) size *= el.getScreenCTM().a;
    const range = document.createRange();
    range.selectNodeContents(node);
    const right = range.getBoundingClientRect().right;
    if (right > innerWidth + 0.5 && !el.closest(".table-box")) wide.push(["text", node.textContent.trim().slice(0, 40), Math.round(right)]);
    if (size < 11.95) small.push([Math.round(size * 10) / 10, el.tagName, node.textContent.trim().slice(0, 40)]);
  }
  const root = document.documentElement;
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right > innerWidth + 0.5 && !(el.parentElement.closest(".table-box")) && wide.length < 10)
      wide.push([el.tagName, el.className && el.className.baseVal === undefined ? el.className : "", Math.round(r.right)]);
  }
  const result = {wide: wide, width: innerWidth, scroll_width: root.scrollWidth, small: small.slice(0, 20), smalls: small.length,
                  lists: document.querySelectorAll(".chart-list li").length,
                  charts_shown: [...document.querySelectorAll("svg.chart")].filter(e => e.getClientRects().length).length};
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify(result);
  parent.document.body.appendChild(out);
})();
</script>
"""


def chromium() -> str | None:
    """The Chromium to run, or None when none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def measure(html: str, width: int, height: int = 900) -> dict:
    """What the page looks like at `width` CSS pixels: scroll_width, width, small (text under 12 px)."""
    with tempfile.TemporaryDirectory() as folder:
        # Chromium's headless window is at least 500 pixels wide: the page goes in a frame as wide as the
        # screen it is checked for (a srcdoc frame: its script may write its result into the page around it).
        framed = escape(html.replace("</body>", CHECK + "</body>"), quote=True)
        page = Path(folder) / "page.html"
        page.write_text(
            '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">'
            f'<iframe width="{width}" height="{height}" style="border:0;display:block" srcdoc="{framed}"></iframe>'
            "</body></html>",
            encoding="utf-8",
        )
        argv = [
            chromium(),
            "--headless",
            "--no-sandbox",  # run as root in CI
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={max(width, 800)},{height}",
            f"--user-data-dir={folder}/profile",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri(),
        ]
        env = {**os.environ, "HOME": folder}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium gave no result (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
