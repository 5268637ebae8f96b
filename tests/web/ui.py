"""What a person does in the web app, as Playwright steps (used by the browser tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Locator, Page, Response, expect

PASSWORD = "correct horse battery"
RUN_DEADLINE_MS = 20_000


@dataclass
class Recorder:
    """Every API response the page received (URL, status, body) and every uncaught page error."""

    responses: list[tuple[str, int, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        if "/api/" not in response.url:
            return
        try:
            body = response.text()
        except Exception:  # a response whose body the browser dropped (e.g. a redirect)
            body = ""
        self.responses.append((response.url, response.status, body))

    def on_page_error(self, error: Any) -> None:
        self.page_errors.append(str(error))

    def containing(self, needle: str) -> list[str]:
        return [url for url, _status, body in self.responses if needle in body]


@dataclass
class App:
    page: Page
    recorder: Recorder
    base_url: str

    # ---- navigation and accounts ----
    def go(self, path: str) -> None:
        self.page.goto(f"{self.base_url}/#{path}")

    def sign_up(self, email: str, password: str = PASSWORD) -> None:
        self.go("/signup")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign up").click()
        expect(self.page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()

    @property
    def workspace_id(self) -> str:
        found = re.search(r"#/w/([^/?]+)", self.page.url)
        assert found, self.page.url
        return found.group(1)

    def nav(self, label: str) -> None:
        """A link of the sidebar (the editor has none: it goes back to the dashboard first)."""
        if self.page.locator(".editor").count():
            self.go(f"/w/{self.workspace_id}")
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()

    def nav_back_to_secrets(self) -> None:
        self.go(f"/w/{self.workspace_id}/settings/secrets")
        expect(self.page.get_by_role("heading", name="Secrets & API Keys")).to_be_visible()

    # ---- settings ----
    def set_egress_allowlist(self, *hosts: str) -> None:
        self.nav("Engine")
        self.page.get_by_label("Egress allowlist").fill("\n".join(hosts))
        self.page.get_by_role("button", name="Save settings").click()
        expect(self.page.get_by_text("Engine settings saved")).to_be_visible()

    # ---- editor ----
    def new_workflow(self, name: str) -> str:
        self.go(f"/w/{self.workspace_id}")
        self.page.get_by_role("button", name="+ New workflow").click()
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_role("button", name="Create and open").click()
        expect(self.page.get_by_label("Workflow name")).to_have_value(name)
        found = re.search(r"/workflows/([^/?]+)", self.page.url)
        assert found
        return found.group(1)

    def open_workflow(self, workflow_id: str) -> None:
        self.go(f"/w/{self.workspace_id}/workflows/{workflow_id}")
        expect(self.page.locator(".react-flow")).to_be_visible()

    def add_node(self, type_name: str) -> None:
        """Presses the palette item: adds the node after the selected one and opens its configuration."""
        self.page.get_by_role("button", name=f"Add {type_name}", exact=True).click()

    def node(self, name: str) -> Locator:
        return self.page.locator(f'.flow-node[data-node-name="{name}"]')

    def open_node(self, name: str) -> Locator:
        self.node(name).locator(".flow-node-title").click()
        flyout = self.flyout
        expect(flyout.get_by_role("heading", name=name)).to_be_visible()
        return flyout

    @property
    def flyout(self) -> Locator:
        return self.page.locator("aside.flyout")

    @property
    def credentials(self) -> Locator:
        return self.flyout.get_by_role("button", name=re.compile(r"^Credentials"))

    def credential_options(self) -> list[str]:
        self.credentials.click()
        listbox = self.page.get_by_role("listbox")
        expect(listbox).to_be_visible()
        names = [n.strip() for n in listbox.locator(".option-name").all_inner_texts()]
        self.page.keyboard.press("Escape")
        return names

    def create_credential_inline(self, name: str, values: dict[str, str]) -> None:
        self.credentials.click()
        self.page.get_by_role("option", name="+ Create new secret").click()
        form = self.flyout.locator("form.credential-form")
        form.get_by_label("Secret name").fill(name)
        for label, value in values.items():
            form.get_by_role("textbox", name=label, exact=True).fill(value)
        form.get_by_role("button", name="Save & Select").click()
        expect(form).to_have_count(0)
        expect(self.credentials).to_contain_text(name)

    def save(self) -> None:
        self.page.get_by_role("button", name="Save", exact=True).click()
        expect(self.page.get_by_text("Unsaved changes")).to_have_count(0)
        expect(self.page.locator(".bar-error")).to_have_count(0)

    def run(self) -> Locator:
        """Presses Run and waits for the run to finish; returns the run panel."""
        self.page.get_by_role("button", name="▶ Run").click()
        panel = self.page.get_by_role("region", name="Run log")
        expect(panel.locator(".run-panel-header .badge")).to_have_text(
            re.compile("succeeded|failed|canceled"), timeout=RUN_DEADLINE_MS
        )
        return panel

    # ---- API calls as the page makes them (session cookie + CSRF header) ----
    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        result: dict[str, Any] = self.page.evaluate(
            """async ([method, path, body]) => {
                const csrf = document.cookie.split("; ").find((c) => c.startsWith("flowvault_csrf="));
                const headers = {"Content-Type": "application/json"};
                if (csrf) headers["X-CSRF-Token"] = decodeURIComponent(csrf.split("=")[1]);
                const payload = body === null ? undefined : JSON.stringify(body);
                const response = await fetch(path, {method, headers, body: payload});
                const text = await response.text();
                return {status: response.status, body: text ? JSON.parse(text) : null};
            }""",
            [method, path, body],
        )
        return int(result["status"]), result["body"]
