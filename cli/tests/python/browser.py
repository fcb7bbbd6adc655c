"""What every browser test script shares: Debian's headless Chromium driven over WebDriver
(selenium + chromedriver), and the check that fails a scenario with its reason."""

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


class Check(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Check(message)


def start_browser(profile, window_size, page_load_timeout, before_each_page=None):
    """A headless Chromium with its own profile. `before_each_page` is a script run before any
    page script (with the browser's console log kept, so a test can read both)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=" + window_size)
    options.add_argument("--user-data-dir=" + profile)
    if before_each_page is not None:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    if before_each_page is not None:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": before_each_page})
    driver.set_page_load_timeout(page_load_timeout)
    return driver
