"""YAML as the Pulumi CLI reads `Pulumi.yaml` and `Pulumi.<stack>.yaml`: gopkg.in/yaml.v3's rules.

The CLI decodes both files with gopkg.in/yaml.v3 (pulumi/pulumi
sdk/go/common/encoding/marshal.go), which follows YAML 1.2 where PyYAML follows 1.1:
`yes`, `on` and `off` are text, not booleans; `0x1F`, `0o17` and `1_000` are integers;
`08` is the float 8. What a value resolves to decides what the program receives
(`createNamespace: yes` is the text "yes", which the CLI's type check refuses), so
this module composes the file with PyYAML (syntax only) and resolves every plain
scalar as yaml.v3's `resolve` (resolve.go) does. Like yaml.v3's decoder (decode.go)
it refuses a key given twice in one mapping and applies merge keys (`<<`), and, as
the CLI does after decoding (`SimplifyMarshalledValue`, sdk/go/common/workspace/
project.go), a key that is not text. Bounded: a file of a pull request must not cost
the check more than a fraction of a second, so size, depth and what aliases expand to
are capped (the bounds are ours; yaml.v3 has its own alias-ratio guard).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 1024 * 1024
"""A stack file is a few KB; past this, something generated it wrong."""
MAX_DEPTH = 100
MAX_NODES = 100_000
"""Keys and values once aliases and merge keys are expanded."""

_PLAIN = "!plain"
"""The tag a plain (unquoted) scalar gets here, resolved later by yaml.v3's rules."""
_TAG = "tag:yaml.org,2002:"
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_FIXED = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_LOOKED_UP = set("+-0123456789yYnNtTfFoO~.")
"""First characters for which yaml.v3 looks a plain scalar up at all (its resolveTable)."""


class YamlFileError(ValueError):
    """The file cannot be read as the CLI would read it; the message says why and where."""


def load(text: str) -> Any:
    """The document in `text`, as yaml.v3 decodes it into Go's `any` and the CLI
    simplifies it (text keys only). A timestamp is the text Go's `time.Time.String()`
    gives, which is what the CLI passes a program for one (`unmarshalObject`,
    sdk/go/common/resource/config/object.go). Raises YamlFileError."""
    text = text.removeprefix("\ufeff")  # readFileStripUTF8BOM
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlFileError(f"is larger than {MAX_FILE_BYTES} bytes; a Pulumi file is a few KB")
    try:
        root = yaml.compose(text, Loader=_Composer)  # composes nodes; constructs nothing
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise YamlFileError(f"is not valid YAML{at}: {getattr(error, 'problem', None) or error}") from None
    except RecursionError:
        raise YamlFileError(f"is nested more than {MAX_DEPTH} levels deep") from None
    if root is None:
        return None
    _check_size(root)
    return _value(root)


