"""The secret list API is paged (a cursor, at most 500 a page): Settings → Secrets & API Keys and a node's
Credentials dropdown still show every secret. The browser's list requests are rewritten to ask for 2 a page,
so a handful of secrets takes several pages of the real server's answers."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from playwright.sync_api import Route, expect

from tests.web.ui import App

PAGE = 2


def test_every_page_of_secrets_is_shown(app: App, email: str) -> None:
    page = app.page
    app.sign_up(email)
    ws = app.workspace_id
    bearer = [f"bearer-{n}" for n in range(5)]
    for number, name in enumerate(bearer):
        status, body = app.api("POST", f"/api/v1/workspaces/{ws}/secrets", {
            "type": "http_bearer", "name": name, "fields": {"token": f"paging-token-{number:04d}"}})
        assert status == 201, body
    for number in range(2):
        status, body = app.api("POST", f"/api/v1/workspaces/{ws}/secrets", {
            "type": "slack_token", "name": f"slack-{number}", "fields": {"token": f"xoxb-paging-{number:04d}"}})
        assert status == 201, body

    cursors: list[str] = []

    def small_pages(route: Route) -> None:
        parts = urlsplit(route.request.url)
        query = parse_qs(parts.query)
        query["limit"] = [str(PAGE)]
        cursors.extend(query.get("cursor", []))
        route.continue_(url=urlunsplit(parts._replace(query=urlencode(query, doseq=True))))

    page.route(re.compile(r"/api/v1/workspaces/[^/]+/secrets(\?.*)?$"), small_pages)

    app.nav("Secrets & API Keys")
    expect(page.get_by_text("7 secrets in")).to_be_visible()
    card = page.locator('[data-credential-type="http_bearer"]')
    for name in bearer:
        expect(card.locator(f'[data-secret-name="{name}"]')).to_be_visible()
    expect(page.locator('[data-credential-type="slack_token"] [data-secret-name="slack-1"]')).to_be_visible()
    assert len(cursors) >= 3, cursors  # 7 secrets at 2 a page: 3 follow-up pages at least

    app.new_workflow("Paged credentials")
    app.add_node("Manual")
    app.add_node("HTTP Request")
    app.flyout.get_by_label("Auth").select_option("bearer")
    app.credentials.click()
    options = page.get_by_role("listbox").locator(".option-name")
    expect(options).to_have_text(bearer)  # waits for every page
    page.keyboard.press("Escape")
