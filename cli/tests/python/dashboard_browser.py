#!/usr/bin/env python3
"""Drives the dashboard in Debian's headless Chromium over WebDriver (selenium + chromedriver)
for cli/tests/dashboard_*.rs. One scenario per run; it asserts what a user would see, saves a
screenshot, and prints one JSON object of what it saw. Any failed check exits non-zero with
the reason (and a screenshot of the failure).

Usage: dashboard_browser.py SCENARIO BASE_URL SCREENSHOT_PNG FACTS_JSON

Every page load also checks: no alert() ran, no Content-Security-Policy violation happened,
no <img> element exists (the dashboard has none: one would be injected markup), and the
browser logged no error.
"""

import json
import os
import sys
import tempfile
import time
import urllib.parse

from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser import Check, check, start_browser
from dashboard_login import scenario_login

# Runs before any page script: records CSP violations and alert() calls where the test can read them.
WATCH = """
window.__csp = [];
window.__alerts = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));
const realAlert = window.alert;
window.alert = (message) => { window.__alerts.push(String(message)); };
"""

FAULT_RED = "rgb(209, 50, 18)"
# live.js INTERVAL_MS.
LIVE_INTERVAL_SECONDS = 5
ERROR_ORANGE = "rgb(224, 123, 0)"


def start_dashboard_browser(profile):
    return start_browser(profile, "1600,1000", 20, before_each_page=WATCH)


class Dashboard:
    def __init__(self, driver, base_url):
        self.driver = driver
        self.base = base_url.rstrip("/")
        self.seen = {}

    def open(self, path):
        self.driver.get(self.base + path)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "page load")
        return self

    def wait(self, condition, what, timeout=15):
        try:
            # Pages redraw lists after each change: an element found a moment ago may be gone.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))
        except TimeoutException:
            raise Check("timed out waiting for " + what)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def one(self, css, timeout=15):
        return self.wait(lambda d: (d.find_elements(By.CSS_SELECTOR, css) or [None])[0], css, timeout)

    def click(self, css):
        """Clicks the element `css` names once it exists, finding it again if a redraw replaced it."""
        def clicked(d):
            self.one(css).click()
            return True
        self.wait(clicked, "a click on " + css)

    def text(self, css):
        return self.one(css).text

    def safe(self, where):
        """Nothing injected, nothing blocked, nothing alerted, no script errors."""
        d = self.driver
        try:
            alert = d.switch_to.alert
            raise Check("%s: an alert fired: %r" % (where, alert.text))
        except NoAlertPresentException:
            pass
        alerts = d.execute_script("return window.__alerts || []")
        check(not alerts, "%s: alert() was called: %r" % (where, alerts))
        violations = d.execute_script("return window.__csp || []")
        check(not violations, "%s: Content-Security-Policy violations: %r" % (where, violations))
        images = d.execute_script("return document.querySelectorAll('img').length")
        check(images == 0, "%s: %d <img> element(s) in the page: injected markup" % (where, images))
        # A refused request (a bad filter, an invalid group) is logged by Chromium too: expected.
        errors = [entry["message"] for entry in d.get_log("browser") if entry["level"] == "SEVERE"
                  and "the server responded with a status of 400" not in entry["message"]]
        check(not errors, "%s: browser errors: %r" % (where, errors))

    def visible_text(self, text):
        """Elements (HTML or SVG) whose own text contains `text`, displayed."""
        found = self.driver.execute_script(
            """const needle = arguments[0]; const out = [];
               const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
               while (walker.nextNode()) {
                 const node = walker.currentNode;
                 if (!node.data.includes(needle)) continue;
                 const element = node.parentElement; const box = element.getBoundingClientRect();
                 const style = getComputedStyle(element);
                 if (box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none') out.push(element.tagName);
               }
               return out;""", text)
        return found

    def drag(self, element, from_fraction, to_fraction):
        width = element.size["width"]
        height = element.size["height"]
        start = int(width * from_fraction - width / 2)
        end = int(width * to_fraction - width / 2)
        actions = ActionChains(self.driver)
        actions.move_to_element_with_offset(element, start, 0).click_and_hold()
        for step in range(1, 6):
            actions.move_by_offset(int((end - start) / 5), 0)
        actions.release().perform()

    def screenshot(self, path):
        self.driver.save_screenshot(path)


# --- scenarios -----------------------------------------------------------------------------

def nodes_of(ui):
    return {n.get_attribute("data-name") + "|" + n.get_attribute("data-type"): n for n in ui.all("svg.graph g.node")}


def edge(ui, source, target):
    matches = [e for e in ui.all("svg.graph g.edge")
               if e.get_attribute("data-source") == source and e.get_attribute("data-target") == target]
    check(matches, "no edge %s → %s on the map" % (source, target))
    return matches[0]


def stroke(ui, element):
    line = element.find_element(By.CSS_SELECTOR, ".edge-line")
    return ui.driver.execute_script("return getComputedStyle(arguments[0]).stroke", line)


def view_box(ui):
    return [float(value) for value in ui.one("svg.graph").get_dom_attribute("viewBox").split()]


