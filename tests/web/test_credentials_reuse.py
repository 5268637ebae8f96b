"""Create once, reuse everywhere: a secret made in one workflow is offered in another workflow's node of
an accepting type, and never in a node of another type. Settings → Secrets & API Keys lists it under its
type with where it is used; deleting it shows that impact, asks for confirmation, and leaves the nodes
marked "needs a credential"."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.ui import App

TOKEN = "reuse-token-3b8f1d2c6a"
ROTATED = "reuse-token-rotated-77e0a4"


def http_bearer_node(app: App, url: str) -> None:
    app.add_node("Manual")
    app.add_node("HTTP Request")
    app.flyout.get_by_label("URL").fill(url)
    app.flyout.get_by_label("Auth").select_option("bearer")


def test_reuse_then_delete_with_impact(app: App, email: str, screenshots: Path) -> None:
    page = app.page
    app.sign_up(email)

    first = app.new_workflow("Orders sync")
    http_bearer_node(app, "https://api.example.com/orders")
    app.create_credential_inline("shop-api", {"Bearer token": TOKEN})
    app.save()

    second = app.new_workflow("Stock report")
    http_bearer_node(app, "https://api.example.com/stock")
    assert app.credential_options() == ["shop-api"]
    app.credentials.click()
    option = page.get_by_role("option", name="shop-api")
    expect(option).to_contain_text(f"by {email}")
    expect(option).to_contain_text("last used never")
    option.click()
    expect(app.credentials).to_contain_text("shop-api")

    # A Slack node takes Slack tokens only: the bearer token is not offered.
    app.add_node("Slack")
    assert app.credential_options() == []
    app.credentials.click()
    expect(page.get_by_role("listbox")).to_contain_text("No Slack Bot Token secrets")
    page.keyboard.press("Escape")
    app.flyout.get_by_role("button", name="Delete node").click()
    expect(app.node("Slack")).to_have_count(0)
    app.save()

    # Settings → Secrets & API Keys: under HTTP Request → Bearer Token, used by both workflows.
    app.nav("Secrets & API Keys")
    group = page.get_by_role("region", name="HTTP Request")
    card = group.locator('[data-credential-type="http_bearer"]')
    row = card.locator('[data-secret-name="shop-api"]')
    expect(row).to_contain_text(f"Created by{email}")
    expect(row).to_contain_text("Used by 2 nodes in 2 workflows")
    expect(row.get_by_role("link", name="Orders sync → HTTP Request")).to_be_visible()
    expect(row.get_by_role("link", name="Stock report → HTTP Request")).to_be_visible()
    page.screenshot(path=str(screenshots / "secrets-page.png"), full_page=True)

    # A "used by" link opens that workflow with the node's configuration.
    row.get_by_role("link", name="Stock report → HTTP Request").click()
    expect(app.flyout.get_by_role("heading", name="HTTP Request")).to_be_visible()
    assert second in page.url
    app.nav_back_to_secrets()

    # Rotate in place: a new value, the same secret (still used by both), a new version.
    row.get_by_role("button", name="Rotate shop-api").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Bearer token", exact=True).fill(ROTATED)
    dialog.get_by_role("button", name="Replace value").click()
    expect(dialog).to_have_count(0)
    expect(row.locator(".badge")).to_have_text("v2")
    expect(row).to_contain_text("Used by 2 nodes in 2 workflows")

    # Delete: the dialog lists the impact and asks for confirmation; cancel keeps the secret.
    row.get_by_role("button", name="Delete shop-api").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("It is used by 2 nodes in 2 workflows")
    expect(dialog).to_contain_text("Orders sync → HTTP Request")
    expect(dialog).to_contain_text("Stock report → HTTP Request")
    page.screenshot(path=str(screenshots / "secrets-delete-impact.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name="Delete shop-api").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete anyway").click()
    expect(card.locator('[data-secret-name="shop-api"]')).to_have_count(0)
    expect(card).to_contain_text("No Bearer Token secrets yet.")

    # Both nodes now need a credential, on the canvas and in the configuration.
    for workflow_id in (first, second):
        app.open_workflow(workflow_id)
        expect(app.node("HTTP Request")).to_contain_text("needs a credential")
        flyout = app.open_node("HTTP Request")
        expect(flyout).to_contain_text("This node needs a credential")
        expect(app.credentials).to_contain_text("Deleted credential")
    for value in (TOKEN, ROTATED):
        assert value not in page.content()
        assert app.recorder.containing(value) == []
    assert app.recorder.page_errors == []
