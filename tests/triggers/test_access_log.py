"""Hook tokens are masked in the access log (the live README test checks a real server's log)."""

from __future__ import annotations

import logging

from flowvault.triggers.access_log import HookTokenFilter, mask_hook_tokens

WF = "6f1c1f8e-8f3b-4d8e-9b1a-2a1d3c4b5e6f"


def test_the_token_in_a_hook_path_is_masked() -> None:
    assert mask_hook_tokens(f"/hooks/{WF}/fvh_secret-token_1") == f"/hooks/{WF}/[REDACTED:webhook token]"
    assert mask_hook_tokens(f'"POST /hooks/{WF}/fvh_abc?x=1 HTTP/1.1" 202') == (
        f'"POST /hooks/{WF}/[REDACTED:webhook token]?x=1 HTTP/1.1" 202'
    )
    unrelated = "/api/v1/workspaces/ws/workflows/wf/webhook"
    assert mask_hook_tokens(unrelated) == unrelated


def test_the_filter_masks_uvicorns_access_record_arguments() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "POST", f"/hooks/{WF}/fvh_token", "1.1", 202), None)
    assert HookTokenFilter().filter(record) is True
    assert record.getMessage() == f'127.0.0.1:5000 - "POST /hooks/{WF}/[REDACTED:webhook token] HTTP/1.1" 202'