def pan(ui):
    """Drags the map's background 150 px left and 60 px up: the view moves right and down by
    that distance in graph units, its size unchanged. Returns the new viewBox attribute."""
    graph = ui.one("svg.graph")
    # A point of the background in the window, room left of and above it for the drag:
    # pressing on a node or an edge selects it instead.
    offset = ui.driver.execute_script(
        """const svg = arguments[0]; const r = svg.getBoundingClientRect();
           for (const [fx, fy] of [[0.97, 0.97], [0.97, 0.5], [0.97, 0.2], [0.5, 0.97], [0.3, 0.97], [0.6, 0.2]]) {
             const x = r.left + r.width * fx, y = r.top + r.height * fy;
             if (x < 160 || y < 70 || x > innerWidth - 5 || y > innerHeight - 5) continue;
             const hit = document.elementFromPoint(x, y);
             if (hit && svg.contains(hit) && !hit.closest('.node, .edge')) return [x - r.left - r.width / 2, y - r.top - r.height / 2];
           }
           return null;""", graph)
    check(offset, "a point of the map's background to drag")
    before = view_box(ui)
    actions = ActionChains(ui.driver).move_to_element_with_offset(graph, int(offset[0]), int(offset[1])).click_and_hold()
    for _ in range(5):
        actions.move_by_offset(-30, -12)
    actions.release().perform()
    after = view_box(ui)
    check(after[2:] == before[2:], "a pan keeps the view's size: %r → %r" % (before, after))
    check(after[0] > before[0] and after[1] > before[1], "dragging left and up moves the view right and down: %r → %r"
          % (before, after))
    # Graph units per pixel: the x and y moves agree with the drag's 150:60.
    ratio = (after[0] - before[0]) / (after[1] - before[1])
    check(abs(ratio - 2.5) < 0.1, "the view moved as far as the drag, not %r → %r" % (before, after))
    return ui.one("svg.graph").get_dom_attribute("viewBox")


def graph_requests(ui):
    """How many times this page asked for the service graph."""
    return ui.driver.execute_script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/ServiceGraph')).length")


