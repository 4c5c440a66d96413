"""Carbon performance parameter formulas: arithmetic over named inventory quantities, in Decimal.

A formula is an expression such as ``unit.KILN1 / production.CLK`` or ``category.combustion + 0``:
numbers, names (``total``, ``category.X``, ``unit.X``, ``production.X``), + − × ÷ and parentheses. Nothing
else is accepted: the expression is parsed with ``ast`` and walked, never evaluated by Python.
"""

import ast
from collections.abc import Mapping
from decimal import Decimal, DivisionByZero, InvalidOperation

_OPERATORS = {
    ast.Add: Decimal.__add__,
    ast.Sub: Decimal.__sub__,
    ast.Mult: Decimal.__mul__,
    ast.Div: Decimal.__truediv__,
}


class FormulaError(ValueError):
    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    raise FormulaError("公式中有不支持的写法", f"unsupported expression {ast.dump(node)[:60]}")


def names_in(formula: str) -> set[str]:
    """The variable names a formula uses (after checking its syntax)."""
    tree = _parse(formula)
    return {
        _name(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Name)
        and not isinstance(getattr(node, "ctx", None), ast.Store)
    } - _inner_names(tree)


def _inner_names(tree: ast.AST) -> set[str]:
    # ``unit.KILN1`` also walks its inner ``unit``: only the outermost name counts.
    return {_name(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def _parse(formula: str) -> ast.Expression:
    try:
        return ast.parse(formula.strip(), mode="eval")
    except SyntaxError:
        raise FormulaError(f"公式写法有误：{formula}", f"the formula is not valid: {formula}") from None


def evaluate(formula: str, variables: Mapping[str, Decimal]) -> Decimal:
    def walk(node: ast.AST) -> Decimal:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return Decimal(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            try:
                return _OPERATORS[type(node.op)](left, right)
            except (DivisionByZero, InvalidOperation, ZeroDivisionError):
                raise FormulaError("公式除数为零", "the formula divides by zero") from None
        if isinstance(node, ast.Name | ast.Attribute):
            name = _name(node)
            if name not in variables:
                raise FormulaError(f"没有名为 {name} 的数据", f"no quantity named {name}")
            return variables[name]
        raise FormulaError("公式中有不支持的写法", "only numbers, names, + - * / and parentheses are allowed")

    return walk(_parse(formula))
