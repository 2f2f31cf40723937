"""The configuration form, generated from the configuration's JSON Schema: groups of fields with
labels, help texts and examples; the posted form turned back into a configuration document; and
validation errors as a message per field. No I/O."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from contracts.configuration import SERVICES

# Words for the schema's enum values; a value missing here is shown as it is.
CHOICE_WORDS = {
    "keep": "kept (switch the service on again later and find everything there)",
    "delete": "deleted for good",
    "open": "anyone can sign up",
    "approval": "after your approval",
    "closed": "nobody else",
}
SERVICE_LEVEL = "services"
"""Where problems about the configuration as a whole (e.g. no service enabled) are shown."""


@dataclass(frozen=True)
class Field:
    name: str
    """Dotted path in the configuration document, e.g. initialUser.email."""
    label: str
    help: str
    kind: str
    """text, email, number, checkbox or choice."""
    example: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    default: Any = None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    description: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @property
    def is_service(self) -> bool:
        return self.key in SERVICES

    @property
    def switch(self) -> Field | None:
        return next((f for f in self.fields if f.name == f"{self.key}.enable"), None)


def _resolve(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        target = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    for option in node.get("anyOf", ()):  # Optional[X]: the non-null option
        if option.get("type") != "null":
            return {**_resolve(schema, option), **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _field(name: str, node: dict, required: bool) -> Field:
    kind = {"boolean": "checkbox", "integer": "number", "number": "number"}.get(node.get("type"), "text")
    choices: tuple[tuple[str, str], ...] = ()
    if "enum" in node:
        kind = "choice"
        choices = tuple((str(value), CHOICE_WORDS.get(value, str(value))) for value in node["enum"])
    elif node.get("format") == "email":
        kind = "email"
    examples = node.get("examples") or ()
    return Field(
        name=name,
        label=node.get("title") or name.rsplit(".", 1)[-1],
        help=node.get("description", ""),
        kind=kind,
        example=str(examples[0]) if examples else "",
        choices=choices,
        default=node.get("default"),
        required=required,
        minimum=node.get("minimum"),
        maximum=node.get("maximum"),
    )


def groups(schema: dict) -> tuple[Group, ...]:
    """The form: a group for the top-level fields, then one per nested object (the admin account,
    each service), fields in the schema's order."""
    top: list[Field] = []
    nested: list[Group] = []
    required = set(schema.get("required", ()))
    for name, raw in schema["properties"].items():
        node = _resolve(schema, raw)
        if node.get("type") == "object" and "properties" in node:
            inner_required = set(node.get("required", ()))
            fields = tuple(
                _field(f"{name}.{inner}", _resolve(schema, inner_node), inner in inner_required)
                for inner, inner_node in node["properties"].items()
            )
            description = raw.get("description") or node.get("description", "")
            nested.append(Group(name, raw.get("title") or node.get("title") or name, description, fields))
        else:
            top.append(_field(name, node, name in required))
    return (Group("", "Your domain", "", tuple(top)), *nested) if top else tuple(nested)


def all_fields(form_groups: tuple[Group, ...]) -> list[Field]:
    return [f for group in form_groups for f in group.fields]


def values_of(document: Mapping[str, Any], form_groups: tuple[Group, ...]) -> dict[str, Any]:
    """A configuration document as the form's values (dotted names), defaults where absent."""
    values = {}
    for f in all_fields(form_groups):
        node: Any = document
        for part in f.name.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        values[f.name] = f.default if node is None else node
    return values


def posted_values(form: Mapping[str, str], form_groups: tuple[Group, ...]) -> dict[str, Any]:
    """What the operator posted, as typed. A checkbox is on when sent as "on" and off when absent;
    anything else is kept as typed, to be refused next to its field. Absent fields stay absent."""
    values: dict[str, Any] = {}
    for f in all_fields(form_groups):
        raw = form.get(f.name)
        if f.kind == "checkbox":
            values[f.name] = raw is not None if raw in (None, "on", "true") else raw
        elif raw is not None:
            values[f.name] = raw
    return values


def document_from(values: Mapping[str, Any], form_groups: tuple[Group, ...]) -> dict[str, Any]:
    """The nested configuration document of the form's values; converting types is left to the model,
    so that a wrong type is reported next to its field like any other mistake."""
    document: dict[str, Any] = {}
    for f in all_fields(form_groups):
        if f.name not in values:
            continue
        node = document
        *parents, leaf = f.name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = values[f.name]
    return document


class FieldProblems(ValueError):
    """Field name -> what is wrong with it, in words shown next to the field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


def problems_by_field(exc: ValidationError) -> dict[str, str]:
    """The first problem of each field, in plain words, keyed by the field's dotted name."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or SERVICE_LEVEL
        problems.setdefault(name, _words(error))
    return problems


def _words(error: dict) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_pattern_mismatch":
        return "contains characters that are not allowed here (see the hint)"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return "must be a number"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind.startswith("date_"):
        return "must be a date such as 2030-06-30"
    if kind in ("bool_parsing", "bool_type"):
        return "must be on or off"
    if kind in ("literal_error", "enum"):
        return "must be one of the choices offered"
    if kind == "extra_forbidden":
        return "is not a setting of this form"
    if kind == "string_type":
        return "must be text"
    return error["msg"].removeprefix("Value error, ")
