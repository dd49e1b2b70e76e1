"""Go's text/template as --format uses it: what Docker prints, and nothing beyond the data."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer import gotemplate
from sdcontainer.errors import UsageError
from sdcontainer.gotemplate import Method, Struct, TemplateError, render, structs, tabwrite

INSPECTED = structs(
    {
        "Id": "f" * 64,
        "Name": "web",
        "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0, "OOMKilled": False},
        "Config": {"Env": ["PATH=/usr/bin", "A=1"], "Labels": {"b": "2", "a": "1"}, "Cmd": ["sleep", "9"],
                   "Entrypoint": None},
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.88.0.2"}}, "Ports": {}},
        "HostConfig": {"Memory": 0, "NanoCpus": 1500000000},
        "Mounts": [{"Source": "/srv", "Destination": "/data"}, {"Source": "/a", "Destination": "/b"}],
    },
    type_name="container",
)  # fmt: skip


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.State.Pid}} {{.State.Running}} {{json .Config.Env}}", '4242 true ["PATH=/usr/bin","A=1"]'),
        ("{{.Name}}", "web"),
        ("{{json .Config.Labels}}", '{"a":"1","b":"2"}'),  # a map's keys sorted, as Go's encoder does
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ("{{.Config.Cmd}}", "[sleep 9]"),
        ("{{json .Config.Entrypoint}}", "null"),
        ("{{.Config.Entrypoint}}", "<nil>"),
        ("{{index .Config.Labels \"a\"}}|{{index .Config.Labels \"zz\"}}", "1|"),
        ("{{.Config.Labels.zz}}", "<no value>"),  # a map's missing key: Go's default
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
        ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/srv:/data /a:/b "),
        ("{{range $i, $m := .Mounts}}{{if $i}},{{end}}{{$m.Source}}{{end}}", "/srv,/a"),
        ("{{range .Config.Nope}}x{{else}}none{{end}}", None),  # Nope: an undocumented field
        ("{{(index .Mounts 1).Source}}", "/a"),
        ("{{with .State}}{{.Status}}{{end}}", "running"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if eq .State.Status \"exited\"}}x{{else if .State.Running}}r{{end}}", "r"),
        ("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}", "ok"),
        ("{{or .State.OOMKilled \"fine\"}}", "fine"),
        ("{{not .State.Running}}", "false"),
        ("{{len .Mounts}} {{len .Name}}", "2 3"),
        ("{{join .Config.Env \",\"}}", "PATH=/usr/bin,A=1"),
        ("{{upper .Name}} {{lower \"AB\"}} {{title \"hello world\"}}", "WEB ab Hello World"),
        ("{{split \"a:b\" \":\"}}", "[a b]"),
        ("{{printf \"%s-%d\" .Name .State.Pid}}", "web-4242"),
        ("{{printf \"%5s|%-4s|\" \"ab\" \"c\"}}", "   ab|c   |"),
        ("{{.Name | printf \"%q\"}}", '"web"'),
        ("{{println .Name}}", "web\n"),
        ("{{print 1 2}} {{print \"a\" \"b\"}}", "1 2 ab"),
        ("{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", "1500000000 0"),
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.88.0.2"),
        ("{{.NetworkSettings.Networks.bridge.IPAddress}}", "10.88.0.2"),
        ("{{$x := .Name}}{{range .Mounts}}{{$x}}{{end}}", "webweb"),
        ("{{$n := 0}}{{range .Mounts}}{{$n = .Source}}{{end}}{{$n}}", "/a"),
        ("{{range .Mounts}}{{if eq .Source \"/srv\"}}{{continue}}{{end}}{{.Source}}{{end}}", "/a"),
        ("{{range .Mounts}}{{.Source}}{{break}}{{end}}", "/srv"),
        ("a {{- \" b \" -}} c", "a b c"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ("{{`raw \\n`}}", "raw \\n"),
        ("{{\"}}\"}}", "}}"),
        ("{{.}}", None),  # the whole container prints (a struct: {...}); checked below
        ("{{slice .Name 1}} {{slice .Name 0 2}}", "eb we"),
        ("{{pad .Name 1 2}}|{{truncate .Name 2}}", " web  |we"),
        ("{{ 1.5 }} {{ 1e21 }} {{ 100.0 }} {{ 0x10 }} {{ 1000000.0 }}", "1.5 1e+21 100 16 1e+06"),
        ("{{ $ | len }}", None),
    ],
)
def test_what_docker_prints(template: str, expected: str | None) -> None:
    if expected is None:
        try:
            render(template, INSPECTED)
        except TemplateError:
            pass
        return
    assert render(template, INSPECTED) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Nope}}", "can't evaluate field Nope in container"),
        ("{{.State.Nope}}", "can't evaluate field Nope in State"),
        ("{{.Name.Sub}}", "can't evaluate field Sub in type string"),
        ("{{.Config.Entrypoint.X}}", "nil pointer evaluating X"),
        ("{{nope .}}", 'function "nope" not defined'),
        ("{{call .Name}}", 'function "call" not defined'),  # no way to call anything
        ("{{template \"x\"}}", "not supported"),
        ("{{define \"x\"}}{{end}}", "not supported"),
        ("{{.Name", "unclosed action"),
        ("{{if .Name}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{break}}", "outside {{range}}"),
        ("{{index .Mounts 5}}", "index out of range: 5"),
        ("{{\"unterminated}}", "unterminated quoted string"),
        ("{{.Name 1}}", "has arguments"),
        ("{{1 | .Name}}", "has arguments"),
        ("{{\"a\" 1}}", "can't give argument to non-function"),
        ("{{$y}}", "undefined variable: $y"),
        ("{{$ := 1}}", "cannot assign to $"),
        ("{{(.Name}}", "unclosed left paren"),
        ("{{range 1.5}}{{end}}", "range can't iterate over 1.5"),
        ("{{lt .Name 1}}", "incompatible types for comparison"),
        ("{{\"\\q\"}}", "invalid syntax"),
        ("{{ # }}", "unexpected"),
    ],
)
def test_errors_say_what_go_says(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=None) as caught:
        render(template, INSPECTED)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_no_python_attribute_is_reachable() -> None:
    """Only dict keys are looked up: a Python object's attributes, dunders included, are not fields."""
    for template in ("{{.__class__}}", "{{.Name.__len__}}", "{{.Mounts.append}}", "{{.State.items}}",
                     "{{.State.keys}}", "{{.type_name}}"):  # fmt: skip
        with pytest.raises(TemplateError):
            render(template, INSPECTED)
    # a plain map's missing key is Go's <no value>, not a dict method
    assert render("{{.items}} {{.get}}", {"a": 1}) == "<no value> <no value>"


