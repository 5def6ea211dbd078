"""Hostile stack files end in one clean error naming the file: never a traceback, a hang or a blow-up.

Two paths carry a stack's config into the program, and both are held to the limits of
components/spec/limits.py:

* offline, `read_stack_file` composes the YAML and refuses what exceeds the limits before
  any value is built;
* under the real CLI, the program decodes the JSON text the CLI hands over
  (`decode_platform`), which refuses oversized and over-nested text.

Each limit is shown to refuse just past its bound and to let the bound itself through, and
hypothesis generates hostile documents (alias chains, self-references, deep nesting, big
numbers, random bytes) that must all end as a StackFileError or a SpecError.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.spec import SpecError
from components.spec.limits import (
    MAX_CONFIG_CHARS,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_SCALAR_CHARS,
    MAX_STACK_FILE_BYTES,
    depth_of,
)
from components.spec.load import decode_platform
from scripts.harness import STACK_TYPE, PlanRecorder, evaluate
from scripts.mocks import MeridianMocks
from scripts.stackfile import StackFileError, go_resolve, read_stack_file

SPECS = Path(__file__).parent / "specs"
MINIMAL = (SPECS / "minimal.happy.yaml").read_text()
SOURCE = "stacks/Pulumi.hostile.yaml"


def _write(tmp_path: Path, text: str | bytes, name: str = "hostile") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _platform(value: str) -> str:
    return f"config:\n  meridian:platform: {value}\n"


def _refused(path: Path, words: str) -> str:
    with pytest.raises(StackFileError) as caught:
        read_stack_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and "Traceback" not in message
    assert words in message, message
    return message


def _nested(depth: int, *, flow: bool) -> str:
    """A stack file whose collections nest `depth` levels in all (the document is level 1, `config:`'s value 2)."""
    inner = depth - 3  # the document, config's value and the innermost mapping
    if flow:
        return _platform("{a: " * inner + "{}" + "}" * inner)
    lines = ["config:", "  meridian:platform:"]
    lines += [f"{'  ' * (level + 2)}a:" for level in range(inner)]
    lines.append(f"{'  ' * (inner + 2)}b: 1")
    return "\n".join(lines) + "\n"


def _laughs(levels: int, fanout: int) -> str:
    """The 'billion laughs': each level an anchored list of `fanout` aliases to the one before."""
    lines = ["config:", "  meridian:platform:", "    l0: &l0 lol"]
    for level in range(1, levels + 1):
        lines.append(f"    l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


# -- each limit, just past it and at it ------------------------------------------------------------


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
def test_nesting_past_the_limit_is_refused_with_its_position(tmp_path: Path, flow: bool) -> None:
    message = _refused(_write(tmp_path, _nested(MAX_DEPTH + 1, flow=flow)), f"nested deeper than {MAX_DEPTH} levels")
    assert ": line " in message and ", column " in message


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
def test_nesting_at_the_limit_is_read(tmp_path: Path, flow: bool) -> None:
    config = read_stack_file(_write(tmp_path, _nested(MAX_DEPTH, flow=flow))).config
    assert depth_of(json.loads(config["meridian:platform"])) == MAX_DEPTH - 2


def test_far_deeper_nesting_than_python_can_recurse_is_refused(tmp_path: Path) -> None:
    # 20,000 levels: PyYAML's recursive composer alone would die with a RecursionError.
    _refused(_write(tmp_path, _platform("[" * 20_000 + "]" * 20_000)), "nested deeper than")


def test_billion_laughs_is_refused_without_expanding(tmp_path: Path) -> None:
    _refused(_write(tmp_path, _laughs(levels=9, fanout=10)), "once its aliases are expanded")


def test_aliases_within_the_limit_are_read(tmp_path: Path) -> None:
    # 10 x 10 x 10 = 1,000 leaves: legitimate reuse, well under the limit.
    config = read_stack_file(_write(tmp_path, _laughs(levels=3, fanout=10))).config
    assert json.loads(config["meridian:platform"])["l3"][9][9] == ["lol"] * 10


def test_expanded_node_limit_is_exact(tmp_path: Path) -> None:
    # A list of n aliases to one scalar expands to n nodes; around it: the document, `config`
    # and its mapping, `meridian:platform` and its mapping, `x` and its scalar, `y` and the list.
    def document(n: int) -> str:
        return _platform("{x: &s a, y: [" + ", ".join(["*s"] * n) + "]}")

    allowed = MAX_EXPANDED_NODES - 9
    assert read_stack_file(_write(tmp_path, document(allowed), "at"))
    _refused(_write(tmp_path, document(allowed + 1), "past"), "once its aliases are expanded")


def test_expanded_characters_are_bounded_like_the_config_text(tmp_path: Path) -> None:
    # Few nodes, but each alias repeats a 60,000-character scalar: 20 of them exceed 1 MiB.
    scalar = "x" * 60_000
    _refused(
        _write(tmp_path, _platform("{s: &s " + scalar + ", y: [" + ", ".join(["*s"] * 20) + "]}")),
        f"{MAX_CONFIG_CHARS} characters once its aliases are expanded",
    )


def test_expanded_character_limit_is_exact(tmp_path: Path) -> None:
    # Characters are those of every scalar, keys included, each alias counted in full: `config` (6),
    # `meridian:platform` (17), `x`, `y` and `z` (3), 15 copies of `s` and the tail `z` holds.
    longest = "s" * MAX_SCALAR_CHARS
    tail = MAX_CONFIG_CHARS - 26 - 15 * MAX_SCALAR_CHARS

    def document(tail_chars: int) -> str:
        return _platform(f"{{x: &s {longest}, y: [{', '.join(['*s'] * 14)}], z: {'t' * tail_chars}}}")

    assert read_stack_file(_write(tmp_path, document(tail), "at"))
    past = _write(tmp_path, document(tail + 1), "past")
    # The root mapping is where the total first passes the limit.
    assert _refused(past, "once its aliases are expanded") == (
        f"{past}: line 1, column 1: refused: more than {MAX_EXPANDED_NODES} values or "
        f"{MAX_CONFIG_CHARS} characters once its aliases are expanded (an alias bomb?)"
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("&a [*a]", id="sequence"),
        pytest.param("&a {x: [1, {y: *a}]}", id="mapping"),
        pytest.param("{k: &a {<<: *a}}", id="merge"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path, value: str) -> None:
    _refused(_write(tmp_path, _platform(value)), "refers to a node that contains it")


@pytest.mark.parametrize(
    ("value", "where"),
    [
        # `  meridian:platform: ` is 21 characters: a value starts in column 22, the first inside `{x: ` in 26.
        pytest.param("&a [*a]", "line 2, column 26: refused: alias *a refers to a node that contains it", id="alias"),
        pytest.param(
            "x" * (MAX_SCALAR_CHARS + 1),
            f"line 2, column 22: refused: a value longer than {MAX_SCALAR_CHARS} characters",
            id="long-value",
        ),
        pytest.param(
            "{x: .inf}",
            "line 2, column 26: refused: a number that is infinite or not a number: quote it if it is meant as text",
            id="infinite",
        ),
        pytest.param(
            "{x: 18446744073709551616}",
            "line 2, column 26: refused: an integer beyond 64 bits: quote it if it is meant as text",
            id="uint64-plus-one",
        ),
        pytest.param(
            "{x: 0b" + "0" * 64 + "1}",
            "line 2, column 26: refused: an integer beyond 64 bits: quote it if it is meant as text",
            id="too-long-to-parse",
        ),
        pytest.param(
            "{x: !!int 0x" + "F" * 67 + "}",
            "line 2, column 26: refused: an integer beyond 64 bits: quote it if it is meant as text",
            id="too-long-to-parse-tagged",
        ),
    ],
)
def test_refusals_name_the_line_and_column(tmp_path: Path, value: str, where: str) -> None:
    path = _write(tmp_path, _platform(value))
    assert _refused(path, "refused: ") == f"{path}: {where}"


def test_long_scalars_are_refused_at_the_limit(tmp_path: Path) -> None:
    assert read_stack_file(_write(tmp_path, _platform("x" * MAX_SCALAR_CHARS), "at"))
    _refused(_write(tmp_path, _platform("x" * (MAX_SCALAR_CHARS + 1)), "past"), "longer than")


def test_files_past_the_size_limit_are_refused_unread(tmp_path: Path) -> None:
    padding = "#" * 80 + "\n"
    text = MINIMAL + padding * (MAX_STACK_FILE_BYTES // len(padding) + 1)
    _refused(_write(tmp_path, text), f"larger than {MAX_STACK_FILE_BYTES} bytes")


@pytest.mark.parametrize(
    ("literal", "words"),
    [
        pytest.param("9" * 6000, "beyond 64 bits", id="int-6000-digits"),
        pytest.param("18446744073709551616", "beyond 64 bits", id="uint64-plus-one"),
        pytest.param("-9223372036854775809", "beyond 64 bits", id="int64-minus-one"),
        pytest.param("0x" + "f" * 40, "beyond 64 bits", id="hex"),
        pytest.param("1.0e+999", "infinite", id="float-overflow"),
        pytest.param(".nan", "not a number", id="nan"),
    ],
)
def test_numbers_the_cli_would_read_differently_are_refused(tmp_path: Path, literal: str, words: str) -> None:
    _refused(_write(tmp_path, _platform(f"{{x: {literal}}}")), words)


def test_numbers_within_64_bits_are_read(tmp_path: Path) -> None:
    text = _platform("{a: 18446744073709551615, b: -9223372036854775808, c: 1.5e+300}")
    assert json.loads(read_stack_file(_write(tmp_path, text)).config["meridian:platform"]) == {
        "a": 18446744073709551615,
        "b": -9223372036854775808,
        "c": 1.5e300,
    }


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        # The longest 64-bit literal is binary: `0b` and 64 digits (go-yaml v3 resolve.go reads 0b too).
        pytest.param("0b" + "1" * 64, (1 << 64) - 1, id="binary-64-digits"),
        pytest.param("0b" + "0" * 63 + "1", 1, id="binary-66-characters"),
        # A sign and underscores do not count towards the length.
        pytest.param("-0b" + "0" * 63 + "1", -1, id="signed"),
        pytest.param("+0b" + "0" * 63 + "1", 1, id="plus-signed"),
        pytest.param("0b" + "_".join(["0000"] * 15 + ["0001"]), 1, id="underscores"),
    ],
)
def test_integer_literals_are_measured_without_sign_and_underscores(tmp_path: Path, literal: str, value: int) -> None:
    text = _platform(f"{{a: {literal}}}")
    assert json.loads(read_stack_file(_write(tmp_path, text)).config["meridian:platform"]) == {"a": value}


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        # Up to 67 characters (a sign, 0b and 64 digits) the value is computed, range-checked later ...
        pytest.param("-0b" + "1" * 64, -((1 << 64) - 1), id="signed-binary-67"),
        pytest.param("1" * 67, int("1" * 67), id="decimal-67"),
        # ... beyond that it is not computed at all (int() would refuse 5,000 digits): refused later.
        pytest.param("1" * 68, None, id="decimal-68"),
        pytest.param("9" * 5000, None, id="decimal-5000"),
    ],
)
def test_only_integers_as_long_as_a_64_bit_literal_are_computed(literal: str, value: int | None) -> None:
    assert go_resolve(literal) == ("int", value)