class _Composer(yaml.SafeLoader):
    """PyYAML's parser and composer, with every plain scalar left for `_plain` and the
    nesting bounded while it parses."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._levels = 0

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _TAG + "str"
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self._levels += nested
        if self._levels > MAX_DEPTH:
            raise YamlFileError(f"is nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._levels -= nested


def _check_size(root: Node) -> None:
    """Refuse a document whose aliases and merge keys expand past MAX_NODES nodes or
    MAX_DEPTH levels, or whose alias contains itself; each node is measured once."""
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def measure(node: Node) -> tuple[int, int]:
        if isinstance(node, ScalarNode):
            return 1, 0
        if id(node) in open_nodes:
            raise YamlFileError("has a YAML alias that contains itself")
        if id(node) not in measured:
            open_nodes.add(id(node))
            children = (
                node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
            )
            count, depth = 1, 0
            for child in children:
                n, d = measure(child)
                count, depth = count + n, max(depth, d + 1)
                if count > MAX_NODES or depth > MAX_DEPTH:
                    raise YamlFileError(
                        f"expands, with its YAML aliases and merge keys, past {MAX_NODES} keys and values "
                        f"or {MAX_DEPTH} levels"
                    )
            open_nodes.discard(id(node))
            measured[id(node)] = count, depth
        return measured[id(node)]

    measure(root)


def _value(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        return [_value(child) for child in node.value]
    assert isinstance(node, MappingNode)
    result: dict[str, Any] = {}
    lines: dict[str, int] = {}
    merge: Node | None = None
    for key_node, value_node in node.value:
        if _is_merge(key_node):
            merge = value_node  # yaml.v3 keeps the last `<<` of a mapping
            continue
        key = _value(key_node)
        if not isinstance(key, str):  # SimplifyMarshalledValue's error
            raise YamlFileError(f"line {_line(key_node)}: expected only string keys, got '{_go_text(key)}'")
        if key in lines:
            raise YamlFileError(
                f'line {_line(key_node)}: mapping key "{key}" already defined at line {lines[key]}'
            )
        lines[key] = _line(key_node)
        result[key] = _value(value_node)
    if merge is not None:  # explicit keys win; of several merged mappings, the first
        for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
            if not isinstance(source, MappingNode):
                raise YamlFileError(
                    f"line {_line(source)}: map merge requires map or sequence of maps as the value"
                )
            for key, value in _value(source).items():
                result.setdefault(key, value)
    return result


def _is_merge(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.value == "<<" and node.tag in (_PLAIN, _TAG + "merge")


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _PLAIN:
        return plain_scalar(text)
    if tag == _TAG + "binary":
        try:
            return base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise YamlFileError(f"line {_line(node)}: !!binary value contains invalid base64 data") from None
    value = plain_scalar(text)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {"int": number and not isinstance(value, float), "float": number, "bool": isinstance(value, bool)}
    fits["null"] = value is None
    kind = tag.removeprefix(_TAG)
    if kind not in fits:
        return text  # !!str, quoted, block, or a tag yaml.v3 does not resolve: the text
    if fits[kind]:
        return float(value) if kind == "float" else value
    raise YamlFileError(f"line {_line(node)}: cannot decode `{text}` as a {kind}")


def plain_scalar(text: str) -> Any:
    """What yaml.v3's `resolve` makes of an unquoted scalar: None, bool, int, float, or
    the text (a timestamp as Go prints it)."""
    if text and text[0] not in _LOOKED_UP:
        return text
    if text in _FIXED:
        return _FIXED[text]
    if text[0] == ".":
        return _go_float(text) if _YAML_STYLE_FLOAT.fullmatch(text) else text
    if text[0] in "+-0123456789":
        stamp = _timestamp(text)
        if stamp is not None:
            return stamp
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return number
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            value = _go_float(plain)
            if isinstance(value, float):
                return value
    return text


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), else ParseUint: None if neither takes it."""
    match = _GO_INT.fullmatch(text)
    if not match:
        return None
    sign, body = match.groups()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(body[:2].lower())
    value = int(body[2:], base) if base else int(body, 8 if body[0] == "0" else 10)
    value = -value if sign == "-" else value
    if -(2**63) <= value < 2**63 or (not sign and value < 2**64):
        return value
    return None


def _go_float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text  # ParseFloat's range error: yaml.v3 keeps the text


def _timestamp(text: str) -> str | None:
    """A plain scalar yaml.v3 reads as a timestamp (its four formats), as Go's
    `time.Time.String()` prints it; None if it is not one."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return None
    year, month, day, sep, hour, minute, second, fraction, zone = match.groups()
    if sep is not None and sep in "Tt" and zone is None:
        return None  # the "T" formats need a zone; the space one takes none
    if sep == " " and zone is not None:
        return None
    try:
        offset = timedelta(0)
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        when = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC if not offset else timezone(offset),
        )
    except ValueError:
        return None
    nanos = (fraction or "").ljust(9, "0").rstrip("0")
    clock = when.strftime("%Y-%m-%d %H:%M:%S") + (f".{nanos}" if nanos else "")
    numeric = when.strftime("%z")
    return f"{clock} {numeric} {'UTC' if not offset else numeric}"


def _go_text(value: Any) -> str:
    """How Go's fmt prints a decoded scalar (`%v`)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float_text(value, json=False)
    return str(value)


def go_float_text(value: float, *, json: bool = True) -> str:
    """A finite float as Go's encoding/json writes it (`floatEncoder`: plain between
    1e-6 and 1e21, else an exponent, `e-07` cut to `e-7`), or as fmt's `%v` (plain
    between 1e-4 and 1e21, a two-digit exponent otherwise)."""
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    power = len(digits) - 1 + int(exponent)
    sign = "-" if value < 0 else ""
    if power < (-6 if json else -4) or power >= 21:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        width = 1 if json and power < 0 else 2
        return f"{sign}{head}e{'-' if power < 0 else '+'}{abs(power):0{width}d}"
    if power >= len(digits) - 1:
        return sign + digits + "0" * (power - len(digits) + 1)
    if power >= 0:
        return f"{sign}{digits[: power + 1]}.{digits[power + 1 :]}"
    return f"{sign}0.{'0' * (-power - 1)}{digits}"
