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


def test_runs_sharing_one_redactor_do_not_rebuild_the_combination() -> None:
    registry = SecretRegistry()
    shared = Redactor([("api", "shared-secret-value")])
    tokens = [registry.register(shared) for _ in range(3)]
    combined = registry.combined()
    assert combined.redact("x shared-secret-value") == "x [REDACTED:api]"
    registry.unregister(tokens.pop())
    registry.register(Redactor.empty())  # a run without credentials
    tokens.append(registry.register(shared))
    assert registry.combined() is combined  # the same distinct redactors: kept
    other = registry.register(Redactor([("db", "other-secret-value")]))
    both = registry.combined()
    assert both is not combined
    assert both.redact("shared-secret-value other-secret-value") == "[REDACTED:api] [REDACTED:db]"
    registry.unregister(other)
    assert registry.combined().redact("other-secret-value") == "other-secret-value"
    for token in tokens:
        registry.unregister(token)
    assert not registry.combined()
