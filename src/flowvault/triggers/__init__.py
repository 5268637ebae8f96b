"""Triggers from outside: webhooks (per-workflow token, optional HMAC signing with a replay window,
per-workflow rate limit) and schedules. The trigger *node types* live in ``flowvault.integrations.triggers``.

    models.py     Webhook (token per workflow), WebhookSettings (per workspace), WebhookDelivery (replay guard),
                  Schedule (per scheduled workflow: next tick, lease)
    schemas.py    request and response bodies
    signing.py    HMAC verification of ``X-Flowvault-Timestamp`` / ``X-Flowvault-Signature`` (pure)
    payload.py    reading the body: size limit, content type, JSON object
    ratelimit.py  token buckets per workflow (pure, clock passed in)
    errors.py     one error per way a hook request is refused
    service.py    tokens, settings, signing keys
    receive.py    accepting a hook: URL check, replay guard, queueing the run
    router.py     ``POST /hooks/{workflow_id}/{token}`` and the workspace API
    access_log.py masks hook tokens in the server's access log
    schedule.py   when a schedule fires next, in its time zone, across DST (pure, clock passed in)
    schedules.py  keeping a workflow's schedule row in step on every save
    scheduler.py  the scheduler loop: lease, fire once, skip while the previous run is queued/running
"""
