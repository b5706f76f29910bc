// Expected strings are what Jinja2 3.1 renders with transformers' chat-template environment.
#include "chat/jinja.h"

#include <string>

#include <gtest/gtest.h>

#include "util/error.h"

namespace dseek::jinja {
namespace {

using Json = nlohmann::ordered_json;

std::string render(std::string_view source, const Json& context = Json::object()) {
  return Template::parse(source, "t").render(context);
}

// The message of the error rendering throws (parse or render).
std::string error_of(std::string_view source, const Json& context = Json::object(), const RenderOptions& options = {}) {
  try {
    Template::parse(source, "t").render(context, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JinjaSyntax, TextExpressionsAndComments) {
  EXPECT_EQ(render("Hello {{ name }}!{# note #}", {{"name", "数学"}}), "Hello 数学!");
  EXPECT_EQ(render("{{ 'a' 'b' \"c\" }}|{{ 1, 2 }}|{{ (1,) }}|{{ () }}"), "abc|(1, 2)|(1,)|()");
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
  EXPECT_EQ(render(R"({{ "\u00e9\U0001F600\x41\101\n\t\\" }})"), "é😀AA\n\t\\");
  EXPECT_EQ(render("{{ 1_000 + 0x10 + 0o10 + 0b10 }} {{ 1.5e3 }} {{ [1, 2,] }}"), "1026 1500.0 [1, 2]");
}

TEST(JinjaSyntax, TrimBlocksAndLstripBlocks) {
  EXPECT_EQ(render("a\n  {% if true %}\n    b\n  {% endif %}\nc"), "a\n    b\nc");
  EXPECT_EQ(render("{{ 1 }}\n  {{ 2 }}\n\t{% set x = 3 %}\n{{ x }}"), "1\n  2\n3");
  EXPECT_EQ(render("x\n  {# indented comment #}\ny"), "x\ny");
  EXPECT_EQ(render("{% for i in range(3) %}\n  item {{ i }}\n{% endfor %}"), "  item 0\n  item 1\n  item 2\n");
  EXPECT_EQ(render("x\n{% if true %}{% endif %}\n {% if true %}y{% endif %}"), "x\ny");
}

TEST(JinjaSyntax, WhitespaceModifiers) {
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a  {%+ if true +%}\n  b\n  {%+ endif %}\nc"), "a  \n  b\n  c");
  EXPECT_EQ(render("{{ 'a' -}}\n   b  {{- 'c' }}"), "abc");
  EXPECT_EQ(render("y {#- stripped -#}   z"), "yz");
  EXPECT_EQ(render("{% for i in range(3) -%}\n  item {{ i }}\n{%- endfor %}"), "item 0item 1item 2");
}

TEST(JinjaSyntax, RawBlocksNewlinesAndTrailingNewline) {
  EXPECT_EQ(render("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
  EXPECT_EQ(render("  {% raw %}\n  {{ x }}\n  {% endraw %}\nafter"), "\n  {{ x }}\nafter");
  EXPECT_EQ(render("{%- raw -%}  keep {{ }}  {%- endraw -%}  tail"), "keep {{ }}tail");
  // Newlines are normalized and one trailing newline is dropped (keep_trailing_newline=False).
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(render("a\n\n"), "a\n");
}

TEST(JinjaStatements, IfElifElse) {
  const char* source = "{% if n < 0 %}neg{% elif n == 0 %}zero{% else %}pos{% endif %}";
  EXPECT_EQ(render(source, {{"n", -1}}), "neg");
  EXPECT_EQ(render(source, {{"n", 0}}), "zero");
  EXPECT_EQ(render(source, {{"n", 2}}), "pos");
}

TEST(JinjaStatements, ForLoopVariables) {
  EXPECT_EQ(render("{% for x in 'ab' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}"
                   "{{ loop.cycle('x', 'y') }};{% endfor %}"),
            "1021TrueFalse2bx;2110FalseTrue2ay;");
  EXPECT_EQ(render("{% for x in [1] %}{{ loop }}{% endfor %}"), "<LoopContext 1/1>");
  EXPECT_EQ(render("{% for i in range(6) if i is odd %}{{ loop.index }}/{{ loop.length }}:{{ i }} {% endfor %}"),
            "1/3:1 2/3:3 3/3:5 ");
  EXPECT_EQ(render("{% for i in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}"), "37");
  EXPECT_EQ(render("{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}"), "ba");
  EXPECT_EQ(render("{% for x in [3, 1, 2] | sort | reverse %}{{ x }}{% endfor %}"), "321");
}

TEST(JinjaStatements, BreakAndContinue) {
  EXPECT_EQ(render("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}"
                   "{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("{% for i in range(3) %}{% for j in range(3) %}{% if j > i %}{% break %}{% endif %}{{ j }}"
                   "{% endfor %};{% endfor %}"),
            "0;01;012;");
}

TEST(JinjaStatements, SetScopingAndNamespaces) {
  // Assignments in a loop body stay in that iteration; namespaces carry state out.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(2) %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}"), "221");
  EXPECT_EQ(render("{% for i in range(3) %}{% if i == 0 %}{% set x = 'a' %}{% endif %}[{{ x }}]{% endfor %}"),
            "[a][][]");
  EXPECT_EQ(render("{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
                   "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }} {{ ns }}"),
            "6 0123 <Namespace {'n': 6, 's': '0123'}>");
  EXPECT_EQ(render("{{ namespace({'a': 1}, b=2).b }}"), "2");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
}

TEST(JinjaStatements, BlockSetFilterBlockAndWith) {
  EXPECT_EQ(render("{% set x %}\n  block {{ 1 + 1 }}\n{% endset %}[{{ x }}]"), "[  block 2\n]");
  EXPECT_EQ(render("{% set x | upper | trim %} abc {% endset %}[{{ x }}]"), "[ABC]");
  EXPECT_EQ(render("{% filter upper %}hello {{ 'w' }}{% endfilter %}"), "HELLO W");
  EXPECT_EQ(render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
}

TEST(JinjaStatements, Macros) {
  EXPECT_EQ(render("{% macro f(a, b=2) %}[{{ a }}{{ b }}]{% endmacro %}{{ f(1) }}{{ f(1, 3) }}{{ f(b=5, a=0) }}"),
            "[12][13][05]");
  EXPECT_EQ(render("{% macro f() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, c=3) }}"), "(1, 2){'c': 3}");
  EXPECT_EQ(render("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}"),
            "321");
  EXPECT_EQ(render("{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}"), "6");
  EXPECT_EQ(render("{% macro f(a) %}[{{ a }}]{% endmacro %}{{ f() }}"), "[]");
  EXPECT_EQ(error_of("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}"),
            "template 't', line 1, column 34: macro 'f' takes not more than 1 argument(s)");
  EXPECT_EQ(error_of("{% macro f(a) %}{% endmacro %}{{ f(c=2) }}"),
            "template 't', line 1, column 34: macro 'f' takes no keyword argument 'c'");
}

TEST(JinjaExpressions, ArithmeticFollowsPython) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 5 % -3 }} {{ 5.5 // 2 }} {{ -5.5 % 2 }}"),
            "3 -4 2 -1 2.0 0.5");
  EXPECT_EQ(render("{{ 10 / 2 }} {{ 1 / 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}"),
            "5.0 0.3333333333333333 1024 0.5 64 4");
  EXPECT_EQ(render("{{ 'ab' * 3 }} {{ 3 * [1] }} {{ true + true }} {{ 1 - 1.5 }} {{ [1] + [2] }} {{ (1,) + (2,) }}"),
            "ababab [1, 1, 1] 2 -0.5 [1, 2] (1, 2)");
  EXPECT_EQ(render("{{ 'x' ~ 1 ~ none ~ [1] ~ u }}"), "x1None[1]");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "template 't', line 1, column 8: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(error_of("{{ 1 + 'a' }}"),
            "template 't', line 1, column 6: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ 1 // 0 }}"), "template 't', line 1, column 6: integer division or modulo by zero");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "template 't', line 1, column 24: integer overflow");
}

TEST(JinjaExpressions, ComparisonsLogicAndConditionals) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, [2]] == [1, [2]] }} "
                   "{{ [1] == (1,) }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ 'b' > 'a' }}"),
            "True False True True True False True True");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 1 in [1.0] }} {{ 'a' in {'a': 1} }} {{ 2 not in [1] }} {{ 'x' in u }}"),
            "True True True True False");
  EXPECT_EQ(render("{{ true and 'a' }} {{ false or 'b' }} {{ 0 or '' or [] }} {{ 1 and 0 }} {{ not '' }}"),
            "a b [] 0 True");
  EXPECT_EQ(render("{{ 'y' if 1 else 'n' }}{{ 'y' if 0 else 'n' }}[{{ 'y' if 0 }}]"), "yn[]");
  EXPECT_EQ(error_of("{{ 1 in 'abc' }}"),
            "template 't', line 1, column 4: 'in <string>' requires string as left operand, not int");
  EXPECT_EQ(error_of("{{ 1 < 'a' }}"),
            "template 't', line 1, column 4: '<' not supported between instances of 'int' and 'str'");
}