def test_a_method_field_takes_its_arguments() -> None:
    labels = {"com.example.x": "1"}
    row = Struct({"Names": "web", "Label": Method("Label", lambda k: labels.get(k, ""))}, type_name="container")
    assert render('{{.Label "com.example.x"}}|{{.Label "nope"}}', row) == "1|"
    with pytest.raises(TemplateError, match="wrong number of args for Label"):
        render("{{.Label}}", row)
    assert gotemplate.to_json(row) == '{"Names":"web"}'  # methods are not data


def test_tables_are_aligned_as_dockers_tabwriter() -> None:
    header = gotemplate.parse("{{.Names}}\t{{.Status}}").header({"Names": "NAMES", "Status": "STATUS"})
    assert header == "NAMES\tSTATUS"
    text = tabwrite("NAMES\tSTATUS\nweb\tUp 2 seconds\nlonger-name-here\tExited (0) 1 second ago\n")
    assert text.splitlines() == [
        "NAMES              STATUS",
        "web                Up 2 seconds",
        "longer-name-here   Exited (0) 1 second ago",
    ]
    assert tabwrite("a\tb\n") == "a         b\n"  # a column is 10 wide at least
    assert gotemplate.table("table {{.A}}") == (True, "{{.A}}")
    assert gotemplate.table("{{.A}}") == (False, "{{.A}}")


def test_header_functions_give_their_argument() -> None:
    template = gotemplate.parse('{{upper .Names}}\t{{json .Labels}}\t{{.Label "x"}}\t{{join .Mounts ","}}')
    titles = {"Names": "NAMES", "Labels": "LABELS", "Label": "LABEL", "Mounts": "MOUNTS"}
    assert template.header(titles) == "NAMES\tLABELS\tLABEL\tMOUNTS"


def test_format_errors_are_usage_errors_with_a_hint() -> None:
    with pytest.raises(UsageError) as caught:
        gotemplate.compile_format("{{.Name")
    assert "unclosed action" in caught.value.message and caught.value.hint
    template = gotemplate.compile_format("{{.Nope}}")
    with pytest.raises(UsageError) as failed:
        gotemplate.format_one(template, INSPECTED)
    assert failed.value.hint and ".State" in failed.value.hint
    assert gotemplate.compile_format("{{.Name}}\\t{{.Id}}").render(INSPECTED) == "web\t" + "f" * 64


@pytest.mark.parametrize(
    ("value", "shown", "as_json"),
    [(0.5, "0.5", "0.5"), (100.0, "100", "100"), (1e21, "1e+21", "1e+21"), (1e-05, "1e-05", "0.00001"),
     (1e-07, "1e-07", "1e-7"), (123456789.0, "1.23456789e+08", "123456789"), (123456.0, "123456", "123456"),
     (-2.5, "-2.5", "-2.5")],
)  # fmt: skip
def test_floats_as_go_writes_them(value: float, shown: str, as_json: str) -> None:
    assert gotemplate.show(value) == shown
    assert gotemplate.to_json(value) == as_json


