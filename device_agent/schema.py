"""The manifest and result schemas (`schemas/*.schema.json`), checked with the standard library alone.

Covers the JSON Schema keywords those two files use (type, required, properties, items, const, enum, minimum,
maximum, exclusiveMinimum, minItems, maxItems, minLength, pattern, $ref to #/$defs); the host validates the
same files with jsonschema. A violation is one AgentError naming the field, e.g. `artifacts[1].sha256`.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Dict

from device_agent.errors import AgentError
from device_agent.formats import FORMATS

RESULT_KIND = "edgebench.result"  # a result document's `kind` (a manifest's is bundle.MANIFEST_KIND)
SCHEMA_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
}
_cache: Dict[str, Dict] = {}


def load_schema(name: str) -> Dict:
    """Schema `name` as host and agent validate with it: the file, with the format enums from the contract table
    (`device_agent/formats.py`), so a new format is one row there."""
    if name not in _cache:
        with open(os.path.join(SCHEMA_FOLDER, f"{name}.schema.json"), encoding="utf-8") as handle:
            schema = json.load(handle)
        definitions = schema.get("$defs", {})
        if "format" in definitions:
            definitions["format"]["enum"] = list(FORMATS)
        if "run_format" in definitions:
            definitions["run_format"]["enum"] = [*FORMATS, "unknown"]
        _cache[name] = schema
    return _cache[name]


def validate(document: Any, name: str, source: str) -> None:
    """Raise AgentError `SOURCE: FIELD ...` at the first value that breaks schema `name`."""
    schema = load_schema(name)
    problem = _check(document, schema, schema, "")
    if problem:
        raise AgentError(f"{source}: {problem}")


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return "a non-finite number" if isinstance(value, float) else type(value).__name__


def _check(value: Any, schema: Dict, root: Dict, where: str) -> str:
    field = where or "the document"
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _check(value, target, root, where)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_TYPES[name](value) for name in names):
            return f"{field} must be {' or '.join(names)}, not {_kind(value)} {_show(value)}"
    if "const" in schema and value != schema["const"]:
        return f"{field} must be {_show(schema['const'])}, not {_show(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{field} is {_show(value)}; valid: {', '.join(_show(v) for v in schema['enum'])}"
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{field} is {_show(value)}; it must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{field} is {_show(value)}; it must be at most {schema['maximum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{field} is {_show(value)}; it must be greater than {schema['exclusiveMinimum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{field} must not be empty"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{field} is {_show(value)}; it must match {schema['pattern']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{field} holds {len(value)} item(s); it needs at least {schema['minItems']}"
        if len(value) > schema.get("maxItems", len(value)):
            return f"{field} holds {len(value)} item(s); at most {schema['maxItems']} are allowed"
        if "items" in schema:
            for index, item in enumerate(value):
                problem = _check(item, schema["items"], root, f"{where}[{index}]")
                if problem:
                    return problem
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{where + '.' if where else ''}{key} is missing"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problem = _check(value[key], sub, root, f"{where}.{key}" if where else key)
                if problem:
                    return problem
    return ""
