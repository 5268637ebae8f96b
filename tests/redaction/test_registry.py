from __future__ import annotations

import threading

from flowvault.redaction import Redactor, SecretRegistry


def test_the_combined_redactor_is_rebuilt_only_when_the_set_changes() -> None:
    registry = SecretRegistry()
    assert not registry.combined()
    first = registry.register(Redactor([("a", "first-secret")]))
    combined = registry.combined()
    assert registry.combined() is combined
    second = registry.register(Redactor([("b", "second-secret")]))
    assert registry.combined() is not combined
    assert registry.combined().redact("first-secret second-secret") == "[REDACTED:a] [REDACTED:b]"
    registry.unregister(first)
    registry.unregister(first)  # spent tokens are ignored
    assert registry.combined().redact("first-secret second-secret") == "first-secret [REDACTED:b]"
    registry.unregister(second)
    assert not registry.combined() and len(registry) == 0


def test_activate_unregisters_even_on_error() -> None:
    registry = SecretRegistry()
    try:
        with registry.activate(Redactor([("a", "first-secret")])):
            assert registry.combined().redact("first-secret") == "[REDACTED:a]"
            raise RuntimeError("run failed")
    except RuntimeError:
        pass
    assert len(registry) == 0 and registry.combined().redact("first-secret") == "first-secret"


def test_registration_is_thread_safe() -> None:
    registry = SecretRegistry()
    redactors = [Redactor([(f"s{i}", f"secret-value-{i}")]) for i in range(8)]
    errors: list[BaseException] = []

    def run(redactor: Redactor) -> None:
        try:
            for _ in range(50):
                token = registry.register(redactor)
                assert registry.combined().redact(f"{redactor!r}") is not None
                registry.unregister(token)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(redactor,)) for redactor in redactors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(registry) == 0 and not registry.combined()
