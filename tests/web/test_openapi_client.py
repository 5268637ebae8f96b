"""The web app's API client is generated from frontend/openapi.json; that file must be the server's
current schema (after changing a route or schema: `.venv/bin/python scripts/export_openapi.py`)."""

from __future__ import annotations

import subprocess
import sys

from tests.web.conftest import ROOT


def test_frontend_openapi_json_is_the_current_schema() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_openapi.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