def scenario_map(ui, facts):
    ui.open("/")
    ui.wait(lambda d: len(ui.all("svg.graph g.node")) == 11, "11 nodes on the map")
    nodes = sorted(nodes_of(ui))
    for expected in ["frontend|client", "frontend|AWS::EC2::Instance", "petsearch|", "payments|",
                     "DynamoDB|AWS::DynamoDB::Table", "payments@db.local|Database::SQL"]:
        check(expected in nodes, "node %s missing from %r" % (expected, nodes))
    # Clients on the left of the service they call; inferred nodes right of their callers.
    def x(key):
        """The centre of the node's ring, in page pixels."""
        face = nodes_of(ui)[key].find_element(By.CSS_SELECTOR, ".node-face").rect
        return face["x"] + face["width"] / 2
    check(x("frontend|client") < x("frontend|AWS::EC2::Instance") < x("petsearch|") < x("DynamoDB|AWS::DynamoDB::Table"),
          "left-to-right layout: client, frontend, petsearch, DynamoDB")
    # Inferred nodes line up in the rightmost column, however shallow their caller.
    s3 = [key for key in nodes if key.startswith("S3|")]
    check(s3, "the S3 node health calls: %r" % nodes)
    check(abs(x(s3[0]) - x("DynamoDB|AWS::DynamoDB::Table")) < 2 and abs(x("payments@db.local|Database::SQL") - x(s3[0])) < 2,
          "S3, DynamoDB and the SQL database share the rightmost column")
    check(x(s3[0]) > x("health|") + 100, "S3 is right of health")
    # Edge colours: faults red, throttles orange, healthy grey.
    payments = edge(ui, "frontend", "payments")
    check(payments.get_attribute("data-health") == "fault", "frontend → payments carries faults")
    check(stroke(ui, payments) == FAULT_RED, "fault edge is red, not %s" % stroke(ui, payments))
    dynamo = edge(ui, "petsearch", "DynamoDB")
    check(dynamo.get_attribute("data-health") == "error", "petsearch → DynamoDB carries throttles")
    check(stroke(ui, dynamo) == ERROR_ORANGE, "throttle edge is orange, not %s" % stroke(ui, dynamo))
    healthy = edge(ui, "frontend", "petsearch")
    check(healthy.get_attribute("data-health") == "ok", "frontend → petsearch is healthy")
    # The ring of payments shows a fault share; its label shows latency and rate.
    ring = [n for k, n in nodes_of(ui).items() if k == "payments|"][0]
    check(ring.find_elements(By.CSS_SELECTOR, "circle.ring.fault"), "payments' ring has a fault arc")
    check("/min" in ring.text, "payments shows its request rate: %r" % ring.text)
    ui.safe("map")

    # Click a node: the panel shows its statistics.
    ui.click("svg.graph g.node[data-name='petsearch']")
    ui.wait(lambda d: ui.text("#panel-title") == "petsearch", "the panel of petsearch")
    requests = ui.text("tr[data-stat='requests'] td.num")
    check(requests == "24", "petsearch served 24 requests, panel says %r" % requests)
    check("node=petsearch" in ui.driver.current_url, "the selection is in the URL")
    ui.one("#panel-histogram canvas")
    ui.one("#panel-timeseries canvas")
    # petsearch exported no process metrics: a note, not an empty chart.
    note = ui.text("#panel-resources-note")
    check("no CPU or memory" in note, "petsearch's panel says it has no resource metrics: %r" % note)
    check(not ui.all("#panel-resources canvas"), "no CPU or memory chart for petsearch")
    # payments exported CPU and memory through the OpenTelemetry SDK: both charted, with points.
    ui.click("svg.graph g.node[data-name='payments']")
    ui.wait(lambda d: ui.text("#panel-title") == "payments", "the panel of payments")
    for chart, metric in [("#panel-cpu", "process.cpu.time"), ("#panel-memory", "process.memory.usage")]:
        host = ui.one(chart)
        ui.one(chart + " canvas")
        points = int(host.get_attribute("data-points"))
        check(points >= 1, "%s has data points: %d" % (chart, points))
        check(metric in host.get_attribute("title"), "%s is read from %s" % (chart, metric))
    legend = ui.text("#panel-memory .u-legend")
    check("resident memory" in legend and "faults %" in legend, "the memory chart's legend: %r" % legend)
    ui.driver.execute_script("document.querySelector('#panel-resources').scrollIntoView()")
    ui.screenshot(os.path.join(os.path.dirname(ui.screenshot_path), "dashboard_service_panel_resources.png"))
    ui.safe("payments' CPU and memory")
    # The client node shares its service's name: the URL keeps which of the two is selected,
    # so a reload (or a shared link) reopens the same one.
    ui.click("svg.graph g.node[data-name='frontend'][data-type='client']")
    ui.wait(lambda d: "nodetype=client" in d.current_url, "the client selected")
    ui.driver.refresh()
    ui.wait(lambda d: ui.text("#panel-title") == "frontend" and ui.text("#panel-title + p") == "client", "the client's panel after a reload")
    check(ui.all("svg.graph g.node.selected[data-type='client']"), "the client node is drawn selected")

    # Click an edge: its statistics, and a button for its throttled traces.
    ui.driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
                             edge(ui, "petsearch", "DynamoDB").find_element(By.CSS_SELECTOR, ".edge-hit"))
    ui.wait(lambda d: "DynamoDB" in ui.text("#panel-title"), "the panel of the edge")
    throttles = ui.text("tr[data-stat='throttles'] td.num")
    check(throttles == str(facts["throttled"]), "the edge had %s throttles, panel says %r" % (facts["throttled"], throttles))
    button = ui.one("#panel-actions a[data-action='throttle']")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(button.get_attribute("href")).query)
    check(query["filter"] == ['edge("petsearch", "DynamoDB") { throttle }'], "throttle button filter: %r" % query)
    ui.screenshot(ui.screenshot_path)

    # Live refresh redraws the map and keeps the zoom and the selection.
    graph = ui.one("svg.graph")
    fitted = graph.get_dom_attribute("viewBox")
    ui.driver.execute_script(
        "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -300, clientX: 400, clientY: 400, bubbles: true, cancelable: true}))", graph)
    zoomed = graph.get_dom_attribute("viewBox")
    check(zoomed and zoomed != fitted, "the wheel zoomed the map: %r → %r" % (fitted, zoomed))
    before = ui.text("#live-status")
    ui.wait(lambda d: ui.text("#live-status") != before and ui.text("#live-status").startswith("updated"), "a live refresh", timeout=20)
    ui.wait(lambda d: ui.one("svg.graph").get_dom_attribute("viewBox") == zoomed, "the zoom kept across the refresh")
    check(ui.all("svg.graph g.edge.selected"), "the selected edge stays selected after a refresh")
    check("DynamoDB" in ui.text("#panel-title"), "the panel stays open after a refresh")

    # Dragging the background pans the map; a pause stops the refreshes, resuming restarts them.
    panned = pan(ui)
    ui.one("#live-toggle").click()
    check(ui.one("#live-toggle").get_attribute("aria-pressed") == "true", "live refresh pauses")
    check(ui.text("#live-toggle") == "Resume live", "the button offers to resume: %r" % ui.text("#live-toggle"))
    time.sleep(1)  # a refresh already under way when the button was pressed may still land
    status, requests = ui.text("#live-status"), graph_requests(ui)
    time.sleep(2.5 * LIVE_INTERVAL_SECONDS)
    check(graph_requests(ui) == requests, "paused, the map asked for its graph again: %d → %d requests"
          % (requests, graph_requests(ui)))
    check(ui.text("#live-status") == status, "paused, the indicator moved: %r → %r" % (status, ui.text("#live-status")))
    ui.one("#live-toggle").click()
    check(ui.one("#live-toggle").get_attribute("aria-pressed") == "false", "live refresh resumes")
    ui.wait(lambda d: graph_requests(ui) > requests and ui.text("#live-status") != status, "a refresh after resuming",
            timeout=4 * LIVE_INTERVAL_SECONDS)
    check(ui.one("svg.graph").get_dom_attribute("viewBox") == panned, "the pan kept across the refresh")

    # The button opens the traces of the throttled calls; back returns to the selected edge.
    button.click()
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == facts["throttled"], "%d throttled traces" % facts["throttled"])
    ui.driver.back()
    ui.wait(lambda d: "DynamoDB" in ui.text("#panel-title"), "the edge's panel after going back")
    ui.safe("map panel")

    # Drag the slow calls on the edge's histogram: a link to exactly those traces.
    ui.drag(ui.one("#panel-histogram .u-over"), 0.6, 0.99)
    link = ui.one("#panel-range a[data-action='range']")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(link.get_attribute("href")).query)
    check(query["filter"][0].startswith('edge("petsearch", "DynamoDB") { responsetime >= '), "range filter: %r" % query)
    link.click()
    slow = sum(1 for t in facts["traces"] if t["slow"])
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == slow, "the %d traces with slow DynamoDB calls" % slow)
    ui.safe("traces of a dragged range")

    # The map of a filter expression; a bad one points at its column.
    ui.open("/?filter=" + urllib.parse.quote('service("payments") { fault }'))
    ui.wait(lambda d: ui.all("svg.graph g.node") and "matching" in ui.text("#map-status"), "the map of the faulted traces")
    faulted = sum(1 for t in facts["traces"] if t["fault"])
    check("the %d traces" % faulted in ui.text("#map-status"), "map of %d traces: %r" % (faulted, ui.text("#map-status")))
    box = ui.one("#map-filter")
    box.clear()
    box.send_keys('service("payments") {', Keys.ENTER)
    error = ui.one("#map-status .filter-error")
    check(error.get_attribute("data-column"), "the map's filter error names a column: %r" % error.text)
    ui.safe("map with a bad filter")
    return {"nodes": nodes}