TEST(JinjaExpressions, AttributesSubscriptsAndSlices) {
  Json context = {{"m", {{"role", "user"}, {"items", "key"}}}, {"xs", {1, 2, 3, 4, 5}}};
  EXPECT_EQ(render("{{ m.role }} {{ m['role'] }} {{ m['items'] }} {{ m.items()|list }}", context),
            "user user key [('role', 'user'), ('items', 'key')]");
  EXPECT_EQ(render("{{ xs[-1] }} {{ xs[1:3] }} {{ xs[::-2] }} {{ xs[5:1:-1] }} {{ xs[10:] }} {{ [[1]].0.0 }}", context),
            "5 [2, 3] [5, 3, 1] [5, 4, 3] [] 1");
  EXPECT_EQ(render("{{ 'héllo'[1] }} {{ 'héllo'[1:3] }} {{ 'héllo'[::-1] }} {{ 'héllo'[-2:] }}"), "é él olléh lo");
  EXPECT_EQ(render("[{{ xs[9] }}] {{ xs[9] is defined }} [{{ none.x }}] {{ m.missing is defined }}", context),
            "[] False [] False");
  EXPECT_EQ(error_of("{{ {}.bar.baz }}"), "template 't', line 1, column 10: 'dict object' has no attribute 'bar'");
  EXPECT_EQ(error_of("{{ xs[1:2:0] }}", context), "template 't', line 1, column 6: slice step cannot be zero");
  EXPECT_EQ(error_of("{{ m.role[1:] }}{{ 4[1:] }}", context),
            "template 't', line 1, column 21: 'int' object is not subscriptable");
}

