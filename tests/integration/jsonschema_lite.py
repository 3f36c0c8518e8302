"""jsonschema_lite: a small JSON Schema (draft 2020-12) validator, standard
library only, for the keywords the schemas in docs/schemas/ use.

    from jsonschema_lite import load_schema, validate, errors

    schema = load_schema("docs/schemas/enrollment-result.v1.schema.json")
    validate(instance, schema)          # raises ValidationError
    for e in errors(instance, schema):  # or lists every problem
        print(e)

Supported: boolean schemas; type (with "integer" as JSON numbers with no
fraction, and bool never a number); enum and const (JSON equality: 1 == 1.0,
true != 1); properties, required, additionalProperties; items; minLength and
maxLength (in code points); pattern (ECMA-262 as Python re: ASCII classes, `$`
only at the very end); minimum and maximum; allOf, anyOf, oneOf, not;
format "date-time" (RFC 3339 section 5.6, with a real date) and "date",
asserted rather than annotated; $ref to "#", "#/$defs/NAME" or any local JSON
pointer; and the annotations $schema, $id, $comment, title, description,
examples, default, deprecated, readOnly, writeOnly.

Any other keyword is an error (SchemaError), found by check_schema() even in
branches an instance never reaches: a schema never silently uses more than
this validator checks.
"""

import json
import re

__all__ = ["SchemaError", "ValidationError", "load_schema", "check_schema",
           "errors", "validate", "is_valid", "json_equal"]

ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description",
               "examples", "default", "deprecated", "readOnly", "writeOnly"}
KEYWORDS = ANNOTATIONS | {
    "type", "enum", "const", "properties", "required", "additionalProperties",
    "items", "minLength", "maxLength", "pattern", "minimum", "maximum",
    "allOf", "anyOf", "oneOf", "not", "format", "$ref"}
TYPES = {"null", "boolean", "object", "array", "number", "integer", "string"}
FORMATS = {"date-time", "date"}


class SchemaError(Exception):
    """The schema uses something this validator does not support, or is malformed."""


class ValidationError(Exception):
    """The instance does not conform; .errors lists every problem."""

    def __init__(self, errs):
        super().__init__("; ".join(errs))
        self.errors = errs


def load_schema(path):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    check_schema(schema)
    return schema


# --- the schema itself -----------------------------------------------------

def _subschemas(schema):
    """(keyword path, subschema) for every subschema directly inside."""
    for kw in ("additionalProperties", "items", "not"):
        if kw in schema:
            yield kw, schema[kw]
    for kw in ("properties", "$defs"):
        for name, sub in schema.get(kw, {}).items():
            yield f"{kw}/{name}", sub
    for kw in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(kw, [])):
            yield f"{kw}/{i}", sub


def check_schema(schema, root=None, where="#"):
    """Raises SchemaError for an unknown keyword, type or format, a bad
    pattern or an unresolvable $ref anywhere in the schema."""
    root = schema if root is None else root
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: a schema is an object or a boolean")
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise SchemaError(f"{where}: unsupported keyword(s) {sorted(unknown)}")
    types = schema.get("type")
    if types is not None:
        for t in types if isinstance(types, list) else [types]:
            if t not in TYPES:
                raise SchemaError(f"{where}: unknown type {t!r}")
    if "format" in schema and schema["format"] not in FORMATS:
        raise SchemaError(f"{where}: unsupported format {schema['format']!r}")
    if "pattern" in schema:
        try:
            _regex(schema["pattern"])
        except re.error as e:
            raise SchemaError(f"{where}: bad pattern: {e}") from None
    for kw in ("allOf", "anyOf", "oneOf"):
        if kw in schema and (not isinstance(schema[kw], list) or not schema[kw]):
            raise SchemaError(f"{where}: {kw} must be a non-empty array")
    if "required" in schema and not all(isinstance(r, str) for r in schema["required"]):
        raise SchemaError(f"{where}: required must list names")
    if "$ref" in schema:
        _resolve(root, schema["$ref"])
    for kw, sub in _subschemas(schema):
        check_schema(sub, root, f"{where}/{kw}")


def _resolve(root, ref):
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise SchemaError(f"$ref {ref!r}: only local references are supported")
    node = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise SchemaError(f"$ref {ref!r} does not resolve")
        node = node[part]
    return node


_regex_cache = {}


def _regex(pattern):
    """An ECMA-262 pattern as a Python regex: `$` outside a class means the
    very end of the string (Python's would also match before a final
    newline), and classes such as \\d and \\w are ASCII only."""
    if pattern not in _regex_cache:
        out, i, in_class = [], 0, False
        while i < len(pattern):
            c = pattern[i]
            if c == "\\":
                out.append(pattern[i:i + 2])
                i += 2
                continue
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "$" and not in_class:
                c = r"\Z"
            out.append(c)
            i += 1
        _regex_cache[pattern] = re.compile("".join(out), re.ASCII)
    return _regex_cache[pattern]


# --- instances ---------------------------------------------------------------

def _type_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    raise TypeError(f"not a JSON value: {type(v).__name__}")


def _is_type(v, t):
    actual = _type_of(v)
    if t == "integer":
        return actual == "number" and (isinstance(v, int) or float(v).is_integer())
    return actual == t


def json_equal(a, b):
    """Equality of JSON values: numbers by value, booleans apart from numbers."""
    ta, tb = _type_of(a), _type_of(b)
    if ta != tb:
        return False
    if ta == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if ta == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


_DATE = r"(\d{4})-(\d{2})-(\d{2})"
_DATE_RE = re.compile(_DATE + r"\Z", re.ASCII)
_DATE_TIME_RE = re.compile(
    _DATE + r"[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))\Z", re.ASCII)