def scenario_traces(ui, facts):
    ui.open("/traces")
    total = len(facts["traces"]) + facts["health"] + 1
    # The first page, then the rest with NextToken.
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == 100, "a first page of 100 traces")
    ui.click("#load-more")
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == total, "all %d traces listed" % total)
    check(not ui.one("#load-more").is_displayed(), "no more pages")
    ids = [r.get_attribute("data-trace-id") for r in ui.all("#traces-table tbody tr")]
    check(len(set(ids)) == total, "pages do not repeat traces")
    # A bad filter: the message, and a caret under the column where it went wrong.
    box = ui.one("#filter")
    box.clear()
    box.send_keys("responsetime > AND fault", Keys.ENTER)
    def error_shown(d):  # one lookup for both reads: a redraw may replace the element
        error = ui.one("#filter-error")
        column = error.get_attribute("data-column")
        return column is not None and (int(column), error.text)
    column, message = ui.wait(error_shown, "the filter's error and its column")
    check(column == 16, "the error is at column 16, not %r (%s)" % (column, message))
    lines = ui.wait(lambda d: ui.one("#filter-error pre").text, "the caret").split("\n")
    check(lines[0] == "responsetime > AND fault" and lines[1] == " " * 15 + "^", "caret under column 16: %r" % lines)
    check("column 16" in message, "the message names the column: %r" % message)
    check("filter=responsetime" in ui.driver.current_url, "the filter is in the URL")
    ui.safe("traces with a bad filter")
    # A good filter: the error goes, the list narrows.
    box = ui.one("#filter")
    box.clear()
    box.send_keys('!service("health")', Keys.ENTER)
    ui.wait(lambda d: not ui.all("#filter-error"), "the error to go")
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == total - facts["health"], "the traces besides health checks")
    # Drag the slow end of the distribution: only the slow traces stay.
    over = ui.one("#traces-histogram .u-over")
    ui.drag(over, 0.6, 0.99)
    slow = sum(1 for t in facts["traces"] if t["slow"])
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == slow, "%d slow traces after the drag" % slow)
    times = [float(td.get_attribute("data-seconds")) for td in ui.all("#traces-table tbody td[data-seconds]")]
    check(all(t >= 1.0 for t in times), "only slow traces listed: %r" % times)
    check("rtmin=" in ui.driver.current_url, "the range is in the URL")
    ui.one("#range-filter")
    # Sort by response time, ascending then descending.
    ui.click("th[data-sort='rt'] button")
    ui.wait(lambda d: ui.one("th[data-sort='rt']").get_attribute("aria-sort") == "descending", "sorted by response time")
    ui.screenshot(ui.screenshot_path)
    ui.safe("traces narrowed")
    return {"slow": slow, "column": column}


def scenario_trace(ui, facts):
    fault = next(t for t in facts["traces"] if t["fault"])
    ui.open("/traces/" + fault["id"])
    ui.wait(lambda d: len(ui.all("#timeline tr.timeline-row")) >= 6, "the timeline rows")
    rows = [(r.get_attribute("data-name"), int(r.get_attribute("data-depth"))) for r in ui.all("#timeline tr.timeline-row")]
    names = [name for name, _ in rows]
    for expected in ["frontend", "petsearch", "DynamoDB", "payments", "payments@db.local"]:
        check(expected in names, "%s in the timeline %r" % (expected, rows))
    # The OTLP payments segment hangs under frontend's X-Ray call to it: one tree.
    depth = dict(rows)
    check(rows[0] == ("frontend", 0), "the root is frontend: %r" % rows)
    otlp = [d for n, d in rows if n == "payments"]
    check(max(otlp) >= 2, "the OTLP payments segment nests under the X-Ray call: %r" % rows)
    check(ui.all("#timeline tr.fault"), "faulted rows are marked")
    # Click the root: its exception with its stack.
    ui.all("#timeline tr.timeline-row")[0].click()
    exception = ui.one("#details .exception")
    check("card declined by the issuer" in exception.text, "the exception message: %r" % exception.text)
    frames = [li.text for li in exception.find_elements(By.CSS_SELECTOR, "ol.stack li")]
    check(any("charge_card" in f for f in frames), "the stack names charge_card: %r" % frames)
    check(ui.all("#details pre[data-section='http']"), "the http section")
    ui.wait(lambda d: len(ui.all("#trace-map g.node")) >= 5, "the trace's own map")
    # The log panel: after the click on frontend, only its lines; then every line, in time order.
    frontend = [line["message"] for line in facts["logs"] if line["service"] == "frontend"]
    ui.wait(lambda d: log_messages(ui) == frontend, "frontend's %d log lines after the click" % len(frontend))
    ui.click("#trace-logs-all")
    expected = [line["message"] for line in facts["logs"]]
    ui.wait(lambda d: log_messages(ui) == expected, "the trace's %d log lines in order" % len(expected))
    logs = [[td.text for td in row.find_elements(By.CSS_SELECTOR, "td")] for row in ui.all("#trace-logs-table tbody tr")]
    check([row[1] for row in logs] == [line["service"] for line in facts["logs"]], "services: %r" % logs)
    check([row[2] for row in logs] == [line["severity"] for line in facts["logs"]], "severities: %r" % logs)
    check(ui.visible_text(facts["payload"]) == ["TD"], "the payload shows as text: %r" % ui.visible_text(facts["payload"]))
    marks = log_marks(ui, facts)
    ui.screenshot(ui.screenshot_path)
    ui.safe("trace")
    return {"rows": rows, "logs": logs, "marks": marks}