TEST(JinjaValues, PythonStrAndRepr) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5, {'k': [2]}, (1,), ()] }}"),
            "[1, 'a', None, True, 1.5, {'k': [2]}, (1,), ()]");
  EXPECT_EQ(render(R"({{ ["it's", 'a"b', "x\ny", "é\x01", "\\", "\u200b"] }})"),
            R"(["it's", 'a"b', 'x\ny', 'é\x01', '\\', '\u200b'])");
  EXPECT_EQ(render("{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 0.1 + 0.2 }} {{ 123456789012345678.0 }} "
                   "{{ -0.0 }} {{ 1e300 * 1e300 }} {{ 5e-324 }}"),
            "1e+16 1000000000000000.0 0.0001 1e-05 0.30000000000000004 1.2345678901234568e+17 -0.0 inf 5e-324");
  EXPECT_EQ(render("{{ x }}|{{ x.y }}|{{ x }}", {{"x", {{"y", nullptr}}}}), "{'y': None}|None|{'y': None}");
}

TEST(JinjaFilters, ToJsonLikePythonJsonDumps) {
  Json context = {{"v", {{"b", 1}, {"a", {1, 2.5, "é\n\"", nullptr, true}}, {"e", Json::object()}}}};
  EXPECT_EQ(render("{{ v | tojson }}", context), R"({"b": 1, "a": [1, 2.5, "é\n\"", null, true], "e": {}})");
  EXPECT_EQ(
      render("{{ v | tojson(indent=2, sort_keys=true) }}", context),
      "{\n  \"a\": [\n    1,\n    2.5,\n    \"é\\n\\\"\",\n    null,\n    true\n  ],\n  \"b\": 1,\n  \"e\": {}\n}");
  EXPECT_EQ(render("{{ [1, {'k': 'v'}] | tojson(separators=(',', ':')) }}"), R"([1,{"k":"v"}])");
  EXPECT_EQ(render("{{ 'é😀\x7f\x01' | tojson(ensure_ascii=true) }}"), R"("\u00e9\ud83d\ude00\u007f\u0001")");
  EXPECT_EQ(render("{{ 1.0 | tojson }} {{ 'x' | tojson(indent='\t') }} {{ [] | tojson(indent=2) }}"), "1.0 \"x\" []");
  EXPECT_EQ(error_of("{{ u | tojson }}"),
            "template 't', line 1, column 8: Object of type Undefined is not JSON serializable");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(render("{{ ' a b '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'aBc'|upper }}|{{ 'aBc'|lower }}|{{ 'hELLO "
                   "wORLD'|capitalize }}"),
            "a b|hi|ABC|abc|Hello world");
  EXPECT_EQ(
      render(
          "{{ 'hello world-foo (bar'|title }}|{{ 'Hello World'|replace('o', '0', 1) }}|{{ 'abc'|replace('', '-') }}"),
      "Hello World-Foo (Bar|Hell0 World|-a-b-c-");
  EXPECT_EQ(render("{{ \"a\\nb\\n\\nc\"|indent(2) }}|{{ \"a\\nb\"|indent(2, true) }}|{{ \"a\\n\\nb\"|indent('>', "
                   "blank=true) }}"),
            "a\n  b\n\n  c|  a\n  b|a\n>\n>b");
  EXPECT_EQ(render("{{ '<a>&\"\\''|e }}|{{ 'x'|center(5) }}|{{ 42|string }}|{{ [1]|string }}|{{ 'abc'|reverse }}"),
            "&lt;a&gt;&amp;&#34;&#39;|  x  |42|[1]|cba");
  EXPECT_EQ(render("{{ '%s-%03d' | format('a', 7) }}|{{ '%s and %d' % ('a', 3) }}|{{ '%5.2f' % 3.14159 }}|{{ '%(k)s' % "
                   "{'k': 1} }}"),
            "a-007|a and 3| 3.14|1");
  EXPECT_EQ(render("{{ 'é'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ u|length }}"), "1 2 1 0");
}

