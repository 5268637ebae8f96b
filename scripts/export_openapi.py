"""Write the API's OpenAPI schema to frontend/openapi.json, from which the web app's typed client is
generated (``npm run gen``). Run after changing a route or schema: ``.venv/bin/python scripts/export_openapi.py``.
``--check`` exits 1 when the committed file is out of date instead of writing it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flowvault.app import create_app

TARGET = Path(__file__).resolve().parents[1] / "frontend" / "openapi.json"


def render() -> str:
    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run scripts/export_openapi.py and rebuild the front end", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