def log_marks(ui, facts):
    """Each log line is a mark on its segment's row (a line whose span id is not in the trace on
    the deepest row running at its time), on its bar at its time; a mark shows its line; a line
    in the panel selects its row."""
    ui.wait(lambda d: len(ui.all("#timeline .log-mark")) == len(facts["logs"]), "%d log marks" % len(facts["logs"]))
    marks = []
    for mark in ui.all("#timeline .log-mark"):
        row = mark.find_element(By.XPATH, "./ancestor::tr[1]")
        bar = row.find_element(By.CSS_SELECTOR, ".bar").rect
        centre = mark.rect["x"] + mark.rect["width"] / 2
        check(bar["x"] - 1 <= centre <= bar["x"] + bar["width"] + 1,
              "the mark at %.1f px lies on its row's bar (%.1f–%.1f)" % (centre, bar["x"], bar["x"] + bar["width"]))
        marks.append({"segment": row.get_attribute("data-id"), "time": float(mark.get_attribute("data-time")), "x": centre})
    by_time = sorted(marks, key=lambda mark: mark["time"])
    check([mark["segment"] for mark in by_time] == [line["segment"] for line in facts["logs"]],
          "marks on the rows of the lines' segments, in time order: %r" % by_time)
    check(all(abs(mark["time"] - line["time"]) < 0.001 for mark, line in zip(by_time, facts["logs"])), "mark times: %r" % by_time)
    frontend = [mark["x"] for mark in by_time if mark["segment"] == facts["logs"][0]["segment"]]
    check(frontend == sorted(frontend) and frontend[0] < frontend[-1] - 20, "later lines further right: %r" % frontend)
    # Hovering a mark shows its line; the payload's mark shows it as text.
    ordered = sorted(ui.all("#timeline .log-mark"), key=lambda mark: float(mark.get_attribute("data-time")))
    ActionChains(ui.driver).move_to_element(ordered[1]).perform()
    ui.wait(lambda d: facts["logs"][1]["message"] in ui.text(".log-popup"), "the hovered mark's line")
    payload = next(i for i, line in enumerate(facts["logs"]) if facts["payload"] in line["message"])
    ordered[payload].click()
    ui.wait(lambda d: facts["payload"] in ui.text(".log-popup .message"), "the clicked mark's line")
    ui.screenshot(ui.screenshot_path.replace(".png", "_log_mark.png"))
    shown = sorted(ui.visible_text(facts["payload"]))
    check(shown == ["SPAN", "TD"], "the payload shows as text in the popup and the panel: %r" % shown)
    highlighted = ui.one("#trace-logs-table tr.highlighted td.message").text
    check(highlighted == facts["logs"][payload]["message"], "the clicked mark's line is marked in the panel: %r" % highlighted)
    check(len(log_messages(ui)) == len(facts["logs"]), "a mark's click is not its row's: the panel still shows every line")
    # A line in the panel selects its row.
    ui.all("#trace-logs-table tbody tr")[1].click()
    ui.wait(lambda d: ui.one("#timeline tr.selected").get_attribute("data-id") == facts["logs"][1]["segment"], "the WARN line's row selected")
    check(ui.text("#details h2") == "petsearch", "its details shown: %r" % ui.text("#details h2"))
    check(len(log_messages(ui)) == len(facts["logs"]), "the panel still shows every line")
    return by_time


def scenario_logs(ui, facts):
    """The Logs page: a search by text and service, newest first, a page at a time; a line's
    trace link opens the trace."""
    ui.open("/logs")
    # Every line of the last 15 minutes, newest first: 100, then the rest.
    total = len(facts["logs"]) + facts["health_log_lines"]
    ui.wait(lambda d: len(ui.all("#logs-table tbody tr")) == 100, "a first page of 100 log lines")
    ui.click("#logs-more")
    ui.wait(lambda d: len(ui.all("#logs-table tbody tr")) == total, "all %d log lines" % total)
    check(not ui.one("#logs-more").is_displayed(), "no more pages")
    rows = [[td.text for td in row.find_elements(By.CSS_SELECTOR, "td")] for row in ui.all("#logs-table tbody tr")]
    check([row[0] for row in rows] == sorted((row[0] for row in rows), reverse=True), "newest first")
    check(rows[-1][3] == facts["logs"][0]["message"], "the oldest line last: %r" % rows[-1])
    check(all(row[4] == "–" for row in rows if row[1] == "health"), "lines outside spans link no trace")
    # Search by service and text, through the form: the search goes to the URL.
    ui.one("#logs-service").send_keys("frontend")
    ui.one("#logs-text").send_keys("payment failed")
    ui.one("#logs-form button[type='submit']").click()
    ui.wait(lambda d: len(ui.all("#logs-table tbody tr")) == 1, "the one frontend line about the payment")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(ui.driver.current_url).query)
    check(query.get("service") == ["frontend"] and query.get("text") == ["payment failed"], "the search in the URL: %r" % query)
    row = [td.text for td in ui.one("#logs-table tbody tr").find_elements(By.CSS_SELECTOR, "td")]
    payment = next(line["message"] for line in facts["logs"] if facts["payload"] in line["message"])
    check(row[1:4] == ["frontend", "ERROR", payment], "the line found: %r" % row)
    check(ui.visible_text(facts["payload"]) == ["TD"], "the payload shows as text: %r" % ui.visible_text(facts["payload"]))
    ui.safe("logs search")
    # A minimum severity from the URL: WARN and above of this trace's lines.
    ui.open("/logs?severity=WARN&text=" + urllib.parse.quote("DynamoDB throttled"))
    ui.wait(lambda d: len(ui.all("#logs-table tbody tr")) == 1, "the WARN line")
    check(Select(ui.one("#logs-severity")).first_selected_option.get_attribute("value") == "WARN", "the severity shown")
    ui.open("/logs?severity=ERROR&service=petsearch")
    ui.wait(lambda d: "No log lines match" in ui.text("#logs-status"), "no ERROR line of petsearch")
    # Back to the payment line; its link opens its trace, with the line in the trace's panel.
    ui.driver.back()
    ui.driver.back()
    ui.wait(lambda d: len(ui.all("#logs-table tbody tr")) == 1 and "payment failed" in ui.text("#logs-table tbody"), "the search again after back")
    ui.screenshot(ui.screenshot_path)
    trace_id = next(t["id"] for t in facts["traces"] if t["fault"])
    ui.click("#logs-table tbody a.trace-link")
    ui.wait(lambda d: urllib.parse.urlparse(d.current_url).path == "/traces/" + trace_id, "the trace's page")
    ui.wait(lambda d: len(ui.all("#timeline tr.timeline-row")) >= 6, "the trace's timeline")
    ui.wait(lambda d: payment in log_messages(ui), "the line in the trace's panel")
    ui.safe("trace from a log line")
    return {"rows": len(rows), "found": row}


