"""Markdown API reference generated from the app's own OpenAPI document.

Nothing here is written by hand per endpoint: add a route and it appears, with its auth,
scope, parameters, body fields and the error codes the platform uses.
"""

from __future__ import annotations

from typing import Any

from tradeforge.api.errors import ERROR_CODES

_METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec.get("components", {}).get("schemas", {}).get(name, {})
        seen += 1
    return schema


def _type_of(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        parts = [_type_of(part, spec) for part in schema["anyOf"]]
        return " | ".join(part for part in parts if part)
    if "enum" in schema:
        return " | ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}), spec)}"
    return str(schema.get("type", "any"))


def _constraints(schema: dict[str, Any]) -> str:
    notes = []
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("pattern", "pattern"),
    ):
        if key in schema:
            notes.append(f"{label} {schema[key]}")
    for part in schema.get("anyOf", []):
        notes.extend(_constraints(part).split("; ") if _constraints(part) else [])
    return "; ".join(notes)


def _fields_table(schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    schema = _resolve(schema, spec)
    properties = schema.get("properties", {})
    if not properties:
        return []
    required = set(schema.get("required", []))
    lines = ["| field | type | required | notes |", "|---|---|---|---|"]
    for name, prop in properties.items():
        notes = " ".join(filter(None, [prop.get("description", ""), _constraints(prop)]))
        default = prop.get("default")
        if default not in (None, [], {}):
            notes = f"{notes} (default `{default}`)".strip()
        lines.append(
            f"| `{name}` | {_type_of(prop, spec)} | {'yes' if name in required else 'no'} "
            f"| {notes.replace('|', '/')} |"
        )
    return lines


def api_reference_markdown(spec: dict[str, Any]) -> str:
    """Render the OpenAPI document ``spec`` as a readable markdown reference."""
    out = [
        f"# {spec.get('info', {}).get('title', 'API')} API reference",
        "",
        f"Version {spec.get('info', {}).get('version', '?')}. Base path `/api/v1`. "
        "Every response is an envelope: `{success, data, error: {code, message, suggestion}, "
        "meta: {timestamp, request_id}}`. Authenticate with `Authorization: Bearer <API_KEY>`.",
        "",
        "Retries: send `Idempotency-Key: <unique id>` with `POST /backtest/execute`, "
        "`/arena/posts`, `/arena/posts/{id}/comments`, `/arena/posts/{id}/votes` and "
        "`/arena/strategies/register`. The first successful response is stored for 24 hours "
        "and replayed verbatim (header `Idempotent-Replayed: true`; its `meta.request_id` "
        "names the original request). Reusing the key with a different request is 422 "
        "`IDEMPOTENCY_KEY_REUSED`; retrying while the first still runs is 409 "
        "`IDEMPOTENCY_IN_PROGRESS`. Errors are not stored, so a failed request can be retried.",
        "",
        "## Endpoints",
        "",
    ]
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            auth = operation.get("x-auth", "none")
            scope = operation.get("x-required-scope")
            auth_text = {
                "none": "none",
                "api_key": f"API key{f' with scope `{scope}`' if scope else ''}",
                "user_session": "logged-in user (session token)",
            }.get(auth, auth)
            out += [f"### {method.upper()} `{path}`", ""]
            if operation.get("summary"):
                out += [f"**{operation['summary']}.** Auth: {auth_text}.", ""]
            if operation.get("description"):
                out += [operation["description"].strip(), ""]
            params = operation.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required | notes |", "|---|---|---|---|---|"]
                for param in params:
                    schema = param.get("schema", {})
                    notes = " ".join(
                        filter(None, [param.get("description", ""), _constraints(schema)])
                    )
                    out.append(
                        f"| `{param['name']}` | {param['in']} | {_type_of(schema, spec)} | "
                        f"{'yes' if param.get('required') else 'no'} | {notes} |"
                    )
                out.append("")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                table = _fields_table(body.get("schema", {}), spec)
                if table:
                    out += ["Request body:", "", *table, ""]
    out += ["## Error codes", "", "| code | HTTP | meaning |", "|---|---|---|"]
    for code, (status, meaning) in sorted(ERROR_CODES.items(), key=lambda kv: (kv[1][0], kv[0])):
        out.append(f"| `{code}` | {status} | {meaning} |")
    out.append("")
    return "\n".join(out)