TEST(JinjaFilters, Sequences) {
  EXPECT_EQ(render("{{ [3, 1, 2]|sort }}{{ ['b', 'A', 'a']|sort }}{{ ['b', 'A', 'a']|sort(case_sensitive=true) }}"
                   "{{ [{'a': 2}, {'a': 1}]|sort(attribute='a') }}{{ [3, 1, 2]|sort(reverse=true) }}"),
            "[1, 2, 3]['A', 'a', 'b']['A', 'a', 'b'][{'a': 1}, {'a': 2}][3, 2, 1]");
  EXPECT_EQ(
      render(
          "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'ab'|first }} {{ {'k': 1, 'j': 2}|last }} [{{ []|first }}]"),
      "1 3 a j []");
  EXPECT_EQ(render("{{ [1, 2]|join }} {{ [1, 2]|join(', ') }} {{ [{'n': 'x'}, {'n': 'y'}]|join(',', attribute='n') }}"),
            "12 1, 2 x,y");
  EXPECT_EQ(
      render("{{ 'ab'|list }} {{ {'a': 1}|list }} {{ u|list }} {{ [1, 2]|reverse|list }} {{ range(5, 0, -2)|list }}"),
      "['a', 'b'] ['a'] [] [2, 1] [5, 3, 1]");
  EXPECT_EQ(
      render("{{ [1, 2, 3]|sum }} {{ [{'p': 1}, {'p': 2}]|sum(attribute='p') }} {{ [1, 2]|max }} {{ ['a', 'B']|min }} "
             "{{ ['a', 'B']|max(case_sensitive=true) }} {{ [1, 1, 2, 'A', 'a']|unique|list }}"),
      "6 3 2 a a [1, 2, 'A']");
  EXPECT_EQ(
      render(
          "{{ [1, 2, 3, 4, 5]|batch(2, 0)|list }} {{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|items|list }}"),
      "[[1, 2], [3, 4], [5, 0]] [('a', 2), ('b', 1)] [('b', 1), ('a', 2)]");
}