def log_messages(ui):
    return [td.text for td in ui.all("#trace-logs-table tbody td.message")]


def scenario_groups(ui, facts):
    ui.open("/groups")
    ui.wait(lambda d: ui.all("tr[data-group='Default']"), "the Default group")
    ui.one("#group-name").send_keys("slow")
    ui.one("#group-filter").send_keys("responsetime >")
    ui.one("#group-save").click()
    message = ui.wait(lambda d: ui.one("p.field-error[data-for='FilterExpression']").text, "the filter's error beside it")
    check("column" in message, "the filter error names its column: %r" % message)
    ui.one("#group-filter").clear()
    ui.one("#group-filter").send_keys("responsetime > 1")
    ui.one("#group-save").click()
    row = ui.one("tr[data-group='slow']")
    check("responsetime > 1" in row.text, "the new group is listed: %r" % row.text)
    ui.screenshot(ui.screenshot_path)
    # Edit a group, and delete another one.
    ui.one("#group-name").send_keys("doomed")
    ui.one("#group-save").click()
    ui.click("tr[data-group='doomed'] button[data-action='delete']")
    # The browser's own "Delete group doomed?" confirmation.
    ui.wait(expected_conditions.alert_is_present(), "the delete confirmation").accept()
    ui.wait(lambda d: not ui.all("tr[data-group='doomed']"), "the deleted group gone")
    ui.click("tr[data-group='slow'] button[data-action='edit']")
    ui.one("#group-filter").clear()
    ui.one("#group-filter").send_keys("responsetime > 1 AND fault")
    ui.one("#group-save").click()
    ui.wait(lambda d: "AND fault" in ui.one("tr[data-group='slow']").text, "the edited filter listed")
    ui.click("tr[data-group='slow'] button[data-action='edit']")
    ui.one("#group-filter").clear()
    ui.one("#group-filter").send_keys("responsetime > 1")
    ui.one("#group-save").click()
    ui.wait(lambda d: "AND fault" not in ui.one("tr[data-group='slow']").text, "the filter edited back")
    ui.click("tr[data-group='slow'] a[data-action='map']")
    ui.wait(lambda d: "group=slow" in d.current_url, "the group's map")
    ui.wait(lambda d: len(ui.all("svg.graph g.node")) >= 5, "the group's map")
    check(ui.one("#map-group").get_attribute("value") == "slow", "the group is selected")
    ui.safe("groups")
    return {}


def scenario_pages(ui, facts):
    """Every page loads, with no script error or CSP violation; sampling and analytics work."""
    fault = next(t for t in facts["traces"] if t["fault"])
    seen = {}
    for path, ready in [("/", "svg.graph g.node"), ("/traces", "#traces-table tbody tr"),
                        ("/traces/" + fault["id"], "#timeline tr.timeline-row"), ("/logs", "#logs-table tbody tr"),
                        ("/analytics", "#analytics-histogram canvas"), ("/groups", "tr[data-group]"),
                        ("/alarms", "#alarm-form"), ("/sampling", "tr[data-rule='Default']")]:
        ui.open(path)
        ui.one(ready)
        ui.safe(path)
        seen[path] = ui.driver.title
    # Time ranges: a preset from the picker, and an absolute window from the URL.
    ui.open("/traces")
    ui.one("#traces-table tbody tr")
    Select(ui.one("#range")).select_by_value("1h")
    ui.wait(lambda d: "range=1h" in d.current_url, "the preset in the URL")
    now = time.time()
    ui.open("/traces?start=%d&end=%d" % (now - 600, now + 60))
    ui.wait(lambda d: ui.one("#range").get_attribute("value") == "absolute", "the absolute range shown")
    ui.wait(lambda d: "more available" in ui.text("#traces-status"), "the traces of the absolute window")
    ui.safe("absolute range")

    # Analytics: drag the slow region: it becomes set A, compared with the rest.
    ui.open("/analytics")
    ui.drag(ui.one("#analytics-histogram .u-over"), 0.6, 0.99)
    ui.wait(lambda d: "a=responsetime" in d.current_url, "set A from the drag")
    ui.wait(lambda d: ui.all("#ranking tbody tr"), "the attribute ranking")
    values = [r.text for r in ui.all("#ranking tbody tr")]
    check(any("bunny" in v for v in values), "the slow traces' annotation ranks: %r" % values[:5])
    ui.one("#ranking .effect")
    ui.screenshot(ui.screenshot_path.replace(".png", "_analytics.png"))
    ui.safe("analytics")
    # Two filters: faulted traces against the other requests of frontend.
    faulted = sum(1 for t in facts["traces"] if t["fault"])
    ui.open("/analytics?a=" + urllib.parse.quote('service("frontend") AND fault') + "&b=" + urllib.parse.quote('service("frontend") AND !fault'))
    ui.wait(lambda d: ("A: %d traces" % faulted) in ui.text("#analytics-status"), "set A of %d faulted traces" % faulted)
    check(("B: %d traces" % (len(facts["traces"]) - faulted)) in ui.text("#analytics-status"), "set B: %r" % ui.text("#analytics-status"))
    ranked = [r.text for r in ui.all("#ranking tbody tr")]
    check(any("ValueError" in r for r in ranked), "the exception type ranks: %r" % ranked[:5])
    # A bad set B points at its column.
    ui.open("/analytics?a=fault&b=" + urllib.parse.quote("http.status >"))
    error = ui.one(".filter-error")
    check(error.get_attribute("data-column") == "14", "set B's error at column 14, the end: %r" % error.text)
    ui.safe("analytics with two sets")
    # Sampling: a rule with a bad rate shows the server's message beside the field.
    ui.open("/sampling")
    ui.one("tr[data-rule='Default']")
    ui.one("#rule-RuleName").send_keys("checkout")
    rate = ui.one("#rule-FixedRate")
    rate.clear()
    rate.send_keys("2")
    ui.one("#rule-save").click()
    message = ui.wait(lambda d: ui.one("p.field-error[data-for='FixedRate']").text, "the rate's error beside it")
    check("FixedRate" in message, "the message: %r" % message)
    rate.clear()
    rate.send_keys("0.5")
    ui.one("#rule-save").click()
    ui.one("tr[data-rule='checkout']")
    # The Default rule: only its rate and reservoir can change.
    ui.click("tr[data-rule='Default'] button[data-action='edit']")
    check(ui.one("#rule-URLPath").get_attribute("disabled") is not None, "Default's URL path is fixed")
    rate = ui.one("#rule-FixedRate")
    rate.clear()
    rate.send_keys("0.25")
    ui.one("#rule-save").click()
    ui.wait(lambda d: "0.25" in ui.one("tr[data-rule='Default']").text, "Default's new rate listed")
    ui.screenshot(ui.screenshot_path)
    ui.one("#rule-RuleName").send_keys("short-lived")
    ui.one("#rule-save").click()
    ui.click("tr[data-rule='short-lived'] button[data-action='delete']")
    ui.wait(expected_conditions.alert_is_present(), "the delete confirmation").accept()
    ui.wait(lambda d: not ui.all("tr[data-rule='short-lived']"), "the deleted rule gone")
    ui.safe("sampling")
    return {"titles": seen}


