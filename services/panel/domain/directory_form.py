"""The form for an operator's own LDAP directory: DirectoryParameters' fields (generated like the
configuration form, labels in words, the descriptions as help), the bind password, and the group
mapping as lines of text, `group: service=role, ...`. What was typed becomes parameters, or a
problem per field. No I/O."""

from collections.abc import Mapping
from dataclasses import replace
from typing import get_args

from pydantic import ValidationError

from contracts.configuration import SERVICES
from contracts.directory import DirectoryParameters, DirectoryProblemKind, Role

from .form import Field, FieldProblems, groups, problems_by_field

PASSWORD = "bind_password"
MAPPING = "mapping"
ROLES = get_args(Role)
SCHEMES = ("ldap://", "ldaps://")
LABELS = {
    "url": "Directory URL",
    "bind_dn": "Bind DN",
    "base_dn": "Base DN",
    "user_filter": "User filter",
    "group_filter": "Group filter",
    "uid_attribute": "Login name attribute",
    MAPPING: "Your groups and their roles",
}
PASSWORD_FIELD = Field(
    name=PASSWORD,
    label="Bind password",
    help="The bind DN's password. It goes to identity only, which keeps it encrypted; it is never shown again, "
    "so type it each time you check or connect.",
    kind="password",
    required=True,
)
MAPPING_HELP = "One line per group: its cn or DN, a colon, then service=role pairs separated by commas; roles are admins, moderators or users."
PROBLEM_FIELDS: dict[DirectoryProblemKind, str] = {
    "unreachable": "url",
    "bad_credentials": PASSWORD,
    "no_base": "base_dn",
    "unknown_group": MAPPING,
}
"""Where identity's reason is shown besides the summary, when the problem is about one field."""


def mapping_text(mapping: Mapping[str, Mapping[str, str]]) -> str:
    return "\n".join(f"{group}: " + ", ".join(f"{service}={role}" for service, role in roles.items()) for group, roles in mapping.items())


def _fields() -> tuple[Field, ...]:
    shown: list[Field] = []
    for generated in groups(DirectoryParameters.model_json_schema())[0].fields:
        one = replace(generated, label=LABELS.get(generated.name, generated.label))
        if one.name == MAPPING:
            example = DirectoryParameters.model_fields[MAPPING].examples[0]
            one = replace(one, kind="textarea", help=f"{one.help} {MAPPING_HELP}", example=mapping_text(example), default="")
        shown.append(one)
        if one.name == "bind_dn":
            shown.append(PASSWORD_FIELD)
    return tuple(shown)


FIELDS = _fields()
PARAMETERS = tuple(f.name for f in FIELDS if f.name != PASSWORD)


def values_of(parameters: DirectoryParameters | None) -> dict[str, str]:
    """The form's values: the parameters kept (never a password), or the defaults."""
    if parameters is None:
        return {f.name: "" if f.default is None else str(f.default) for f in FIELDS if f.name != PASSWORD}
    document = parameters.model_dump()
    return {name: mapping_text(document[name]) if name == MAPPING else str(document[name]) for name in PARAMETERS}


def parse_mapping(text: str) -> dict[str, dict[str, str]]:
    """`staff: mastodon=moderators, pixelfed=users` lines as a mapping; ValueError says which line is wrong."""
    mapping: dict[str, dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, colon, pairs = (part.strip() for part in line.rpartition(":"))
        if not colon or not group:
            raise ValueError(f"line {number}: write the group, a colon, then service=role pairs, e.g. staff: mastodon=moderators")
        if group in mapping:
            raise ValueError(f"line {number}: {group} is mapped twice; put all its services on one line")
        roles: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in pairs.split(","))):
            service, equals, role = (part.strip() for part in pair.partition("="))
            if not equals or not service:
                raise ValueError(f'line {number}: "{pair}" is not service=role, e.g. mastodon=moderators')
            if role not in ROLES:
                raise ValueError(f'line {number}: "{role}" is not a role; choose admins, moderators or users')
            if service in roles:
                raise ValueError(f"line {number}: {service} is given twice for {group}")
            roles[service] = role
        if not roles:
            raise ValueError(f"line {number}: {group} has no service=role after its colon")
        mapping[group] = roles
    return mapping


def refused(url: str, mapping: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """What the model allows but no operator's directory can be: field name -> why."""
    problems = {}
    if not url.startswith(SCHEMES):
        problems["url"] = "must start with ldap:// or ldaps://"
    unknown = sorted({service for roles in mapping.values() for service in roles} - set(SERVICES))
    if unknown:
        problems[MAPPING] = f"{', '.join(unknown)}: not a service here; choose from {', '.join(SERVICES)}"
    return problems


def parameters_from(typed: Mapping[str, str]) -> tuple[DirectoryParameters, str]:
    """The parameters and the bind password typed in the form; raises FieldProblems keyed by field.
    An optional field left empty takes its default."""
    document: dict = {name: typed[name].strip() for name in PARAMETERS if name != MAPPING and typed.get(name, "").strip()}
    problems: dict[str, str] = {}
    try:
        document[MAPPING] = parse_mapping(typed.get(MAPPING, ""))
    except ValueError as exc:
        problems[MAPPING] = str(exc)
    problems = refused(document.get("url", ""), document.get(MAPPING, {})) | problems
    if not typed.get(PASSWORD):
        problems[PASSWORD] = "is required: type it again each time, it is never kept here"
    try:
        parameters = DirectoryParameters.model_validate(document)
    except ValidationError as exc:
        problems |= problems_by_field(exc)
    if problems:
        raise FieldProblems(problems)
    return parameters, typed[PASSWORD]