TEST(JinjaFilters, MapSelectReject) {
  Json context = {{"ms", {{{"role", "user"}, {"n", 1}}, {{"role", "tool"}, {"n", 2}}, {{"role", "user"}}}}};
  EXPECT_EQ(render("{{ [1, 2, 3]|map('string')|join('-') }} {{ ['a', 'b']|map('upper')|list }} "
                   "{{ ms|map(attribute='n')|list }} {{ ms|map(attribute='n', default=0)|list }}",
                   context),
            "1-2-3 ['A', 'B'] [1, 2, Undefined] [1, 2, 0]");
  EXPECT_EQ(
      render(
          "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '']|select|list }} "
          "{{ [1, 5, 9]|select('gt', 4)|list }} {{ ['a', 'b']|select('in', 'abc')|list }}"),
      "[1, 3] [1, 3] [1] [5, 9] ['a', 'b']");
  EXPECT_EQ(render("{{ ms|selectattr('role', 'equalto', 'user')|map(attribute='n', default='-')|list }} "
                   "{{ ms|rejectattr('n')|list }} {{ ms|selectattr('n', 'defined')|list|length }}",
                   context),
            "[1, '-'] [{'role': 'user'}] 2");
}

TEST(JinjaFilters, ConversionsAndDefaults) {
  EXPECT_EQ(
      render("{{ 3.7|int }} {{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ '0x1A'|int(base=16) }} "
             "{{ '  7 '|int }} {{ true|int }} {{ '3'|float }} {{ 'a'|float }} {{ 2|float }}"),
      "3 42 4 0 5 26 7 1 3.0 0.0 2.0");
  EXPECT_EQ(
      render(
          "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(0, 'floor') }} "
          "{{ 5|round }} {{ -3|abs }} {{ -2.5|abs }}"),
      "2.0 4.0 2.67 3.0 2.0 5 3 2.5");
  EXPECT_EQ(render("{{ x|default('d') }} {{ none|default('d') }} {{ none|d('d', true) }} {{ ''|default('d', true) }} "
                   "{{ 0|default(1) }}"),
            "d None d d 0");
  EXPECT_EQ(render("{{ '{\"a\": [1, 2.5, null]}'|from_json }} {{ ('{\"k\": \"v\"}'|from_json).k }}"),
            "{'a': [1, 2.5, None]} v");
  EXPECT_EQ(render("[{{ {'a': 1}|attr('a') }}] {{ {'a': 1}|attr('items') is callable }}"), "[] True");
  EXPECT_EQ(render("{{ [1]|safe }}"), "[1]");
}

