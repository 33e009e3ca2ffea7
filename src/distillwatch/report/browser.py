"""Look at a report in a real browser: headless Chromium renders the page to a PNG and returns the DOM it
built, so tests can check what a reader would see (sections present, figures drawn)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import DistillwatchError

__all__ = ["BROWSERS", "find_browser", "render"]

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless_shell")


def find_browser() -> str:
    """The first headless-capable Chromium on PATH; a clear error naming the install otherwise."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise DistillwatchError("no Chromium found to render the report; install one, e.g. "
                            "apt-get install chromium-headless-shell")


def render(html: str | Path, png: str | Path, *, width: int = 1200, height: int = 2400,
           timeout: float = 60.0) -> str:
    """Render the HTML file `html` to the screenshot `png` and return the DOM after rendering."""
    browser = find_browser()
    url = Path(html).resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--window-size={width},{height}"]
    shot = subprocess.run([*flags, f"--screenshot={Path(png).resolve()}", url], capture_output=True, timeout=timeout)
    if shot.returncode != 0 or not Path(png).is_file():
        raise DistillwatchError(f"{browser} could not render {html}: {shot.stderr.decode(errors='replace')[-300:]}")
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, timeout=timeout)
    if dom.returncode != 0:
        raise DistillwatchError(f"{browser} could not load {html}: {dom.stderr.decode(errors='replace')[-300:]}")
    return dom.stdout.decode("utf-8", errors="replace")