def test_characters_yaml_forbids_are_named_with_their_position(tmp_path: Path) -> None:
    message = _refused(_write(tmp_path, "config:\n  meridian:platform: {a: b\x01}\n"), "U+0001 is not allowed")
    assert ": line 2, column 27: invalid YAML: " in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("\n\x00", "line 2, column 1", id="after-a-leading-newline"),
        pytest.param("\x07config: {}\n\n", "line 1, column 1", id="first-character"),
        pytest.param("a: 1\nb: 2\nc: \x1b\n\n\n\n", "line 3, column 4", id="third-line"),
    ],
)
def test_forbidden_characters_are_placed_by_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = _write(tmp_path, text)
    character = next(c for c in text if c != "\n" and not c.isprintable())
    expected = f"{path}: {where}: invalid YAML: character U+{ord(character):04X} is not allowed"
    assert _refused(path, "is not allowed") == expected


# -- the real CLI's path: the JSON text handed to the program ---------------------------------------


def test_config_text_past_the_size_limit_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=f"is larger than {MAX_CONFIG_CHARS} characters"):
        decode_platform(json.dumps({"x": "y" * MAX_CONFIG_CHARS}), SOURCE)


def test_config_text_at_the_size_limit_is_decoded() -> None:
    # JSON may end in whitespace: the minimal platform padded to exactly the limit.
    platform = yaml.safe_load(MINIMAL)["config"]["meridian:platform"]
    text = json.dumps(platform)
    assert decode_platform(text + " " * (MAX_CONFIG_CHARS - len(text)), SOURCE).project.name == "testproj"
    with pytest.raises(SpecError) as caught:
        decode_platform(text + " " * (MAX_CONFIG_CHARS + 1 - len(text)), SOURCE)
    assert str(caught.value) == f"{SOURCE}: meridian:platform: is larger than {MAX_CONFIG_CHARS} characters"
    assert caught.value.source == SOURCE