def _real_date(y, m, d):
    y, m, d = int(y), int(m), int(d)
    if not 1 <= m <= 12 or d < 1:
        return False
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return d <= days[m - 1]


def _format_ok(fmt, s):
    if fmt == "date":
        m = _DATE_RE.match(s)
        return bool(m) and _real_date(*m.groups())
    m = _DATE_TIME_RE.match(s)
    if not m:
        return False
    y, mo, d, hh, mm, ss, _, _, oh, om = m.groups()
    return (_real_date(y, mo, d) and int(hh) <= 23 and int(mm) <= 59 and int(ss) <= 60
            and (oh is None or (int(oh) <= 23 and int(om) <= 59)))


def _ptr(path):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) \
        if path else "(root)"


def _errors(v, schema, root, path):
    if schema is True:
        return []
    if schema is False:
        return [f"{_ptr(path)}: not allowed here"]
    out = []
    where = _ptr(path)

    if "$ref" in schema:
        out += _errors(v, _resolve(root, schema["$ref"]), root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(v, t) for t in types):
            out.append(f"{where}: {json.dumps(v)[:80]} is not of type {'/'.join(types)}")
            return out  # the rest would only repeat it
    if "const" in schema and not json_equal(v, schema["const"]):
        out.append(f"{where}: {json.dumps(v)[:80]} is not {json.dumps(schema['const'])}")
    if "enum" in schema and not any(json_equal(v, e) for e in schema["enum"]):
        out.append(f"{where}: {json.dumps(v)[:80]} is not one of "
                   f"{json.dumps(schema['enum'])[:200]}")

    if isinstance(v, str):
        n = len(v)  # code points
        if "minLength" in schema and n < schema["minLength"]:
            out.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and n > schema["maxLength"]:
            out.append(f"{where}: longer than {schema['maxLength']} characters ({n})")
        if "pattern" in schema and not _regex(schema["pattern"]).search(v):
            out.append(f"{where}: {json.dumps(v)[:80]} does not match "
                       f"{schema['pattern']}")
        if "format" in schema and not _format_ok(schema["format"], v):
            out.append(f"{where}: {json.dumps(v)[:80]} is not a {schema['format']}")

    if _type_of(v) == "number":
        if "minimum" in schema and v < schema["minimum"]:
            out.append(f"{where}: {v} is less than {schema['minimum']}")
        if "maximum" in schema and v > schema["maximum"]:
            out.append(f"{where}: {v} is greater than {schema['maximum']}")

    if isinstance(v, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in v:
                out.append(f"{where}: required property {name!r} is missing")
        for name, value in v.items():
            if name in props:
                out += _errors(value, props[name], root, path + [name])
            elif "additionalProperties" in schema:
                sub = schema["additionalProperties"]
                if sub is False:
                    out.append(f"{_ptr(path + [name])}: property not allowed")
                else:
                    out += _errors(value, sub, root, path + [name])

    if isinstance(v, list) and "items" in schema:
        for i, item in enumerate(v):
            out += _errors(item, schema["items"], root, path + [i])

    for sub in schema.get("allOf", []):
        out += _errors(v, sub, root, path)
    if "anyOf" in schema:
        branches = [_errors(v, sub, root, path) for sub in schema["anyOf"]]
        if all(branches):
            out.append(f"{where}: matches none of anyOf: " +
                       " | ".join("; ".join(b[:2]) for b in branches))
    if "oneOf" in schema:
        branches = [_errors(v, sub, root, path) for sub in schema["oneOf"]]
        matched = sum(1 for b in branches if not b)
        if matched == 0:
            out.append(f"{where}: matches none of oneOf: " +
                       " | ".join("; ".join(b[:2]) for b in branches))
        elif matched > 1:
            out.append(f"{where}: matches {matched} branches of oneOf, not exactly one")
    if "not" in schema and not _errors(v, schema["not"], root, path):
        out.append(f"{where}: matches a schema it must not")
    return out


def errors(instance, schema):
    """Every way instance fails schema, as 'JSON pointer: problem' lines
    (empty when it conforms)."""
    return _errors(instance, schema, schema, [])


def is_valid(instance, schema):
    return not errors(instance, schema)


def validate(instance, schema):
    errs = errors(instance, schema)
    if errs:
        raise ValidationError(errs)


def _self_test():
    s = {"type": "object", "required": ["a"], "additionalProperties": False,
         "properties": {"a": {"type": ["string", "null"], "pattern": "^[0-9]{2}$"},
                        "n": {"type": "integer", "minimum": 0},
                        "t": {"format": "date-time"}, "b": {"const": True}},
         "oneOf": [{"properties": {"a": {"type": "null"}}},
                   {"properties": {"a": {"type": "string"}}}]}
    check_schema(s)
    assert is_valid({"a": "12", "n": 3, "t": "2025-01-06T08:15:00+08:00", "b": True}, s)
    assert is_valid({"a": None, "n": 3.0}, s)
    for bad in ({"a": "12\n"}, {"a": "1"}, {"a": "١٢"}, {}, {"a": "12", "x": 1},
                {"a": "12", "n": -1}, {"a": "12", "n": 1.5}, {"a": "12", "n": True},
                {"a": "12", "b": 1}, {"a": "12", "t": "2025-02-30T00:00:00Z"},
                {"a": "12", "t": "2025-01-06 08:15:00Z"}):
        assert not is_valid(bad, s), bad
    try:
        check_schema({"type": "object", "patternProperties": {}})
    except SchemaError:
        pass
    else:
        raise AssertionError("an unknown keyword must be refused")


if __name__ == "__main__":
    _self_test()
    print("jsonschema_lite: self-test passed")
