"""The founding document's flow in a real browser: a Credentials dropdown in the node's configuration and
Create New, which stores the secret and selects it without leaving the canvas; then save, run, and proof
that the value reached the service and nothing else (page HTML, API responses)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.fakes import FakeEcho
from tests.web.conftest import FAKE_HOST
from tests.web.ui import App

CANARY = "canary-bearer-5d1e0c9a7b"


def test_create_new_credential_inline_then_run(app: App, email: str, fake_echo: FakeEcho, screenshots: Path) -> None:
    page = app.page
    app.sign_up(email)
    app.set_egress_allowlist(FAKE_HOST)
    app.new_workflow("Call the echo API")

    app.add_node("Manual")
    app.add_node("HTTP Request")  # added after the selected Manual trigger, connected to it
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    flyout = app.flyout
    flyout.get_by_label("URL").fill(f"{fake_echo.url}/echo")
    flyout.get_by_label("Auth").select_option("bearer")

    # The dropdown offers no secret yet, only Create New.
    assert app.credential_options() == []
    expect(app.node("HTTP Request")).to_contain_text("needs a credential")

    app.credentials.click()
    expect(page.get_by_role("listbox")).to_contain_text("No Bearer Token secrets in this workspace yet.")
    page.get_by_role("option", name="+ Create new secret").click()
    form = flyout.locator("form.credential-form")
    form.get_by_label("Secret name").fill("echo-bearer")
    token = form.get_by_role("textbox", name="Bearer token", exact=True)
    token.fill(CANARY)
    expect(token).to_have_attribute("type", "password")  # masked while typed...
    form.get_by_role("button", name="Show value").click()
    expect(token).to_have_attribute("type", "text")  # ...unless the user asks to see it
    form.get_by_role("button", name="Save & Select").click()

    # Saved to Secrets & API Keys, the form closed, and the new secret is the node's credential.
    expect(form).to_have_count(0)
    expect(app.credentials).to_contain_text("echo-bearer")
    expect(app.node("HTTP Request")).not_to_contain_text("needs a credential")
    assert "#/w/" in page.url and "/workflows/" in page.url  # never left the canvas
    assert CANARY not in page.content()  # the typed value is gone from the page once saved
    page.screenshot(path=str(screenshots / "editor-credentials-flyout.png"))

    app.save()
    panel = app.run()
    expect(panel.locator(".run-panel-header .badge")).to_have_text("succeeded")
    for name in ("Manual", "HTTP Request"):
        step = panel.locator(".step", has=page.locator(".step-name", has_text=name))
        expect(step.locator(".badge")).to_have_text("succeeded")

    # The service received the token...
    assert [r.headers.get("authorization") for r in fake_echo.requests] == [f"Bearer {CANARY}"]
    # ...and the recorded output shows it redacted (the echo sent the Authorization header back).
    panel.locator(".step", has=page.locator(".step-name", has_text="HTTP Request")).locator(".step-toggle").click()
    expect(panel).to_contain_text("[REDACTED:echo-bearer]")
    page.screenshot(path=str(screenshots / "editor-run-panel.png"))

    # The canary is nowhere in the page or in anything the server sent back.
    forms = [CANARY, base64.b64encode(CANARY.encode()).decode()]
    for value in forms:
        assert value not in page.content()
        assert app.recorder.containing(value) == []
    app.nav("Secrets & API Keys")
    expect(page.get_by_role("heading", name="Secrets & API Keys")).to_be_visible()
    expect(page.locator('[data-secret-name="echo-bearer"]')).to_contain_text(re.compile(r"Last used.*ago|just now"))
    for value in forms:
        assert value not in page.content()
        assert app.recorder.containing(value) == []
    assert app.recorder.page_errors == []
