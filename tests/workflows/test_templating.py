"""``{{ reference }}`` templates (SPEC §4): unit tests and hypothesis properties of render/parse/Scope."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowvault.workflows.templating import (
    Reference,
    Scope,
    TemplateError,
    node_key,
    node_slug,
    parse,
    references,
    render,
)

TRIGGER = {
    "n": 5,
    "ratio": 0.5,
    "ok": True,
    "nothing": None,
    "name": "Ada",
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 0, "tags": ["x", "y"]}],
    "customer": {"address": {"city": "Lyon", "zip": "69001"}, "first name": "Ada"},
    "Mixed Case": "kept",
}
FETCH = {"status": 200, "body": {"data": [10, 20, 30]}}


def scope(secrets: dict[str, str] | None = None, **nodes: Any) -> Scope:
    """Nodes keyed as the executor keys them: by lower-cased name and by slug."""
    by_name: dict[str, Any] = {}
    for name, output in {"Fetch data": FETCH, **nodes}.items():
        by_name[node_key(name)] = by_name[node_slug(name)] = output
    lookup = None
    if secrets is not None:
        def lookup(name: str) -> str:
            if name not in secrets:
                raise TemplateError(f"no secret named '{name}'")
            return secrets[name]
    return Scope(trigger=TRIGGER, nodes=by_name, secrets=lookup)


# --- literals and types ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "plain text", "{ not } a {template}", "{{ unclosed", "}} {{", 0, 1.5, None,
                                   True, ["a", 1], {"k": "v"}])
def test_values_without_references_are_unchanged(value: Any) -> None:
    assert render(value, scope()) == value


@pytest.mark.parametrize(("template", "expected"), [
    ("{{trigger.n}}", 5),
    ("{{trigger.ratio}}", 0.5),
    ("{{trigger.ok}}", True),
    ("{{trigger.nothing}}", None),
    ("{{trigger.items}}", TRIGGER["items"]),
    ("{{trigger.customer}}", TRIGGER["customer"]),
    ("{{ trigger.n }}", 5),
    ("{{trigger}}", TRIGGER),
])
def test_a_whole_reference_keeps_the_type(template: str, expected: Any) -> None:
    rendered = render(template, scope())
    assert rendered == expected and type(rendered) is type(expected)


@pytest.mark.parametrize(("template", "expected"), [
    ("n={{trigger.n}}", "n=5"),
    (" {{trigger.n}}", " 5"),
    ("{{trigger.n}}{{trigger.n}}", "55"),
    ("ok={{trigger.ok}} nothing=[{{trigger.nothing}}]", "ok=true nothing=[]"),
    ("first: {{trigger.items[0]}}", 'first: {"sku":"A-1","qty":2}'),
    ("Hi {{trigger.name}}, city {{trigger.customer.address.city}}", "Hi Ada, city Lyon"),
    ("é {{trigger.customer.first name}} ü", "é Ada ü"),
])
def test_references_inside_text_are_written_in(template: str, expected: str) -> None:
    assert render(template, scope()) == expected


def test_nested_paths_and_indexes() -> None:
    s = scope()
    assert render("{{trigger.items[1].tags[0]}}", s) == "x"
    assert render("{{trigger.items[0].qty}}", s) == 2
    assert render("{{trigger.customer.address.zip}}", s) == "69001"
    assert render("{{fetch data.body.data[2]}}", s) == 30
    assert render("{{trigger.Mixed Case}}", s) == "kept", "only the root is lower-cased, not the path"


def test_render_walks_lists_dicts_and_keys() -> None:
    value = {"q": ["{{trigger.n}}", {"deep": "{{trigger.name}}!"}], "{{trigger.name}}": "key", "n": 7}
    assert render(value, scope()) == {"q": [5, {"deep": "Ada!"}], "Ada": "key", "n": 7}
    assert render(("{{trigger.n}}",), scope()) == [5]


@pytest.mark.parametrize("reference", [
    "{{Fetch data.status}}", "{{fetch data.status}}", "{{FETCH DATA.status}}", "{{fetch_data.status}}",
    "{{ Fetch data . status }}",
])
def test_node_names_are_lower_cased_and_spaces_may_be_underscores(reference: str) -> None:
    assert render(reference, scope()) == 200


def test_a_node_known_only_by_its_slug_is_found_by_its_name() -> None:
    only_slug = Scope(trigger={}, nodes={node_slug("Send  Mail!"): {"id": "m-1"}})
    assert render("{{Send  Mail!.id}}", only_slug) == "m-1"
    assert render("{{send_mail.id}}", only_slug) == "m-1"


def test_key_and_slug() -> None:
    assert node_key("  Fetch Data ") == "fetch data"
    assert node_slug("  Fetch Data ") == "fetch_data"
    assert node_slug("Send -- Mail (v2)") == "send_mail_v2"
    assert node_slug("déjà vu") == "d_j_vu"


# --- errors name the reference --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "words"), [
    ("{{nobody.x}}", ["{{nobody.x}}", "'nobody'", "fetch data", "trigger"]),
    ("see {{Unknown Node.x}}", ["{{Unknown Node.x}}", "'unknown node'"]),
    ("{{trigger.missing}}", ["{{trigger.missing}}", "'missing'"]),
    ("{{trigger.items[5]}}", ["{{trigger.items[5]}}", "'5'"]),
    ("{{trigger.name.first}}", ["{{trigger.name.first}}", "'first'"]),
    ("{{trigger.items.sku}}", ["{{trigger.items.sku}}", "'sku'"]),
    ("{{trigger.customer[0]}}", ["{{trigger.customer[0]}}", "'0'"]),
    ("{{fetch_data.body.nope}}", ["{{fetch_data.body.nope}}", "'nope'"]),
])
def test_unknown_references_raise_naming_the_reference(template: str, words: list[str]) -> None:
    with pytest.raises(TemplateError) as raised:
        render(template, scope())
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("template", ["{{}}", "{{ }}", "{{[0]}}", "{{ [1].x }}", "{{.}}"])
def test_malformed_references_raise_when_parsed(template: str) -> None:
    with pytest.raises(TemplateError, match="not a reference"):
        parse(template)
    with pytest.raises(TemplateError):
        references({"a": [template]})


# --- secrets --------------------------------------------------------------------------------------------------------


def test_secrets_raise_where_not_allowed() -> None:
    with pytest.raises(TemplateError) as raised:
        render("Bearer {{secrets.API}}", scope())
    assert "{{secrets.API}}" in str(raised.value) and "HTTP Request" in str(raised.value)
    with pytest.raises(TemplateError):
        render({"headers": {"X": "{{Secrets.API}}"}}, scope())


def test_secrets_resolve_through_the_lookup() -> None:
    s = scope(secrets={"API": "s3cret-value", "Echo API": "other-value"})
    assert render("{{secrets.API}}", s) == "s3cret-value"
    assert render({"Authorization": "Bearer {{ secrets.API }}"}, s) == {"Authorization": "Bearer s3cret-value"}
    assert render("{{secrets.Echo API}}", s) == "other-value"
    assert render("{{SECRETS.API}}", s) == "s3cret-value", "the root is case-insensitive"
    with pytest.raises(TemplateError, match="no secret named 'Nope'"):
        render("{{secrets.Nope}}", s)
    for bad in ("{{secrets}}", "{{secrets.API.value}}", "{{secrets[0]}}"):
        with pytest.raises(TemplateError, match="NAME"):
            render(bad, s)


def test_a_secret_lookup_is_not_called_where_secrets_are_not_referenced() -> None:
    calls: list[str] = []

    def lookup(name: str) -> str:
        calls.append(name)
        return "v"

    s = Scope(trigger=TRIGGER, nodes={}, secrets=lookup)
    assert render({"a": "{{trigger.n}}", "b": "plain"}, s) == {"a": 5, "b": "plain"}
    assert calls == []


# --- parse and references -------------------------------------------------------------------------------------------


def test_parse_splits_literals_and_references() -> None:
    parts, whole = parse("a {{ trigger.x[2].y }} b {{Node One.z}}")
    assert not whole
    assert parts == ("a ", Reference("{{trigger.x[2].y}}", "trigger", ("x", 2, "y")), " b ",
                     Reference("{{Node One.z}}", "node one", ("z",)))
    assert parse("{{trigger.x}}") == ((Reference("{{trigger.x}}", "trigger", ("x",)),), True)
    assert parse("plain") == (("plain",), False)
    assert parse("") == ((), False)


def test_references_finds_every_reference_in_nested_values() -> None:
    value = {"url": "https://x/{{trigger.id}}", "h": {"A": "{{secrets.K}}"}, "l": ["{{a.b}}", 3, None, ("{{c}}",)]}
    assert [r.text for r in references(value)] == ["{{trigger.id}}", "{{secrets.K}}", "{{a.b}}", "{{c}}"]
    assert [r.root for r in references(value)] == ["trigger", "secrets", "a", "c"]
    assert references(42) == [] and references("no refs") == []


# --- properties -----------------------------------------------------------------------------------------------------

# Keys a path can name: no '.', '[', ']', braces or line breaks, no whitespace at either end.
KEY_CHARACTERS = string.ascii_letters + string.digits + "_- "
keys = st.text(alphabet=KEY_CHARACTERS, min_size=1, max_size=8).map(str.strip).filter(bool)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=12,
)
trigger_inputs = st.dictionaries(keys, json_values, min_size=1, max_size=5)
property_settings = settings(deadline=None, max_examples=150)


@st.composite
def value_and_path(draw: st.DrawFn) -> tuple[dict[str, Any], str, Any]:
    """A trigger input, a path into it written as a template, and the value at that path."""
    data = draw(trigger_inputs)
    key = draw(st.sampled_from(sorted(data)))
    path, value = f".{key}", data[key]
    while draw(st.booleans()):
        if isinstance(value, dict) and value:
            key = draw(st.sampled_from(sorted(value)))
            path, value = f"{path}.{key}", value[key]
        elif isinstance(value, list) and value:
            index = draw(st.integers(0, len(value) - 1))
            path, value = f"{path}[{index}]", value[index]
        else:
            break
    return data, "{{trigger" + path + "}}", value


@property_settings
@given(value_and_path())
def test_property_a_path_renders_to_the_value_at_that_path(case: tuple[dict[str, Any], str, Any]) -> None:
    data, template, expected = case
    rendered = render(template, Scope(trigger=data, nodes={}))
    assert rendered == expected and type(rendered) is type(expected)
    # The same path through a node's output, by its name in any case.
    node_template = template.replace("{{trigger", "{{My Step", 1)
    assert render(node_template, Scope(trigger={}, nodes={"my step": data})) == expected


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


literals = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=12)


@property_settings
@given(trigger_inputs, st.data())
def test_property_text_renders_to_the_concatenation(data: dict[str, Any], draw: st.DataObject) -> None:
    names = draw.draw(st.lists(st.sampled_from(sorted(data)), min_size=1, max_size=4))
    parts = draw.draw(st.lists(literals, min_size=len(names) + 1, max_size=len(names) + 1))
    template = parts[0] + "".join("{{trigger." + name + "}}" + literal for name, literal in zip(names, parts[1:],
                                                                                                  strict=True))
    rendered = render(template, Scope(trigger=data, nodes={}))
    if len(names) == 1 and parts == ["", ""]:
        assert rendered == data[names[0]]
    else:
        assert rendered == parts[0] + "".join(_as_text(data[n]) + lit for n, lit in zip(names, parts[1:], strict=True))


@property_settings
@given(st.text().filter(lambda t: "{{" not in t))
def test_property_text_without_braces_is_unchanged(text: str) -> None:
    assert render(text, Scope(trigger={}, nodes={})) == text
    assert references(text) == []


@property_settings
@given(trigger_inputs.map(lambda d: {k: "{{trigger.other}}" for k in d}))
def test_property_rendered_values_are_not_rendered_again(data: dict[str, Any]) -> None:
    s = Scope(trigger={**data, "other": "{{secrets.X}}"}, nodes={})
    for key in data:
        assert render("{{trigger." + key + "}}", s) == "{{trigger.other}}"
        assert render("<{{trigger." + key + "}}>", s) == "<{{trigger.other}}>"
