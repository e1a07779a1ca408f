"""A real headless browser for the page tests: Debian's chromium, driven by its chromedriver.

Selenium (PyPI) talks WebDriver to ``/usr/bin/chromedriver``, which comes from the same
Debian source package as ``/usr/bin/chromium``, so the driver always matches the browser;
nothing is downloaded (the driver path is given, so Selenium Manager is never asked).
``scripts/install-chromium`` installs both.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def missing() -> str | None:
    """Why no browser can start here, or None."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if absent:
        return f"{', '.join(absent)} missing: run scripts/install-chromium (as root)"
    return None


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A fresh headless chromium with a profile of its own, closed afterwards."""
    problem = missing()
    if problem:
        raise AssertionError(problem)
    profile = tempfile.mkdtemp(prefix="kaapana-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