def test_config_text_nested_to_the_limit_reaches_validation() -> None:
    with pytest.raises(SpecError) as caught:
        decode_platform("[" * MAX_DEPTH + "]" * MAX_DEPTH, SOURCE)
    assert caught.value.problems == [("meridian:platform", "must be a mapping of keys to values")]


def test_config_text_that_is_not_json_is_a_plain_string() -> None:
    # The CLI hands a plain YAML string over as it is, and it does not decode as JSON.
    with pytest.raises(SpecError) as caught:
        decode_platform("just words", SOURCE)
    assert str(caught.value) == f"{SOURCE}: meridian:platform: must be a YAML mapping, not a plain string"


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        pytest.param(7, 0, id="scalar"),
        pytest.param([], 1, id="empty-list"),
        pytest.param({"a": {}}, 2, id="mapping"),
        # The scalar popped first must not end the walk.
        pytest.param([[[]], 1], 3, id="scalar-last"),
        pytest.param({"a": [1, {"b": [[]]}], "c": 2}, 5, id="mixed"),
    ],
)
def test_depth_of_counts_levels(value: object, depth: int) -> None:
    assert depth_of(value) == depth


def test_depth_of_stops_counting_just_past_the_limit() -> None:
    deep: list[object] = []
    for _ in range(MAX_DEPTH * 3):
        deep = [deep]
    assert depth_of(deep) == MAX_DEPTH + 1


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 50_000], ids=["just-past", "past-recursion"])
def test_over_nested_config_text_is_a_spec_error(depth: int) -> None:
    text = "[" * depth + "]" * depth
    with pytest.raises(SpecError) as caught:
        decode_platform(text, SOURCE)
    assert str(caught.value) == f"{SOURCE}: meridian:platform: nests deeper than {MAX_DEPTH} levels"