def scenario_xss(ui, facts):
    payload = facts["payload"]
    checked = []

    def shows_payload(where):
        ui.wait(lambda d: ui.visible_text(payload), "%r shown as text on %s" % (payload, where))
        ui.safe(where)
        checked.append(where)

    ui.open("/")
    ui.wait(lambda d: len(ui.all("svg.graph g.node")) >= 8, "the map")
    shows_payload("the map (node type)")
    probe = [n for n in ui.all("svg.graph g.node") if n.get_attribute("data-name") == "xss-probe" and n.get_attribute("data-type") == payload]
    check(probe, "the xss-probe node carries the payload as its type")
    ui.driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", probe[0])
    ui.wait(lambda d: ui.text("#panel-title") == "xss-probe", "the probe's panel")
    shows_payload("the map's side panel")
    # The OpenTelemetry service named with the payload: on the map under its fixed name, as text.
    hostile = facts["hostile_service"]
    ui.wait(lambda d: [n for n in ui.all("svg.graph g.node") if n.get_attribute("data-name") == hostile["name"]],
            "the OTLP service %r on the map" % hostile["name"])
    shows_name(ui, hostile["name"], "the map (OTLP service name)")
    checked.append("the map (OTLP service name)")
    ui.open("/traces?filter=" + urllib.parse.quote('service("xss-probe")'))
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == 1, "the probe's trace")
    cells = ui.one("#traces-table tbody tr").text
    check(cells.count(payload) >= 2, "URL and root cause show the payload: %r" % cells)
    shows_payload("the traces list")
    ui.open("/traces?filter=" + urllib.parse.quote('annotation.note = "%s"' % payload))
    ui.wait(lambda d: len(ui.all("#traces-table tbody tr")) == 1, "the probe found by its annotation")
    shows_payload("the traces list filtered by the payload")
    ui.open("/traces/" + facts["xss"])
    ui.one("#timeline tr.timeline-row").click()
    exception = ui.one("#details .exception")
    check(payload in exception.text, "the exception message shows as text: %r" % exception.text)
    check(payload in ui.one("#details pre[data-section='annotations']").text, "the annotation shows as text")
    shows_payload("the trace")
    ui.open("/traces/" + hostile["trace"])
    ui.wait(lambda d: [r for r in ui.all("#timeline tr.timeline-row") if r.get_attribute("data-name") == hostile["name"]],
            "the OTLP service's segment in its trace")
    shows_name(ui, hostile["name"], "the trace (OTLP service name)")
    checked.append("the trace (OTLP service name)")
    ui.open("/analytics?a=" + urllib.parse.quote('service("xss-probe")'))
    ui.wait(lambda d: ui.all("#ranking tbody tr"), "the ranking")
    shows_payload("analytics")
    ui.open("/groups")
    ui.one("tr[data-group='Default']")
    ui.one("#group-name").send_keys("probe")
    ui.one("#group-filter").send_keys('annotation.note = "%s"' % payload)
    ui.one("#group-save").click()
    ui.one("tr[data-group='probe']")
    shows_payload("groups")
    ui.open("/sampling")
    ui.one("tr[data-rule='Default']")
    ui.one("#rule-RuleName").send_keys("probe")
    ui.one("#rule-URLPath").clear()
    ui.one("#rule-URLPath").send_keys(payload)
    ui.one("#rule-save").click()
    ui.one("tr[data-rule='probe']")
    shows_payload("sampling")
    ui.screenshot(ui.screenshot_path)
    return {"checked": checked}


def alarm_row(ui, name):
    return ui.one("#alarms-table tr[data-alarm='%s']" % name)


