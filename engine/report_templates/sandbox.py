"""An uploaded Word template is untrusted input: its Jinja runs in an immutable sandbox with no globals, an
allow-list of filters, no statements that define, import or accumulate (set, macro, call, with, include,
import, extends, recursive loops, autoescape switches), capped repetition and no string formatting, and
values escaped for the XML they land in. ``check`` reads every part docxtpl renders (body, headers,
footers, footnotes, document properties), names each placeholder the report type does not have and each
syntax error with where it is, then renders the template once with example values; ``render`` fills it."""

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from io import BytesIO
from typing import Any

from docx import Document
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS

from engine.forms.spec import Text
from engine.report_templates.registry import Placeholder, ReportType
from engine.reports.docx_layout import printable

FILTERS_ALLOWED = (
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
    "rejectattr", "reverse", "round", "select", "selectattr", "slice", "sort", "string", "striptags", "sum",
    "title", "trim", "truncate", "unique", "upper", "wordcount",
)  # fmt: skip
METHODS_ALLOWED = frozenset(
    {"get", "items", "keys", "values", "upper", "lower", "strip", "startswith", "endswith"}
)
MAX_REPEAT = 10_000  # characters or items a `*` may make
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")  # those docxtpl renders
REFUSED_STATEMENTS: dict[type[nodes.Node], str] = {
    nodes.Assign: "set", nodes.AssignBlock: "set", nodes.Macro: "macro", nodes.CallBlock: "call",
    nodes.With: "with", nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from … import",
    nodes.Extends: "extends", nodes.ScopedEvalContextModifier: "autoescape",
    nodes.EvalContextModifier: "autoescape", nodes.NSRef: "namespace",
}  # fmt: skip


class TemplateProblem(ValueError):
    """Why a template is refused (or could not be filled), in Chinese and English, one line per problem."""

    def __init__(self, problems: list[Text]) -> None:
        super().__init__("; ".join(p.en for p in problems))
        self.problems = problems

    @property
    def message_zh(self) -> str:
        return "\n".join(p.zh for p in self.problems)

    @property
    def message_en(self) -> str:
        return "\n".join(p.en for p in self.problems)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not allowed")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                repeated = isinstance(sequence, str | list | tuple) and isinstance(count, int)
                if repeated and len(sequence) * count > MAX_REPEAT:
                    raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is no exception: it is refused like every other method not allowed

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if callable(value) and attr not in METHODS_ALLOWED:
            return False  # no str.format, str.center(10**9) or other amplifier
        return bool(super().is_safe_attribute(obj, attr, value))


def sandbox() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(autoescape=True, undefined=StrictUndefined)
    env.globals.clear()  # no range, lipsum, cycler, joiner, namespace
    env.filters = {name: FILTERS[name] for name in FILTERS_ALLOWED}
    return env


@dataclass(frozen=True)
class Source:
    """One piece of the template that docxtpl renders as Jinja, with where it is for messages."""

    where: Text
    text: str


def sources(content: bytes) -> Iterator[Source]:
    template = DocxTemplate(BytesIO(content))
    template.init_docx()
    yield Source(Text(zh="正文", en="body"), _lines(template.patch_xml(template.get_xml())))
    for uri, where in (
        (template.HEADER_URI, Text(zh="页眉", en="header")),
        (template.FOOTER_URI, Text(zh="页脚", en="footer")),
    ):
        for _key, part in template.get_headers_footers(uri):
            yield Source(where, _lines(template.patch_xml(template.get_part_xml(part))))
    for part in template.docx.part.package.parts:
        if part.content_type.endswith(".footnotes+xml"):
            blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            yield Source(Text(zh="脚注", en="footnotes"), _lines(template.patch_xml(blob)))
    for name in PROPERTIES:
        value = getattr(template.docx.core_properties, name) or ""
        if "{" in value:
            yield Source(Text(zh=f"文档属性 {name}", en=f"document property {name}"), value)


def _lines(xml: str) -> str:
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)  # as docxtpl renders: one paragraph a line