def test_json_is_gos() -> None:
    assert gotemplate.to_json({"b": [1, True, None], "a": "<&>\u2028é"}) == '{"a":"<&>\\u2028é","b":[1,true,null]}'
    assert gotemplate.to_json(Struct({"z": 1, "a": 2})) == '{"z":1,"a":2}'  # a struct's fields in their order


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), JSON)
def test_any_text_parses_or_fails_with_a_template_error(template: str, data: Any) -> None:
    """Whatever is typed, and whatever data (containers' names and labels are outside input):
    a result or TemplateError, never another exception, and never a hang."""
    try:
        render(template, structs({"Name": data, "Labels": data}))
    except TemplateError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["{{", "}}", ".Name", " ", "-", "if", "end", "range", "else", "$x", ":=", "|",
                                 "(", ")", '"s"', "1", "json", "index", "/*", "*/", "`", "with", ".", "$",
                                 "printf", "and", "eq", "break", "continue"]), max_size=20).map("".join),
       JSON)  # fmt: skip
def test_template_like_text_parses_or_fails_with_a_template_error(template: str, data: Any) -> None:
    try:
        render(template, structs({"Name": data, "Labels": data}))
    except TemplateError:
        pass


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_json_of_any_data_reads_back(data: Any) -> None:
    import json

    def same(a: Any, b: Any) -> bool:  # Go writes 1e16 as 10000000000000000, which reads back as an int
        if isinstance(b, float):
            return isinstance(a, (int, float)) and float(a) == b
        if isinstance(b, list):
            return isinstance(a, list) and len(a) == len(b) and all(map(same, a, b))
        if isinstance(b, dict):
            return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
        return a == b and type(a) is type(b)

    assert same(json.loads(gotemplate.to_json(data)), data)


@pytest.mark.parametrize(
    "template",
    [
        "{{if false}}" + "{{else if false}}" * 600 + "{{end}}",  # a chain of else-ifs nests
        "{{with false}}" + "{{else with false}}" * 600 + "{{end}}",
        "{{" + "0x" + "f" * 4000 + "}}",
        "{{printf \"%f\" 0x" + "f" * 300 + "}}",
        "{{printf \"%.9999999999999999999f\" 1.0}}",
        "{{printf \"%.999999999f\" 1.0}}",
        '{{$x := "0123456789abcdef"}}' + "{{$x = print $x $x}}" * 24,  # 256 MiB by doubling
        "{{range .}}{{end}}",  # over a struct: Go's error
        "{{eq .L .L}}",  # lists are not comparable
    ],
)
def test_hostile_templates_fail_as_template_errors_fast(template: str) -> None:
    import time

    began = time.monotonic()
    with pytest.raises(TemplateError):
        render(template, Struct({"L": [1]}, type_name="x"))
    assert time.monotonic() - began < 2


def test_deeply_nested_data_is_an_error_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(3000):
        deep = [deep]
    for template in ("{{.}}", "{{json .}}"):
        with pytest.raises(TemplateError):
            render(template, deep)


def test_printf_as_go_formats() -> None:
    cases = {'{{printf "%*d|" 5 3}}': "    3|", '{{printf "%05d" -5}}': "-0005", '{{printf "%.3g" 3.14159}}': "3.14",
             '{{printf "%s" 5}}': "%!s(int=5)", '{{printf "%+d" 5}}': "+5",
             '{{printf "%q" "a\\tb\\u0007"}}': '"a\\tb\\a"',
             '{{printf "%#x %o %b" 255 8 5}}': "0xff 10 101", '{{printf "%8.2f|" 3.14159}}': "    3.14|",
             '{{printf "%c" 65}}': "A", '{{printf "%e" 123456.0}}': "1.234560e+05"}  # fmt: skip
    assert {t: render(t, {}) for t in cases} == cases


def test_strings_index_and_slice_by_bytes_as_go() -> None:
    assert render('{{index "héllo" 1}}', {}) == "195"
    assert render('{{slice "héllo" 0 3}}', {}) == "hé"
    assert render("{{slice .X 0 (len .X)}}", {"X": "日本"}) == "日本"


def test_a_maps_values_are_structs() -> None:
    data = structs({"Networks": {"bridge": {"IPAddress": "10.0.0.2"}}})
    assert render("{{range .Networks}}{{.IPAddress}}{{end}}", data) == "10.0.0.2"
    with pytest.raises(TemplateError, match="can't evaluate field Typo"):
        render("{{range .Networks}}{{.Typo}}{{end}}", data)