def scenario_alarms(ui, facts):
    """Persisted alarms' states, history and sparkline; create from a group, edit, delete; the map's marks."""
    payload = "<img src=x onerror=alert(1)>"
    ui.open("/alarms")
    row = alarm_row(ui, "petsearch-faults")
    badge = row.find_element(By.CSS_SELECTOR, ".badge.state")
    check(badge.text == "ALARM" and "fault" in badge.get_attribute("class"), "the ALARM badge: %r" % badge.text)
    check(payload in row.text, "the description shows as text: %r" % row.text)
    ok_badge = alarm_row(ui, "payments-memory").find_element(By.CSS_SELECTOR, ".badge.state")
    check(ok_badge.text == "OK", "the OK badge: %r" % ok_badge.text)
    reason = ui.one("#alarm-history-table tr[data-alarm='petsearch-faults'] td.reason").text
    check(reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [3.0") and reason.endswith(payload),
          "the history reason, as text: %r" % reason)
    spark = ui.wait(lambda d: (ui.all("tr[data-alarm='payments-memory'] svg.spark") or [None])[0], "the memory sparkline")
    points = int(spark.get_attribute("data-points"))
    check(points >= 1 and spark.find_elements(By.CSS_SELECTOR, "polyline.spark-line"), "the gauge's datapoints drawn: %d" % points)
    check(spark.find_elements(By.CSS_SELECTOR, "line.spark-threshold"), "the threshold line")
    ui.safe("alarms")

    # Create from a group: the group metric's namespace, name and dimension are filled in.
    Select(ui.one("#alarm-group")).select_by_value("slow")
    check(ui.one("#alarm-Namespace").get_attribute("value") == "AWS/X-Ray", "namespace from the group")
    check(ui.one("#alarm-MetricName").get_attribute("value") == "ApproximateTraceCount", "metric from the group")
    check(ui.one("#alarm-Dimensions").get_attribute("value") == "GroupName=slow", "dimension from the group")
    check(ui.one("#alarm-AlarmName").get_attribute("value") == "slow-traces", "a name from the group")
    ui.one("#alarm-Threshold").clear()
    ui.one("#alarm-Threshold").send_keys("5")
    ui.one("#alarm-AlarmActions").send_keys("ftp://127.0.0.1/hook")
    ui.one("#alarm-save").click()
    message = ui.wait(lambda d: ui.one("p.field-error[data-for='AlarmActions']").text, "the webhook's error beside it")
    check("http:// or https://" in message, "the webhook error says what was expected: %r" % message)
    ui.one("#alarm-AlarmActions").clear()
    ui.one("#alarm-AlarmActions").send_keys("http://127.0.0.1:9/hook")
    ui.one("#alarm-save").click()
    created = alarm_row(ui, "slow-traces")
    check("INSUFFICIENT_DATA" in created.text and "> 5 for 3 of 3" in created.text, "the new alarm listed: %r" % created.text)
    ui.driver.execute_script("window.scrollTo(0, 0)")
    ui.screenshot(ui.screenshot_path)

    # Edit its threshold.
    ui.click("#alarms-table tr[data-alarm='slow-traces'] button[data-action='edit']")
    check(ui.one("#alarm-AlarmName").get_attribute("disabled") is not None, "the name is fixed while editing")
    ui.one("#alarm-Threshold").clear()
    ui.one("#alarm-Threshold").send_keys("7")
    ui.one("#alarm-save").click()
    ui.wait(lambda d: "> 7 for" in alarm_row(ui, "slow-traces").text, "the edited threshold listed")

    # Create another one and delete it.
    ui.one("#alarm-AlarmName").send_keys("doomed")
    ui.one("#alarm-save").click()
    alarm_row(ui, "doomed")
    ui.click("#alarms-table tr[data-alarm='doomed'] button[data-action='delete']")
    ui.wait(expected_conditions.alert_is_present(), "the delete confirmation").accept()
    ui.wait(lambda d: not ui.all("#alarms-table tr[data-alarm='doomed']"), "the deleted alarm gone")
    ui.safe("alarms after changes")

    # The map: petsearch is in ALARM; frontend's alarm names another ServiceType.
    ui.open("/")
    node = ui.one("svg.graph g.node.alarm[data-name='petsearch']")
    check("petsearch-faults" in node.get_attribute("data-alarms"), "the node names its alarm")
    tooltip = node.find_element(By.CSS_SELECTOR, ".node-alarm title").get_attribute("textContent")
    check(tooltip == "In ALARM: petsearch-faults", "the bell's tooltip: %r" % tooltip)
    marked = [n.get_attribute("data-name") for n in ui.all("svg.graph g.node.alarm")]
    check(marked == ["petsearch"], "only petsearch is marked: %r" % marked)
    ui.safe("map with alarms")
    return {"marked": marked, "sparkline_points": points}


def shows_name(ui, name, where):
    """`name` is displayed as text, and nothing was injected."""
    ui.wait(lambda d: ui.visible_text(name), "%r shown as text on %s" % (name, where))
    ui.safe(where)


SCENARIOS = {
    "login": scenario_login,
    "map": scenario_map,
    "traces": scenario_traces,
    "trace": scenario_trace,
    "logs": scenario_logs,
    "groups": scenario_groups,
    "pages": scenario_pages,
    "xss": scenario_xss,
    "alarms": scenario_alarms,
}


def main():
    scenario, base_url, screenshot, facts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    with tempfile.TemporaryDirectory(prefix="fluoro-chromium-") as profile:
        driver = start_dashboard_browser(profile)
        ui = Dashboard(driver, base_url)
        ui.screenshot_path = screenshot
        try:
            result = SCENARIOS[scenario](ui, facts)
        except Check as failure:
            ui.screenshot(screenshot.replace(".png", "_failed.png"))
            print("check failed: %s (at %s)" % (failure, driver.current_url), file=sys.stderr)
            sys.exit(1)
        finally:
            driver.quit()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
