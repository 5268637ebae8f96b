"""The canvas with a mouse: drag nodes from the palette, connect handles (a condition's true/false outputs
included), rename by double-clicking the title, delete with the keyboard; save, reload, and the graph is
the same. A save the server refuses points at the node and the field."""

from __future__ import annotations

from playwright.sync_api import Locator, expect

from tests.web.ui import App


def drop(app: App, type_name: str, x: int, y: int) -> None:
    canvas = app.page.locator(".react-flow__pane")
    item = app.page.get_by_role("button", name=f"Add {type_name}", exact=True)
    item.drag_to(canvas, target_position={"x": x, "y": y})


def handle(node: Locator, kind: str, branch: str | None = None) -> Locator:
    selector = f".react-flow__handle.{kind}" + (f'[data-handleid="{branch}"]' if branch else "")
    return node.locator(selector)


def connect(app: App, source: Locator, target: Locator) -> None:
    source.hover()
    app.page.mouse.down()
    box = target.bounding_box()
    assert box
    app.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    app.page.mouse.up()


def test_build_a_branching_workflow_with_the_mouse(app: App, email: str) -> None:
    page = app.page
    app.sign_up(email)
    workflow_id = app.new_workflow("Mouse made")

    drop(app, "Manual", 80, 120)
    drop(app, "Condition", 360, 120)
    drop(app, "Delay", 660, 40)
    drop(app, "Formatter", 660, 260)
    expect(page.locator(".flow-node")).to_have_count(4)
    expect(page.get_by_role("button", name="Add Manual", exact=True)).to_be_disabled()  # one trigger

    manual, condition = app.node("Manual"), app.node("Condition")
    connect(app, handle(manual, "source"), handle(condition, "target"))
    connect(app, handle(condition, "source", "true"), handle(app.node("Delay"), "target"))
    connect(app, handle(condition, "source", "false"), handle(app.node("Formatter"), "target"))
    expect(page.locator(".react-flow__edge")).to_have_count(3)

    # Rename by double-clicking the title.
    app.node("Delay").locator(".flow-node-title").dblclick()
    rename = page.get_by_label("Node name")
    rename.fill("Wait a bit")
    rename.press("Enter")
    expect(app.node("Wait a bit")).to_be_visible()

    # Configure: the forms are generated from each type's config schema.
    flyout = app.open_node("Wait a bit")
    flyout.get_by_label("Wait (seconds)").fill("0")
    flyout = app.open_node("Condition")
    flyout.get_by_label("Value").fill("{{trigger.amount}}")
    flyout.get_by_label("Operator").select_option("greater")
    flyout.get_by_label("Compare with").fill("10")

    # A save the server refuses names the node and the field.
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".bar-error")).to_contain_text("Formatter")
    expect(app.node("Formatter")).to_contain_text("required")
    expect(app.flyout.get_by_role("heading", name="Formatter")).to_be_visible()
    expect(app.flyout.locator('[data-field="operation"] .field-error')).to_be_visible()
    app.flyout.get_by_label("Operation").select_option("upper")
    app.flyout.get_by_label("Input").fill("{{trigger.name}}")
    app.save()

    # Delete a node with the keyboard; its edge goes with it.
    drop(app, "Slack", 360, 360)
    app.node("Slack").click()
    page.keyboard.press("Delete")
    expect(app.node("Slack")).to_have_count(0)
    expect(page.get_by_text("Unsaved changes")).to_have_count(0)  # back to what was saved

    # Reload: the saved graph, with the branch outputs, comes back.
    page.reload()
    app.open_workflow(workflow_id)
    expect(page.locator(".flow-node")).to_have_count(4)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    status, saved = app.api("GET", f"/api/v1/workspaces/{app.workspace_id}/workflows/{workflow_id}")
    assert status == 200
    names = {n["id"]: n["name"] for n in saved["graph"]["nodes"]}
    branches = {(names[e["source"]], e["source_handle"], names[e["target"]]) for e in saved["graph"]["edges"]}
    assert branches == {
        ("Manual", None, "Condition"),
        ("Condition", "true", "Wait a bit"),
        ("Condition", "false", "Formatter"),
    }
    assert app.recorder.page_errors == []