def test_many_problems_are_summarised_not_all_listed() -> None:
    platform = yaml.safe_load(MINIMAL)["config"]["meridian:platform"]
    platform.update({f"unknown{i}": i for i in range(500)})
    with pytest.raises(SpecError) as caught:
        decode_platform(json.dumps(platform), SOURCE)
    message = str(caught.value)
    assert len(caught.value.problems) == 500
    assert message.count("unknown key") == 25 and message.endswith("... and 475 more")


# -- generated hostile documents ------------------------------------------------------------------


@st.composite
def hostile_documents(draw: st.DrawFn) -> str:
    """A stack file whose platform is built from anchored definitions that alias earlier ones (or themselves)."""
    scalars = st.one_of(
        st.sampled_from(["x", "1", "-1", "0x1F", "1e999", ".inf", "~", "true", "2025-01-01", "'q'", '"\\u00e9"']),
        st.integers(min_value=1, max_value=30).map(lambda n: "9" * n),
        st.integers(min_value=0, max_value=3).map(lambda n: "y" * (MAX_SCALAR_CHARS - 1 + n)),
    )
    definitions: list[str] = []
    for index in range(draw(st.integers(min_value=1, max_value=8), label="definitions")):
        earlier = [f"*d{i}" for i in range(index)]
        if draw(st.booleans(), label="self reference"):
            earlier.append(f"*d{index}")
        fanout = draw(st.integers(min_value=0, max_value=12), label="fanout")
        parts: list[str] = []
        for _ in range(fanout):
            alias = bool(earlier) and draw(st.booleans(), label="alias")
            parts.append(draw(st.sampled_from(earlier)) if alias else draw(scalars))
        body = draw(st.sampled_from(["[{}]", "{{k: [{}]}}", "{{<<: {{m: [{}]}}}}"]), label="shape").format(
            ", ".join(parts)
        )
        depth = draw(st.sampled_from([0, 0, 1, 30, MAX_DEPTH, 5_000]), label="nesting")
        definitions.append(f"d{index}: &d{index} " + "[" * depth + body + "]" * depth)
    return _platform("{" + ", ".join(definitions) + "}")


def _reads_or_refuses(path: Path) -> None:
    try:
        config = read_stack_file(path)
    except StackFileError as error:
        assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
        return
    text = config.config.get("meridian:platform")
    assert text is None or len(text) <= MAX_CONFIG_CHARS
    if text is not None:
        try:
            decode_platform(text, SOURCE)
        except SpecError as error:
            assert str(error).startswith(f"{SOURCE}: ")


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=hostile_documents())
def test_generated_hostile_documents_end_cleanly(tmp_path: Path, document: str) -> None:
    _reads_or_refuses(_write(tmp_path, document))


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    position=st.integers(min_value=0, max_value=len(MINIMAL.encode())),
    junk=st.binary(min_size=1, max_size=24)
    | st.sampled_from([b"&a ", b"*a", b"[", b"{", b"<<: ", b"!!python/name:os.system ", b"\t", b"\x00", b"---\n"]),
)
def test_corrupted_minimal_files_end_cleanly(tmp_path: Path, position: int, junk: bytes) -> None:
    data = MINIMAL.encode()
    _reads_or_refuses(_write(tmp_path, data[:position] + junk + data[position:]))


def test_a_hostile_file_registers_nothing_and_says_where(tmp_path: Path) -> None:
    path = _write(tmp_path, _laughs(levels=12, fanout=12))
    recorder = PlanRecorder(MeridianMocks())
    # 12**5 leaves pass the limit first at l5, on line 8.
    with pytest.raises(StackFileError, match=r": line 8, column 9: refused: more than"):
        evaluate(path, recorder=recorder)
    assert recorder.records == []
    assert {record["type"] for record in recorder.records} <= {STACK_TYPE}
