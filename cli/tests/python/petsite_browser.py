#!/usr/bin/env python3
"""Clicks through PetSite (the demo's web front end) in Debian's headless Chromium, then finds
that very payment's trace in the dashboard by its id, then switches the demo's scenario from the
dashboard's top bar, for cli/tests/fluoro_demo_petsite_in_a_browser.rs.

Usage: petsite_browser.py PETSITE_URL DASHBOARD_URL SCREENSHOT_DIR

Search (puppy, brown) → take me home → pay → the adoption list, as a person would; the payment
page shows its trace id; the dashboard's trace page of that id must show PetSite and the
services the payment went through. The top bar's demo switches then turn errormode1 on, the
table on-demand and the traffic to ×2, as a person would; the switches must show each change.
Prints one JSON object of what it saw; any failed check exits non-zero with the reason and a
screenshot.
"""

import json
import os
import sys
import tempfile
import time

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser import Check, check, start_browser


def wait(driver, condition, what, timeout=30):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d))
    except Exception:
        raise Check("timed out waiting for " + what)


def search(driver, petsite):
    """Home, then a search for brown puppies. Searches fail now and then on purpose (the
    original's 1 % S3 fault per pet, ≈23 % for the home page's full list): a person reloads."""
    for _ in range(15):
        driver.get(petsite + "/")
        if not driver.find_elements(By.ID, "selectedPetType"):
            continue
        Select(driver.find_element(By.ID, "selectedPetType")).select_by_value("puppy")
        Select(driver.find_element(By.ID, "selectedPetColor")).select_by_value("brown")
        submit = driver.find_element(By.ID, "search")
        submit.click()
        # The home page lists pets with the same buttons: only the results page's count.
        wait(driver, expected_conditions.staleness_of(submit), "the search's answer")
        if driver.find_elements(By.CSS_SELECTOR, "button.takemehome"):
            return
    raise Check("a search that succeeds")


def click_through(driver, petsite):
    search(driver, petsite)
    buttons = driver.find_elements(By.CSS_SELECTOR, "button.takemehome")
    check(buttons, "pets to take home")
    buttons[0].click()
    pay = wait(driver, lambda d: d.find_elements(By.ID, "pay"), "the pet page's pay button", timeout=10)
    pet_text = driver.find_element(By.TAG_NAME, "p").text
    pay[0].click()
    status = wait(driver, lambda d: d.find_elements(By.ID, "txStatus"), "the payment page")[0].text
    check(status == "success", "payment status %r" % status)
    trace_id = driver.find_element(By.ID, "traceid").text
    check(trace_id.startswith("1-"), "the payment page shows its trace id: %r" % trace_id)
    driver.find_element(By.ID, "adoptionlist").click()
    rows = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#adoptions tr td"), "the adoption list")
    pet_id = pet_text.split(",")[0].split()[-1]
    listed = [td.text for td in rows]
    check(pet_id in listed, "pet %s in the adoption list %r" % (pet_id, listed))
    return trace_id, pet_id


def find_trace(driver, dashboard, trace_id):
    """The dashboard's page of the trace; segments arrive through the sidecar, so reload until
    the timeline shows the payment."""
    deadline = time.time() + 60
    names = []
    while time.time() < deadline:
        driver.get(dashboard + "/traces/" + trace_id)
        try:
            WebDriverWait(driver, 5, poll_frequency=0.2).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline tr.timeline-row"))
            names = [r.get_attribute("data-name") for r in driver.find_elements(By.CSS_SELECTOR, "#timeline tr.timeline-row")]
        except Exception:
            # Not shown yet, or the timeline redrawn while read: reload.
            continue
        if {"PetSite", "payforadoption", "Call Payment API", "petstatusupdater"} <= set(names):
            return names
        time.sleep(1)
    raise Check("the trace %s in the dashboard: %r" % (trace_id, names))


def switch_scenario(driver, dashboard):
    """The top bar's demo switches: one change at a time, each confirmed by the demo's answer
    (the switches' `data-state`) before the next."""
    driver.get(dashboard + "/")
    bar = wait(driver, lambda d: [e for e in d.find_elements(By.ID, "scenario") if e.is_displayed()], "the demo switches")[0]

    def state():
        return json.loads(bar.get_attribute("data-state") or "{}")

    wait(driver, lambda d: state().get("errormode1") == "off", "errormode1 off at start")
    driver.find_element(By.ID, "scenario-errormode1").click()
    wait(driver, lambda d: state().get("errormode1") == "on", "errormode1 on after the click")
    Select(driver.find_element(By.ID, "scenario-billing")).select_by_value("on-demand")
    wait(driver, lambda d: state().get("billing") == "on-demand", "the table on-demand")
    Select(driver.find_element(By.ID, "scenario-traffic")).select_by_value("2")
    wait(driver, lambda d: state().get("traffic") == 2, "traffic ×2")
    status = driver.find_element(By.ID, "scenario-status").text
    check(status == "", "no error beside the switches: %r" % status)
    return state()


def main():
    petsite, dashboard, screenshots = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/"), sys.argv[3]
    os.makedirs(screenshots, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = start_browser(profile, "1400,1000", 30)
        try:
            # Take me home searches too, and may meet the deliberate fault: start over then.
            for attempt in range(3):
                try:
                    trace_id, pet_id = click_through(driver, petsite)
                    break
                except (Check, WebDriverException):
                    # A page replaced under a click (a stale element) is retried like a fault.
                    if attempt == 2:
                        raise
            driver.save_screenshot(os.path.join(screenshots, "petsite-adoption-list.png"))
            names = find_trace(driver, dashboard, trace_id)
            driver.save_screenshot(os.path.join(screenshots, "petsite-payment-trace.png"))
            scenario = switch_scenario(driver, dashboard)
            driver.save_screenshot(os.path.join(screenshots, "dashboard-demo-switches.png"))
        except Check as failure:
            driver.save_screenshot(os.path.join(screenshots, "petsite-failure.png"))
            print("check failed: %s" % failure, file=sys.stderr)
            sys.exit(1)
        finally:
            driver.quit()
    print(json.dumps({"trace_id": trace_id, "pet_id": pet_id, "timeline": names, "scenario": scenario}))


if __name__ == "__main__":
    main()
