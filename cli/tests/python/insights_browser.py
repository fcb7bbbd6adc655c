#!/usr/bin/env python3
"""The Insights page in headless Chromium, for cli/tests/dashboard_shows_insights.rs: the list
shows the planted insight (state, root cause, client requests), its detail shows the timeline
of events, the root cause with its type — the planted markup payload, as text — and the
impact per client. Prints one JSON object of what it saw; a failed check exits non-zero.

Usage: insights_browser.py BASE_URL SCREENSHOT_PNG FACTS_JSON   (facts: {"payload": …})
"""

import json
import sys
import tempfile

from browser import Check, check
from dashboard_browser import Dashboard, start_dashboard_browser


def scenario(ui, facts):
    ui.open("/insights?since=24h")
    row = ui.one("#insights-list tr[data-insight]")
    rows = ui.all("#insights-list tr[data-insight]")
    check(len(rows) == 1, "one insight listed, got %d" % len(rows))
    cells = [cell.text for cell in row.find_elements("css selector", "td")]
    check(cells[0] == "CLOSED", "state cell: %r" % cells)
    check(cells[1] == "catalog", "root cause cell: %r" % cells)
    check(cells[2] == "Default", "group cell: %r" % cells)
    check(cells[5] == "10 min 0 s", "duration cell: %r" % cells)
    check(cells[6].endswith("of 300 faulted"), "client requests cell: %r" % cells)
    check(cells[7] == "FAULT", "category cell: %r" % cells)
    check(any("Insights" == link.text and "active" in (link.get_attribute("class") or "")
              for link in ui.all("#nav a")), "the nav marks Insights")
    ui.safe("insights list")

    ui.click("#insights-list td.root-cause a")
    events = ui.wait(lambda d: len(ui.all("#insight-events li")) == 3 and ui.all("#insight-events li"), "three events")
    kinds = [event.text.split(" ", 2)[-1].split(":")[0] for event in events]
    check(kinds == ["opened", "impact updated", "closed"], "timeline in order: %r" % kinds)
    check("?" in ui.driver.current_url and "id=" in ui.driver.current_url, "the detail is in the URL")
    facts_text = ui.text("#insight-detail dl")
    check(("catalog (" + facts["payload"] + ")") in facts_text, "root cause with its type as text: %r" % facts_text)
    check(ui.visible_text(facts["payload"]), "the payload shows as characters")
    clients = [cell.text for cell in ui.all("#insight-clients tbody td")]
    check(clients[0] == "frontend" and clients[3] == "300", "impact per client: %r" % clients)
    anomalous = sorted(item.text for item in ui.all("#insight-anomalous li"))
    check(anomalous == ["catalog", "frontend", "search"], "anomalous services: %r" % anomalous)
    ui.safe("insight detail")
    ui.screenshot(ui.screenshot_path.replace(".png", "_detail.png"))

    ui.open("/insights?since=24h&state=ACTIVE")
    ui.one("#insights-list p.empty")
    ui.safe("active insights")
    ui.open("/insights?since=24h")
    ui.one("#insights-list tr[data-insight]")
    ui.screenshot(ui.screenshot_path)
    return {"row": cells, "events": kinds, "clients": clients, "anomalous": anomalous}


def main():
    base_url, screenshot, facts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with tempfile.TemporaryDirectory(prefix="fluoro-chromium-") as profile:
        driver = start_dashboard_browser(profile)
        ui = Dashboard(driver, base_url)
        ui.screenshot_path = screenshot
        try:
            result = scenario(ui, facts)
        except Check as failure:
            ui.screenshot(screenshot.replace(".png", "_failed.png"))
            print("check failed: %s (at %s)" % (failure, driver.current_url), file=sys.stderr)
            sys.exit(1)
        finally:
            driver.quit()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
