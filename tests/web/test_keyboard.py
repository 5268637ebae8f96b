"""The heart of the product without a mouse: add nodes from the palette, choose the auth mode, open the
Credentials dropdown, create a new secret in place and select an existing one — keys only."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.ui import App


def test_credentials_dropdown_and_create_new_by_keyboard(app: App, email: str) -> None:
    page = app.page
    keyboard = page.keyboard
    app.sign_up(email)
    app.new_workflow("Keyboard only")

    page.get_by_role("button", name="Add Manual", exact=True).focus()
    keyboard.press("Enter")
    page.get_by_role("button", name="Add HTTP Request", exact=True).focus()
    keyboard.press("Enter")
    expect(page.locator(".react-flow__edge")).to_have_count(1)

    app.flyout.get_by_label("URL").focus()
    keyboard.type("https://api.example.com/v1/items")
    app.flyout.get_by_label("Auth").select_option("basic")  # a native <select>: arrow keys work too

    app.credentials.focus()
    keyboard.press("ArrowDown")  # opens the list, focused on its first option
    listbox = page.get_by_role("listbox")
    expect(listbox).to_be_focused()
    keyboard.press("End")
    keyboard.press("Enter")  # "+ Create new secret"
    name = app.flyout.get_by_label("Secret name")
    expect(name).to_be_focused()
    keyboard.type("items-basic")
    keyboard.press("Tab")
    keyboard.type("svc-items")  # Username
    keyboard.press("Tab")
    keyboard.type("items-password-4c1a")  # Password (masked)
    keyboard.press("Enter")  # submits: Save & Select
    expect(app.credentials).to_contain_text("items-basic")

    # A second secret of the type, then switch back to the first with the arrow keys.
    app.credentials.focus()
    keyboard.press("ArrowDown")
    keyboard.press("End")
    keyboard.press("Enter")
    keyboard.type("items-basic-2")
    keyboard.press("Tab")
    keyboard.type("svc-items-2")
    keyboard.press("Tab")
    keyboard.type("items-password-9e2b")
    keyboard.press("Enter")
    expect(app.credentials).to_contain_text("items-basic-2")
    app.credentials.focus()
    keyboard.press("ArrowDown")
    keyboard.press("Home")
    keyboard.press("Enter")
    expect(app.credentials).to_have_text(re.compile(r"^items-basic\W*$"))  # the name (and the chevron)
    expect(app.credentials).to_be_focused()
    keyboard.press("Control+s")
    expect(page.get_by_text("Unsaved changes")).to_have_count(0)
    assert app.recorder.page_errors == []
