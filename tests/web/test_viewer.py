"""A viewer sees Secrets & API Keys without create/rotate/delete controls and cannot change a workflow."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import Browsers
from tests.web.ui import App

TOKEN = "viewer-test-token-9c4e7a"


def test_viewer_is_read_only(app: App, browsers: Browsers, email: str, screenshots: Path) -> None:
    owner = app
    owner.sign_up(email)
    workspace = owner.workspace_id
    workflow_id = owner.new_workflow("Shared report")
    owner.add_node("Manual")
    owner.add_node("HTTP Request")
    owner.flyout.get_by_label("URL").fill("https://api.example.com/report")
    owner.flyout.get_by_label("Auth").select_option("bearer")
    owner.create_credential_inline("report-api", {"Bearer token": TOKEN})
    owner.save()

    viewer_email = f"viewer-{email}"
    owner.nav("Members")
    invite = owner.page.get_by_role("form", name="Invite a member")
    invite.get_by_label("Email").fill(viewer_email)
    invite.get_by_label("Role").select_option("viewer")
    invite.get_by_role("button", name="Send invitation").click()
    expect(owner.page.get_by_role("table", name="Pending invitations")).to_contain_text(viewer_email)

    viewer = browsers.open()
    page = viewer.page
    viewer.sign_up(viewer_email)
    page.get_by_role("link", name="Review").click()
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
    assert viewer.workspace_id == workspace
    expect(page.get_by_role("button", name="+ New workflow")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete Shared report")).to_have_count(0)

    # Secrets & API Keys: the list and its usage, and no control that changes anything.
    viewer.nav("Secrets & API Keys")
    row = page.locator('[data-secret-name="report-api"]')
    expect(row).to_contain_text("Used by 1 node in 1 workflow")
    expect(page.get_by_text("You have view-only access")).to_be_visible()
    for name in ("+ Add secret", "Rotate report-api", "Delete report-api"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("button", name="Add Bearer Token secret")).to_have_count(0)
    page.screenshot(path=str(screenshots / "secrets-page-viewer.png"), full_page=True)

    # The editor is view-only: no palette, no save or run, a disabled form.
    viewer.open_workflow(workflow_id)
    expect(page.get_by_text("View only", exact=True)).to_be_visible()
    for name in ("Save", "▶ Run", "Add HTTP Request"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_label("Workflow name")).to_be_disabled()
    flyout = viewer.open_node("HTTP Request")
    expect(flyout.get_by_label("URL")).to_be_disabled()
    expect(viewer.credentials).to_be_disabled()
    expect(viewer.credentials).to_contain_text("report-api")
    expect(flyout.get_by_role("button", name="Delete node")).to_have_count(0)

    # And the server refuses a change made behind the interface's back.
    status, problem = viewer.api("PUT", f"/api/v1/workspaces/{workspace}/workflows/{workflow_id}", {"name": "Hijacked"})
    assert status == 403, problem
    assert problem["detail"]
    assert TOKEN not in page.content()
    assert viewer.recorder.containing(TOKEN) == []
    assert viewer.recorder.page_errors == []
