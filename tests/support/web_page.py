"""Drives a web page of `p2p daemon` in Debian's headless Chromium (chromium-driver, Selenium
from python3-selenium), as a user would, and prints what it saw, one `key value` line each.

    web_page.py p2p URL HASH MAGNET SCREENSHOT
        p2p's own page: waits for the torrent HASH to reach 100 %, takes a screenshot, adds
        MAGNET through the form, waits for its row, then presses Pause on HASH's row.
    web_page.py transmission URL NAME
        Transmission's web client (--web-home): waits for NAME's row to say Seeding.
Exits non-zero, saying why, when a step does not happen within 60 s.
"""

import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1000,700", "--no-proxy-server"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, what, check, seconds=60):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.2).until(lambda d: check(d))
    except Exception:
        print("timeout", what, flush=True)
        for entry in driver.get_log("browser"):
            print("console", entry.get("message"), flush=True)
        print("page", driver.find_element(By.TAG_NAME, "body").text.replace("\n", " | "), flush=True)
        sys.exit(1)


def row(driver, attr, value):
    rows = driver.find_elements(By.CSS_SELECTOR, "li.torrent[%s='%s']" % (attr, value))
    return rows[0] if rows else None


def text_in_row(driver, info_hash, selector):
    """The text of `selector` in HASH's row, read in one go (the page redraws its rows)."""
    return driver.execute_script(
        "const r = document.querySelector(`li.torrent[data-hash='${arguments[0]}']`);"
        "const e = r && r.querySelector(arguments[1]); return e ? e.textContent : null;",
        info_hash, selector)


def click_in_row(driver, info_hash, selector):
    return driver.execute_script(
        "const r = document.querySelector(`li.torrent[data-hash='${arguments[0]}']`);"
        "const e = r && r.querySelector(arguments[1]); if (e) e.click(); return !!e;",
        info_hash, selector)


def own_page(url, info_hash, magnet, screenshot):
    d = browser()
    try:
        d.get(url)
        wait(d, "the torrent listed", lambda d: row(d, "data-hash", info_hash))
        print("listed", info_hash, flush=True)
        wait(d, "100 %", lambda d: text_in_row(d, info_hash, ".percent") == "100 %")
        print("progress 100", flush=True)
        d.save_screenshot(screenshot)
        d.find_element(By.ID, "magnet").send_keys(magnet)
        d.find_element(By.ID, "add-magnet-button").click()
        magnet_hash = magnet.split("btih:")[1][:40].lower()
        wait(d, "the magnet's row", lambda d: row(d, "data-hash", magnet_hash))
        print("added", magnet_hash, flush=True)
        wait(d, "a Pause button pressed",
             lambda d: click_in_row(d, info_hash, "button[data-action=pause]"))
        wait(d, "the row to say stopped",
             lambda d: text_in_row(d, info_hash, ".state") == "stopped")
        print("paused", info_hash, flush=True)
    finally:
        d.quit()


def transmission_client(url, name):
    d = browser()
    try:
        d.get(url)

        def seeding(d):
            for r in d.find_elements(By.CSS_SELECTOR, ".torrent"):
                text = r.text
                if name in text and "Seeding" in text:
                    return text
            return None
        text = wait(d, "a Seeding row for " + name, seeding)
        for entry in d.get_log("browser"):
            print("console", entry.get("message"), flush=True)
        print("row", text.replace("\n", " | "), flush=True)
    finally:
        d.quit()


if __name__ == "__main__":
    if sys.argv[1] == "p2p":
        own_page(*sys.argv[2:6])
    else:
        transmission_client(*sys.argv[2:4])
