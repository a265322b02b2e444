"""The botocore service models as the specification of a response.

Two small recursive walks over an operation's output shape (from botocore's
``service-2.json``, loaded as plain JSON):

- :func:`validate` lists what in a response the model does not allow: a member the
  shape does not have, a JSON type the shape does not take, a value outside an enum;
- :func:`signature` reduces a response to its shape: each member path that is present
  (``services[].deployments[].rolloutState``) and the JSON types seen there, so two
  implementations' answers to the same request can be compared without their data.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from datetime import datetime

from botocore.loaders import Loader

# X-Amz-Target prefixes and botocore's names for the services ferry local serves over AWS
# JSON (ELBv2 speaks the Query protocol: no target header, XML answers).
SERVICES = {
    "ecs": "AmazonEC2ContainerServiceV20141113",
    "ecr": "AmazonEC2ContainerRegistry_V20150921",
    "application-autoscaling": "AnyScaleFrontendService",
    "cloudwatch": "GraniteServiceVersion20100801",
}

# Errors any operation can answer with, whatever its model lists: the protocol's own
# (bad JSON, unknown action, no credentials) and the common ones of the AWS JSON services.
COMMON_ERRORS = {
    "SerializationException",
    "UnknownOperationException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "ThrottlingException",
    "ValidationException",
    "AccessDeniedException",
    "InternalFailure",
    "ServiceUnavailable",
}

# The common errors of the Query protocol (ELBv2): AWS's "Common Errors" page for
# Query-based services, which any operation may answer with.
QUERY_COMMON_ERRORS = {
    "ValidationError",
    "InvalidAction",
    "MissingAction",
    "MissingParameter",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidQueryParameter",
    "MalformedQueryString",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "AccessDenied",
    "OptInRequired",
    "RequestExpired",
    "Throttling",
    "InternalFailure",
    "ServiceUnavailable",
}


def common_errors(service: str) -> set[str]:
    """The errors any operation of `service` may answer with, by its protocol.

    A service that spoke Query before JSON or CBOR (`awsQueryCompatible`: CloudWatch) answers
    the Query protocol's common errors over every protocol, and the model holds them as
    synthetic error shapes (`ValidationException` for `ValidationError`): any operation may
    answer with those, by shape name or by code."""
    errors = QUERY_COMMON_ERRORS if protocol(service) == "query" else set(COMMON_ERRORS)
    if "awsQueryCompatible" in model(service)["metadata"]:
        synthetic = {name: shape for name, shape in model(service)["shapes"].items() if shape.get("synthetic")}
        codes = {s["error"]["code"] for s in synthetic.values() if "error" in s}
        errors = errors | QUERY_COMMON_ERRORS | set(synthetic) | codes
    return errors


def protocol(service: str) -> str:
    return model(service)["metadata"]["protocol"]


@functools.lru_cache(maxsize=None)
def model(service: str) -> dict:
    """The service-2.json botocore ships for `service` (``ecs``, ``ecr``, ...)."""
    return Loader().load_service_model(service, "service-2")


def output_shape(service: str, operation: str) -> str | None:
    op = model(service)["operations"][operation]
    return op.get("output", {}).get("shape")


def operation_errors(service: str, operation: str) -> set[str]:
    """The errors the model lists for `operation`: their shape names and, where the shape
    says so, the code on the wire (ELBv2's `TargetGroupNotFoundException` is answered as
    `TargetGroupNotFound`)."""
    op = model(service)["operations"][operation]
    shapes_ = model(service)["shapes"]
    names = {e["shape"] for e in op.get("errors", [])}
    return names | {shapes_[n]["error"]["code"] for n in names if shapes_.get(n, {}).get("error", {}).get("code")}


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate(service: str, operation: str, body, *, timestamps: str = "number") -> list[str]:
    """What in `body` (a response of `operation`) the botocore model does not allow.

    `timestamps` is ``"number"`` for wire JSON (epoch seconds) and ``"any"`` for the aws
    CLI's output, which prints them as received or as ISO 8601 text (cli_timestamp_format).
    """
    problems: list[str] = []
    shape = output_shape(service, operation)
    if shape is None:
        if body not in ({}, None):
            problems.append(f"{operation} has no output shape but answered {body!r}")
        return problems
    _check(model(service)["shapes"], shape, body, "", problems, timestamps)
    return problems


def _check(shapes: dict, name: str, value, path: str, problems: list[str], timestamps: str) -> None:
    shape = shapes[name]
    kind = shape["type"]
    where = path or "<top>"

    def wrong(expected: str) -> None:
        problems.append(f"{where}: {json_type(value)} where the model has {kind} ({name}, {expected})")

    if value is None:
        # AWS leaves members without a value out; a null is not a value of any shape.
        problems.append(f"{where}: null where the model has {kind} ({name})")
        return
    if kind == "structure":
        if not isinstance(value, dict):
            return wrong("an object")
        members = shape.get("members", {})
        for key, item in value.items():
            if key not in members:
                problems.append(f"{_join(path, key)}: not a member of {name}")
                continue
            _check(shapes, members[key]["shape"], item, _join(path, key), problems, timestamps)
    elif kind == "list":
        if not isinstance(value, list):
            return wrong("an array")
        for i, item in enumerate(value):
            _check(shapes, shape["member"]["shape"], item, f"{path}[{i}]", problems, timestamps)
    elif kind == "map":
        if not isinstance(value, dict):
            return wrong("an object")
        for key, item in value.items():
            _check(shapes, shape["key"]["shape"], key, f"{path}{{key {key!r}}}", problems, timestamps)
            _check(shapes, shape["value"]["shape"], item, f"{path}{{{key}}}", problems, timestamps)
    elif kind == "string":
        if not isinstance(value, str):
            return wrong("a string")
        enum = shape.get("enum")
        if enum is not None and value not in enum:
            problems.append(f"{where}: {value!r} is not one of {name}'s values {enum}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return wrong("an integer")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return wrong("a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            return wrong("true or false")
    elif kind == "timestamp":
        allowed = (int, float) if timestamps == "number" else (int, float, str)
        if isinstance(value, bool) or not isinstance(value, allowed):
            return wrong("epoch seconds" if timestamps == "number" else "epoch seconds or ISO 8601 text")
    elif kind == "blob":
        if not isinstance(value, str):
            return wrong("base64 text")
    else:
        problems.append(f"{where}: the validator does not know shape type {kind!r} ({name})")


def signature(service: str, operation: str, body) -> dict[str, set[str]]:
    """Each member path present in `body` → the JSON types seen there.

    Lists add ``[]`` to the path and maps ``{}`` (a map's keys are data, not member names),
    so every element of a list contributes to the same paths. A list or map path appears
    with ``[]``/``{}`` only when it had elements.
    """
    out: dict[str, set[str]] = {}
    shapes = model(service)["shapes"]
    _walk(shapes, output_shape(service, operation), body, "", out)
    return out


def _walk(shapes: dict, name: str | None, value, path: str, out: dict[str, set[str]]) -> None:
    if path:
        out.setdefault(path, set()).add(json_type(value))
    shape = shapes.get(name) if name else None
    kind = shape["type"] if shape else None
    if isinstance(value, dict):
        if kind == "map":
            for item in value.values():
                _walk(shapes, shape["value"]["shape"], item, f"{path}{{}}", out)
        else:
            members = shape.get("members", {}) if kind == "structure" else {}
            for key, item in value.items():
                member = members.get(key, {}).get("shape")
                _walk(shapes, member, item, _join(path, key), out)
    elif isinstance(value, list):
        member = shape["member"]["shape"] if kind == "list" else None
        for item in value:
            _walk(shapes, member, item, f"{path}[]", out)


def parent(path: str) -> str:
    """The path a member path hangs from: ``a.b[].c`` → ``a.b[]``, ``a.b[]`` → ``a.b``."""
    if path.endswith("[]") or path.endswith("{}"):
        return path[:-2]
    cut = path.rfind(".")
    return path[:cut] if cut >= 0 else ""


def compare(ferry: dict[str, set[str]], moto: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Differences between two signatures, as (path, difference).

    A path one side has and the other lacks counts only where the other side has the
    path's parent (a member one side leaves out), not inside a list or map the other side
    answered empty (that is data, not shape); and only the topmost such path is reported.
    List and map element paths (``[]``, ``{}``) are never differences on their own.
    """
    diffs: list[tuple[str, str]] = []
    reported: list[str] = []
    for path in sorted(set(ferry) | set(moto)):
        if any(path.startswith(r + ".") or path.startswith(r + "[") or path.startswith(r + "{") for r in reported):
            continue
        in_ferry, in_moto = path in ferry, path in moto
        if in_ferry and in_moto:
            if ferry[path] != moto[path]:
                diffs.append((path, f"type: ferry {'/'.join(sorted(ferry[path]))}, moto {'/'.join(sorted(moto[path]))}"))
                reported.append(path)
            continue
        if path.endswith("[]") or path.endswith("{}"):
            continue
        other = moto if in_ferry else ferry
        up = parent(path)
        if up and up not in other:
            continue
        diffs.append((path, "ferry only" if in_ferry else "moto only"))
        reported.append(path)
    return diffs


def canonical(body) -> str:
    return json.dumps(body, sort_keys=True)


def owner(service: str, operation: str, path: str) -> str:
    """The model's name for the member at `path` of `operation`'s output: ``Shape.member``.

    ``services[].deployments[].rolloutState`` of DescribeServices → ``Deployment.rolloutState``,
    so a difference is named once for every operation that answers with that shape.
    """
    shapes_ = model(service)["shapes"]
    shape = output_shape(service, operation)
    parts = path.split(".")
    for i, part in enumerate(parts):
        name = part
        while name.endswith("[]") or name.endswith("{}"):
            name = name[:-2]
        suffix = part[len(name):]
        members = shapes_[shape].get("members", {})
        if i == len(parts) - 1 or name not in members:
            return f"{shape}.{part}" if name in members else f"{shape}.{part} (not in the model)"
        shape = members[name]["shape"]
        for j in range(0, len(suffix), 2):
            inner = shapes_[shape]
            shape = inner["member"]["shape"] if suffix[j] == "[" else inner["value"]["shape"]
    return f"{shape}.{path}"


# --- Smithy RPC v2 CBOR: answers decoded by botocore's own CBOR reader --------------------


def from_cbor(raw: bytes):
    """A CBOR answer as the JSON-like value the rest of this module reads: botocore's CBOR
    decoder (`RpcV2CBORParser`), timestamps (tag 1) kept as the epoch seconds they hold, byte
    strings as base64 text (as JSON carries blobs). Anything that does not decode is returned as
    text with ``"<not CBOR>"`` in front, so that the validator reports it."""
    import base64

    from botocore.parsers import RpcV2CBORParser

    try:
        value = RpcV2CBORParser(timestamp_parser=lambda seconds: seconds)._initial_body_parse(raw)
    except Exception as e:  # noqa: BLE001 -- any decoding failure is the finding itself
        return f"<not CBOR> {e}: {raw[:100]!r}"

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, (bytes, bytearray)):
            return base64.b64encode(v).decode()
        return v

    return plain(value)