TEST(JinjaTests, AllTests) {
  EXPECT_EQ(
      render("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 1 is none }} {{ true is boolean }} "
             "{{ 1 is boolean }} {{ true is true }} {{ 0 is false }} {{ 1 is integer }} {{ true is integer }} "
             "{{ 1.0 is float }} {{ true is number }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is mapping }}"),
      "False True True False True False True False True False True True True True False");
  EXPECT_EQ(
      render("{{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ u is iterable }} {{ [] is sequence }} "
             "{{ namespace() is iterable }} {{ range is callable }} {{ 'a' is callable }}"),
      "True True False True True False True False");
  EXPECT_EQ(
      render("{{ 3 is divisibleby 3 }} {{ 3 is divisibleby(2) }} {{ 2 is even }} {{ 2 is odd }} {{ 'abc' is lower }} "
             "{{ 'ABC' is upper }} {{ 'aB' is lower }}"),
      "True False True False True True False");
  EXPECT_EQ(render("{{ 1 is eq 1 }} {{ 1 is ne 1 }} {{ 2 is gt 1 }} {{ 2 is ge 3 }} {{ 1 is lt 2 }} {{ 1 is le 0 }} "
                   "{{ 1 is in [1] }} {{ 1 is equalto 2 }} {{ 2 is greaterthan 1 }} {{ 1 is lessthan 1 }} "
                   "{{ 'a' is sameas 'a' }} {{ none is sameas none }} {{ [] is sameas [] }}"),
            "True False True False True False True False True False True True False");
  EXPECT_EQ(render("{{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ 'x' is escaped }} "
                   "{{ x is not defined }} {{ not x is defined }}"),
            "True False True False True True");
}

TEST(JinjaMethods, StringMethods) {
  EXPECT_EQ(render("{{ 'a b  c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ '  a b c  "
                   "'.split(None, 1) }} "
                   "{{ 'a.b.c'.rsplit('.', 1) }} {{ '  a b c  '.rsplit(None, 1) }}"),
            "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a', 'b c  '] ['a.b', 'c'] ['  a b', 'c']");
  EXPECT_EQ(render("{{ '  x '.strip() }}|{{ '  x '.lstrip() }}|{{ '  x '.rstrip() }}|{{ 'xxhixx'.strip('x') }}|"
                   "{{ ' a\\nb\\r\\nc'.splitlines() }}"),
            "x|x |  x|hi|[' a', 'b', 'c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} "
                   "{{ 'héllo'.find('l') }} {{ 'abc'.rfind('x') }} {{ 'aXbX'.count('X') }} {{ 'a-b'.partition('-') }}"),
            "True True True 2 -1 2 ('a', '-', 'b')");
  EXPECT_EQ(
      render("{{ 'abc'.upper() }} {{ 'ÀÉ'.lower() }} {{ 'straße'.upper() }} {{ 'hello world'.title() }} "
             "{{ 'x'.join(['a', 'b']) }} {{ 'ab'.replace('b', 'c') }} {{ '{} {}'.format(1, 'a') }} {{ '7'.zfill(3) }}"),
      "ABC àé STRASSE Hello World axb ac 1 a 007");
  EXPECT_EQ(
      render("{{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'prefix-x'.removeprefix('prefix-') }}"),
      "True True True x");
  EXPECT_EQ(error_of("{{ 'abc'.index('z') }}"), "template 't', line 1, column 9: substring not found");
}

TEST(JinjaMethods, DictAndListMethods) {
  EXPECT_EQ(
      render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 5) }} {{ {'a': 1}.keys()|list }} "
             "{{ {'a': 1}.values()|list }} {{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }}"),
      "1 None 5 ['a'] [1] 2 1");
  // transformers renders in an immutable sandbox.
  EXPECT_EQ(error_of("{{ [1].append(2) }}"),
            "template 't', line 1, column 7: access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(error_of("{% set d = {} %}{{ d.update({'a': 1}) }}"),
            "template 't', line 1, column 21: access to attribute 'update' of 'dict' object is unsafe.");
}

