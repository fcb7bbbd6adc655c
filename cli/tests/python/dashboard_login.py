"""The dashboard of a server started with an API token: the login page, then the map
(run by dashboard_browser.py as its `login` scenario)."""

from browser import check


def scenario_login(ui, facts):
    """A server with an API token: the dashboard sends an anonymous visit to the login page,
    refuses a wrong token, and shows the map once the right one is given."""
    ui.open("/")
    check(ui.driver.current_url == ui.base + "/login", "sent to the login page: " + ui.driver.current_url)
    ui.one("#token").send_keys("wrong-token-0123456789")
    ui.click("#log-in")
    ui.wait(lambda d: "not this server's token" in d.page_source, "the wrong token refused")
    ui.driver.get_log("browser")  # the refusal's 401 is expected; what follows must be clean
    ui.one("#token").send_keys(facts["api_token"])
    ui.click("#log-in")
    ui.wait(lambda d: d.current_url == ui.base + "/", "the dashboard after logging in")
    ui.wait(lambda d: len(ui.all("svg.graph g.node")) >= 5, "the map's nodes")
    ui.safe("the map after logging in")
    ui.screenshot(ui.screenshot_path)
    return {"nodes": len(ui.all("svg.graph g.node"))}