def _snippet(source: Source, lineno: int | None) -> Text:
    lines = source.text.splitlines()
    line = lines[lineno - 1] if lineno and 0 < lineno <= len(lines) else ""
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", "", line)).split())[:80]
    return Text(
        zh=f"{source.where.zh}：“{shown}”" if shown else source.where.zh,
        en=f"{source.where.en}: “{shown}”" if shown else source.where.en,
    )


@dataclass
class _Check:
    kind: ReportType
    source: Source
    problems: list[Text] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def add(self, problem: Text) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def unknown(self, path: str, allowed: list[str] | None, node: nodes.Node) -> None:
        """``allowed``: the names allowed at that point; None when the value before the dot is text (or a
        list) and has no fields."""
        where = _snippet(self.source, node.lineno)
        if allowed is None:
            self.add(
                Text(
                    zh=f"未知的占位符 {path}（{where.zh}）：{path.rsplit('.', 1)[0]} 没有下级字段",
                    en=f"unknown placeholder {path} ({where.en}): {path.rsplit('.', 1)[0]} has no fields",
                )
            )
            return
        self.add(
            Text(
                zh=f"未知的占位符 {path}（{where.zh}）；此处可用：{'、'.join(allowed)}",
                en=f"unknown placeholder {path} ({where.en}); allowed here: {', '.join(allowed)}",
            )
        )

    def refuse(self, what: str, node: nodes.Node, why: Text | None = None) -> None:
        where = _snippet(self.source, node.lineno)
        self.add(
            Text(
                zh=f"模板中不允许使用 {what}{f'（{why.zh}）' if why else ''}（{where.zh}）",
                en=f"{what}{f' ({why.en})' if why else ''} is not allowed in a template ({where.en})",
            )
        )

    def visit(self, node: nodes.Node, scope: dict[str, Placeholder | None]) -> None:
        refused = REFUSED_STATEMENTS.get(type(node))
        if refused:
            self.refuse(f"{{% {refused} %}}", node)
            for name in _assigned(node):  # not reported again where it is used
                scope[name] = None
        elif isinstance(node, nodes.For):
            self.for_loop(node, scope)
        elif isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            self.shape(node, scope)
        elif isinstance(node, nodes.Filter | nodes.Test):
            is_filter = isinstance(node, nodes.Filter)
            if node.name not in (FILTERS_ALLOWED if is_filter else TESTS):
                self.refuse(f"{'filter' if is_filter else 'test'} {node.name}", node)
            for child in node.iter_child_nodes():
                self.visit(child, scope)
        else:
            for child in node.iter_child_nodes():
                self.visit(child, scope)

    def for_loop(self, node: nodes.For, scope: dict[str, Placeholder | None]) -> None:
        if node.recursive:
            self.refuse("{% for … recursive %}", node)
        item = self.shape(node.iter, scope)
        inner = dict(scope)
        targets = (
            [node.target] if isinstance(node.target, nodes.Name) else list(node.target.find_all(nodes.Name))
        )
        for target in targets:
            assert isinstance(target, nodes.Name)
            one = len(targets) == 1 and item is not None and item.many
            inner[target.name] = replace(item, many=False) if one and item is not None else None
        inner["loop"] = None
        if node.test is not None:
            self.visit(node.test, inner)
        for child in node.body:
            self.visit(child, inner)
        for child in node.else_:
            self.visit(child, scope)

    def shape(self, node: nodes.Node, scope: dict[str, Placeholder | None]) -> Placeholder | None:
        """What an expression is, when it is a placeholder, a row of one, or a field of a row; unknown names
        and fields are reported on the way."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            found = self.kind.placeholder(node.name)
            if found is None:
                self.unknown(node.name, self.kind.names, node)
            else:
                self.used.add(node.name)
            return found
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            key: Any = node.attr if isinstance(node, nodes.Getattr) else None
            if isinstance(node, nodes.Getitem):
                if not isinstance(node.arg, nodes.Const):
                    self.visit(node.arg, scope)
                    self.shape(node.node, scope)
                    return None
                key = node.arg.value
            if isinstance(key, str) and key.startswith("_"):
                self.refuse(
                    _path(node), node, Text(zh="以下划线开头的属性", en="an attribute starting with _")
                )
                return None
            base = self.shape(node.node, scope)
            if base is None:
                return None
            if isinstance(key, int) and base.many:
                return replace(base, many=False)
            found = base.field(key) if isinstance(key, str) and not base.many else None
            if found is None:
                fields = [f.name for f in base.fields] if base.fields and not base.many else None
                self.unknown(_path(node), fields, node)
            return found
        self.visit(node, scope)
        return None


def _assigned(node: nodes.Node) -> list[str]:
    if isinstance(node, nodes.Macro):
        return [node.name]
    target = getattr(node, "target", None)
    if isinstance(target, nodes.Node):
        return [name.name for name in target.find_all(nodes.Name)] + (
            [target.name] if isinstance(target, nodes.Name) else []
        )
    return []


def _path(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{_path(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_path(node.node)}[{node.arg.value!r}]"
    return "…"


def check(content: bytes, kind: ReportType) -> list[str]:
    """The placeholders the template uses, or TemplateProblem naming every unknown placeholder, syntax error
    and refused statement (where each is), or what went wrong filling it with example values."""
    env = sandbox()
    problems: list[Text] = []
    used: set[str] = set()
    for source in sources(content):
        try:
            tree = env.parse(source.text)
        except TemplateSyntaxError as error:
            where = _snippet(source, error.lineno)
            problems.append(
                Text(
                    zh=f"模板语法错误（{where.zh}）：{error.message}",
                    en=f"template syntax error ({where.en}): {error.message}",
                )
            )
            continue
        checked = _Check(kind=kind, source=source)
        checked.visit(tree, {})
        problems += checked.problems
        used |= checked.used
    if problems:
        raise TemplateProblem(problems)
    render(content, example_context(kind))
    return sorted(used)


def render(content: bytes, context: Mapping[str, Any]) -> bytes:
    """The template filled with ``context`` (its text made printable, escaped for XML by the sandbox)."""
    template = DocxTemplate(BytesIO(content))
    try:
        template.render(_printable(dict(context)), jinja_env=sandbox())
        properties = template.docx.core_properties
        for name in PROPERTIES:  # rendered with escaping meant for XML; python-docx escapes them itself
            setattr(properties, name, html.unescape(getattr(properties, name) or ""))
        buffer = BytesIO()
        template.save(buffer)
    except UndefinedError as error:
        raise _failed(
            "模板使用了报告中没有的值", "the template uses a value the report does not have", error
        ) from None
    except SecurityError as error:
        raise _failed(
            "模板尝试了不允许的操作，已被安全沙箱阻止", "the sandbox stopped a forbidden operation", error
        ) from None
    except TemplateError as error:
        raise _failed(
            "按模板生成文档时出错", "the document could not be made from the template", error
        ) from None
    except (
        RecursionError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        SyntaxError,
    ) as error:
        raise _failed(
            "按模板生成的文档无效", "the template made a document Word cannot open", error
        ) from None
    rendered = buffer.getvalue()
    if len(rendered) > MAX_OUTPUT_BYTES:
        raise TemplateProblem(
            [Text(zh="按模板生成的文档过大", en="the document made from the template is too large")]
        )
    try:
        Document(BytesIO(rendered))
    except Exception as error:  # noqa: BLE001 — whatever python-docx raises, the result is no document
        raise _failed(
            "按模板生成的文档无效", "the template made a document Word cannot open", error
        ) from None
    return rendered


def _failed(zh: str, en: str, error: BaseException) -> TemplateProblem:
    detail = " ".join(str(getattr(error, "message", None) or error).split())[:200]
    return TemplateProblem([Text(zh=f"{zh}：{detail}", en=f"{en}: {detail}")])


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


def example_context(kind: ReportType) -> dict[str, Any]:
    """Values of the right shape for every placeholder: two rows for each list."""
    return {p.name: _example(p) for p in kind.placeholders}


def _example(placeholder: Placeholder) -> Any:
    if not placeholder.fields:
        return placeholder.example or placeholder.zh.split("（")[0]
    row = {f.name: _example(f) for f in placeholder.fields}
    return [row, dict(row)] if placeholder.many else row