# --- the Query protocol: XML answers read by the model ---------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _epoch(text: str):
    """ISO 8601 text (as Query services answer timestamps) → epoch seconds; the text as it
    is when it is not a timestamp (so that the validator reports it)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return text


def _scalar(kind: str, text: str):
    text = text or ""
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind == "timestamp":
        return _epoch(text)
    return text


def _untyped(element):
    """An element the model does not describe, kept so that the validator can name it."""
    children = list(element)
    if not children:
        return element.text or ""
    return {_local(c.tag): _untyped(c) for c in children}


def _from_xml(shapes_: dict, name: str, element):
    shape = shapes_[name]
    kind = shape["type"]
    children = list(element)
    if kind == "structure":
        if not children and (element.text or "").strip():
            return element.text  # text where an object belongs: the validator says so
        out = {}
        members = shape.get("members", {})
        by_wire = {m.get("locationName", key): key for key, m in members.items()}
        for child in children:
            tag = _local(child.tag)
            key = by_wire.get(tag)
            if key is None:
                out[tag] = _untyped(child)
            else:
                out[key] = _from_xml(shapes_, members[key]["shape"], child)
        return out
    if kind == "list":
        member = shape["member"]
        wire = member.get("locationName", "member")
        if not children and (element.text or "").strip():
            return element.text
        return [
            _from_xml(shapes_, member["shape"], c) if _local(c.tag) == wire else {f"<{_local(c.tag)}>": _untyped(c)}
            for c in children
        ]
    if kind == "map":
        out = {}
        for entry in children:
            parts = {_local(c.tag): c for c in entry}
            key = (parts["key"].text or "") if "key" in parts else ""
            out[key] = _from_xml(shapes_, shape["value"]["shape"], parts["value"]) if "value" in parts else None
        return out
    if children:
        return _untyped(element)  # an object where a scalar belongs
    return _scalar(kind, element.text)


def from_query_xml(service: str, operation: str, raw: bytes | str):
    """A Query-protocol answer (XML) as the JSON-like value the rest of this module reads.

    A result becomes the output shape's members, typed by the model: integers, booleans,
    timestamps (as epoch seconds), lists of ``<member>``, maps of ``<entry>``. An element
    the model lacks is kept under its own name, so :func:`validate` reports it; a value
    that does not parse as the model's type is kept as text, so it is reported too. An error
    (``<ErrorResponse><Error><Code>``) becomes ``{"__type": code, "message": ..., "Type": ...}``,
    as AWS JSON errors read. Anything else (not XML, another root) is returned as text with
    ``"<not a Query answer>"`` in front.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return f"<not a Query answer> {text[:300]}"
    tag = _local(root.tag)
    if tag == "ErrorResponse":
        error = next((c for c in root if _local(c.tag) == "Error"), None)
        if error is None:
            return f"<not a Query answer> {text[:300]}"
        fields = {_local(c.tag): (c.text or "") for c in error}
        out = {"__type": fields.get("Code", ""), "message": fields.get("Message", "")}
        if "Type" in fields:
            out["Type"] = fields["Type"]
        request_id = next((c.text for c in root if _local(c.tag) == "RequestId"), None)
        if request_id is not None:
            out["RequestId"] = request_id
        return out
    if tag != f"{operation}Response":
        return f"<not a Query answer> root <{tag}> for {operation}: {text[:300]}"
    op = model(service)["operations"][operation]
    out_spec = op.get("output")
    if not out_spec:
        extra = [_local(c.tag) for c in root if _local(c.tag) != "ResponseMetadata"]
        return {f"<{t}>": "" for t in extra}
    wrapper = out_spec.get("resultWrapper", f"{operation}Result")
    result = next((c for c in root if _local(c.tag) == wrapper), None)
    if result is None:
        return {f"<no {wrapper}>": ""}
    return _from_xml(model(service)["shapes"], out_spec["shape"], result)


def differences_table(expected) -> str:
    """The markdown table docs/conformance.md holds for a moto comparison's EXPECTED
    differences: (member, difference, side that follows AWS, why) per row."""
    lines = ["| member | difference | follows AWS | why |", "| --- | --- | --- | --- |"]
    for where, diff, follows, why in expected:
        lines.append(f"| `{where}` | {diff} | {follows} | {why} |")
    return "\n".join(lines)