TEST(JinjaGlobals, RangeDictNamespaceRaise) {
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(0)|list }} {{ dict(a=1, b='x') }}"),
            "[0, 1, 2] [1, 4, 7] [] {'a': 1, 'b': 'x'}");
  EXPECT_EQ(error_of("{{ raise_exception('bad ' ~ 1) }}"), "template 't', line 1, column 4: bad 1");
  EXPECT_EQ(error_of("{{ range(1, 2, 0) }}"), "template 't', line 1, column 4: range() arg 3 must not be zero");
}

TEST(JinjaUndefined, BehavesLikeJinjaDefaultUndefined) {
  EXPECT_EQ(render("[{{ u }}]{{ u|string }}{{ u|join(',') }}{{ u|upper }}{{ u|trim }}{% for x in u %}x{% endfor %}"
                   "{{ u is defined }} {{ u == u }} {{ none == u }} {{ [u] }}"),
            "[]False True False [Undefined]");
  EXPECT_EQ(error_of("{{ u.x }}"), "template 't', line 1, column 5: 'u' is undefined");
  EXPECT_EQ(error_of("{{ u + 1 }}"), "template 't', line 1, column 6: 'u' is undefined");
  EXPECT_EQ(error_of("{{ u() }}"), "template 't', line 1, column 4: 'u' is undefined");
  EXPECT_EQ(error_of("{% for x in none %}{% endfor %}"),
            "template 't', line 1, column 1: 'NoneType' object is not iterable");
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("line one\n  {% if x %}\n  never closed"),
            "template 't', line 2, column 3: 'if' is never closed: expected 'elif', 'else' or 'endif'");
  EXPECT_EQ(error_of("{{ x | nosuchfilter }}"), "template 't', line 1, column 8: no filter named 'nosuchfilter'");
  EXPECT_EQ(error_of("{% if x is nosuchtest %}{% endif %}"),
            "template 't', line 1, column 12: no test named 'nosuchtest'");
  EXPECT_EQ(error_of("é{{ (1 + }}"), "template 't', line 1, column 10: unexpected '}', expected ')'");
  EXPECT_EQ(error_of("{{ 1 + }}"),
            "template 't', line 1, column 8: unexpected end of print statement, expected an expression");
  EXPECT_EQ(error_of("{% endfor %}"), "template 't', line 1, column 1: unexpected 'endfor' tag");
  EXPECT_EQ(error_of("{% frobnicate %}"), "template 't', line 1, column 1: unknown tag 'frobnicate'");
  EXPECT_EQ(error_of("{% break %}"), "template 't', line 1, column 1: 'break' outside of a loop");
  EXPECT_EQ(error_of("{{ 'abc }}"), "template 't', line 1, column 4: unterminated string literal");
  EXPECT_EQ(error_of("a\n{# open"), "template 't', line 2, column 1: missing end of comment tag");
  EXPECT_EQ(error_of("{{ x ]}}"), "template 't', line 1, column 6: unexpected ']'");
  EXPECT_EQ(error_of("{{ x"), "template 't', line 1, column 1: unexpected end of template, missing '}}'");
}

TEST(JinjaErrors, HostileTemplatesFailInsteadOfCrashing) {
  std::string deep = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(error_of("{{ " + deep + " }}").find("nested more than"), std::string::npos);
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
  EXPECT_NE(error_of(blocks).find("nested more than"), std::string::npos);
  EXPECT_NE(error_of("{{ range(100000000)|length }}").find("range() of more than"), std::string::npos);
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("maximum recursion depth exceeded"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 10000000000 }}").find("result larger than"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}")
                .find("nested deeper than"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}").find("too deeply"), std::string::npos);
  RenderOptions few_steps;
  few_steps.max_steps = 1000;
  EXPECT_EQ(
      error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", Json::object(), few_steps),
      "template 't', line 1, column 26: template ran more than 1000 steps");
  EXPECT_EQ(render("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}"), "");
}

}  // namespace
}  // namespace dseek::jinja
