"""A report page in a real browser: headless Chromium driven by Selenium.

Chromium and its driver are Debian's `chromium` and `chromium-driver`
(scripts/browser.sh installs them for `make test`); `$CHROMIUM` and
`$CHROMEDRIVER` point elsewhere. Screenshots go to `$TEST_ARTIFACTS`
(default build/test-artifacts/), to be looked at after a run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.environ.get("TEST_ARTIFACTS", os.path.join(ROOT, "build", "test-artifacts"))
WIDTH = 1280


def _binary(variable: str, *names: str) -> str:
    found = os.environ.get(variable) or next(filter(None, map(shutil.which, names)), None)
    if not found:
        raise RuntimeError(
            f"no {names[0]} found (nor ${variable}): the report test renders the page in "
            "headless Chromium; install it with scripts/browser.sh (Debian: apt-get install "
            f"chromium chromium-driver) or point ${variable} at it"
        )
    return found


@dataclasses.dataclass
class Rendered:
    """What the browser made of the page once loaded."""

    images: list[dict]  # src, complete, naturalWidth, naturalHeight
    sections: list[str]  # ids of the head sections, in page order
    text: dict[str, str]  # section id -> its visible text
    requests: list[str]  # every URL the page loaded (its resources included)
    screenshot: str  # the full page, as a PNG file


def render(page: str, screenshot_name: str) -> Rendered:
    """Loads `page` (a file) in headless Chromium, reads what it rendered and
    saves a full-page screenshot."""
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("CHROMIUM", "chromium", "chromium-browser")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(argument)
    service = Service(_binary("CHROMEDRIVER", "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get("file://" + os.path.abspath(page))
        images = driver.execute_script(
            "return Array.from(document.images).map(i => ({src: i.getAttribute('src'), "
            "complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}))"
        )
        sections = driver.execute_script(
            "return Array.from(document.querySelectorAll('section')).map(s => [s.id, s.innerText])"
        )
        requests = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, height)
        os.makedirs(ARTIFACTS, exist_ok=True)
        screenshot = os.path.join(ARTIFACTS, screenshot_name)
        driver.save_screenshot(screenshot)
    finally:
        driver.quit()
    return Rendered(
        images,
        [id_ for id_, _ in sections if id_.startswith("head-")],
        dict(sections),
        requests,
        screenshot,
    )
