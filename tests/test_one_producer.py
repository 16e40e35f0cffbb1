"""Each finding code is produced in exactly one place (issue 20, "each code produced by
exactly one rule").

Checked on the source, by AST, over the whole package (``sigv4_inspector/core``,
``sigv4_inspector/addon`` and the rest): every construction of a finding, a call of
``Finding(...)`` or of the rules' ``_f(...)``, names its code as a literal ``Code.X``
(``str(Code.X)`` too), and each member of :class:`~sigv4_inspector.core.codes.Code` appears
so in exactly one function. Only the two generic builders take a code from a variable:
``rules._f`` itself and ``rank._bounded`` (a copy of a finding, cut to size).
CHECK_UNAVAILABLE, which a rule, a failed rule and a failed inspection all report, comes
from ``rules.check_unavailable_finding``; FINDINGS_TRUNCATED only from ``rank.finalize``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sigv4_inspector
from sigv4_inspector.core.codes import Code

PACKAGE = Path(sigv4_inspector.__file__).resolve().parent

#: Callees that construct a finding.
BUILDERS = frozenset({"Finding", "_f"})

#: (module, function) that may pass a code they did not name themselves.
GENERIC = frozenset({("core/rules.py", "_f"), ("core/rank.py", "_bounded")})


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _code_arg(call: ast.Call) -> ast.expr | None:
    arg = call.args[0] if call.args else None
    for kw in call.keywords:
        if kw.arg == "code":
            arg = kw.value
    if (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Name)
        and arg.func.id == "str"
        and len(arg.args) == 1
    ):
        arg = arg.args[0]
    return arg


def _literal_code(arg: ast.expr | None) -> str | None:
    if (
        isinstance(arg, ast.Attribute)
        and isinstance(arg.value, ast.Name)
        and arg.value.id == "Code"
    ):
        return arg.attr
    return None


def _constructions() -> tuple[dict[str, set[str]], list[str]]:
    """Code name -> the functions ('module:function') that construct a finding with it,
    and the constructions whose code is not a literal (outside :data:`GENERIC`)."""
    producers: dict[str, set[str]] = defaultdict(set)
    loose: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

        def visit(node: ast.AST, function: str, module: str = module) -> None:
            for child in ast.iter_child_nodes(node):
                inner = function
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    inner = child.name
                if isinstance(child, ast.Call) and _callee(child) in BUILDERS:
                    arg = _code_arg(child)
                    name = _literal_code(arg)
                    if name is not None:
                        producers[name].add(f"{module}:{function}")
                    elif (module, function) not in GENERIC:
                        loose.append(
                            f"{module}:{function}:{child.lineno}: {ast.unparse(child)[:80]}"
                        )
                visit(child, inner)

        visit(tree, "<module>")
    return producers, loose


def test_every_finding_names_its_code_literally() -> None:
    _, loose = _constructions()
    assert loose == [], "findings built with a code from a variable or a string:\n" + "\n".join(
        loose
    )


def test_each_code_is_produced_by_exactly_one_function() -> None:
    producers, _ = _constructions()
    unknown = sorted(set(producers) - {c.name for c in Code})
    assert unknown == [], f"Code.X that is not a member: {unknown}"
    wrong = {
        c.name: sorted(producers.get(c.name, set()))
        for c in Code
        if len(producers.get(c.name, set())) != 1
    }
    assert wrong == {}, f"codes made in none or several functions: {wrong}"


def test_the_named_producers() -> None:
    producers, _ = _constructions()
    assert producers["CHECK_UNAVAILABLE"] == {"core/rules.py:check_unavailable_finding"}
    assert producers["FINDINGS_TRUNCATED"] == {"core/rank.py:finalize"}
