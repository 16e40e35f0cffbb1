"""The layers hold (issue 20): the core is pure, the runtime knows no mitmproxy.

Checked on the source, by AST, so an import inside a function counts as much as one at the
top of a module:

- ``sigv4_inspector/core`` imports only the modules in :data:`CORE_ALLOWED` (pure standard
  library, two computation libraries, and the core itself), never one of :data:`FORBIDDEN`
  (mitmproxy, botocore, threads, subprocesses, sockets, event loops, the ``time`` module),
  calls no clock (``datetime.now``/``utcnow``, ``date.today``) and opens no file: "now" is
  an input, so the same input gives the same output on any machine;
- ``sigv4_inspector/runtime`` never imports mitmproxy nor the addon layer;
- importing every core module in a fresh interpreter loads no mitmproxy, botocore or boto3
  (a transitive import through an allowed library would show there).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import sigv4_inspector

PACKAGE = Path(sigv4_inspector.__file__).resolve().parent
CORE = PACKAGE / "core"
RUNTIME = PACKAGE / "runtime"

#: Never in the core, named by issue 20 (I/O, concurrency, clocks, the proxy, botocore).
FORBIDDEN = frozenset(
    {
        "mitmproxy",
        "botocore",
        "boto3",
        "subprocess",
        "threading",
        "_thread",
        "multiprocessing",
        "concurrent",
        "socket",
        "ssl",
        "select",
        "selectors",
        "asyncio",
        "time",
        "os",
        "pathlib",
        "shutil",
        "tempfile",
        "fcntl",
        "signal",
        "random",
        "secrets",
        "uuid",
        "importlib",
    }
)

#: What the core may import (top-level names). Each is pure computation over its inputs:
#: adding one here is a decision, with the reason beside it.
CORE_ALLOWED = frozenset(
    {
        "__future__",
        "sigv4_inspector",  # only sigv4_inspector.core.*: checked separately below
        # standard library, pure functions and data types
        "base64",
        "binascii",
        "collections",
        "dataclasses",
        "difflib",  # the AWS Signature view's line alignment (core/explain.py)
        "datetime",  # types and parsing only; "now" is an input (no now/utcnow/today below)
        "email",  # email.utils.parsedate_to_datetime for HTTP dates
        "enum",
        "functools",
        "textwrap",  # the AWS Signature view's wrapping (core/explain.py)
        "itertools",
        "hashlib",
        "hmac",
        "http",  # http.HTTPStatus (status phrases)
        "json",
        "re",
        "typing",
        "urllib",  # urllib.parse quoting/splitting
        "xml",  # xml.etree.ElementTree to parse AWS error bodies (bytes in, tree out)
        "zlib",  # crc32
        # computation libraries (no I/O): ECDSA for SigV4a, the CRC checksums S3 uses
        "cryptography",
        "awscrt",  # core/checksums.py imports awscrt.checksums lazily (CRC32C, CRC64NVME)
    }
)

#: Calls that read a clock or touch the outside world, by attribute name (any receiver:
#: ``datetime.now``, ``dt.datetime.utcnow``, ``date.today``) or by builtin name.
CLOCK_ATTRS = frozenset({"now", "utcnow", "today"})
IMPURE_BUILTINS = frozenset({"open", "input", "print", "exec", "eval", "__import__", "breakpoint"})


@dataclass(frozen=True)
class Use:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(PACKAGE.parent)}:{self.line}: {self.what}"


def _modules(layer: Path) -> list[Path]:
    return sorted(layer.rglob("*.py"))


def _package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1])  # the package the module lives in (for relative imports)


def imports(path: Path, as_path: Path | None = None) -> list[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in it (functions included), as absolute names;
    relative imports are resolved as if the file lived at ``as_path`` (default: ``path``)."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(as_path or path).split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return sorted(out)


def impure_calls(path: Path) -> list[Use]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[Use] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in CLOCK_ATTRS:
            found.append(Use(path, node.lineno, f"calls {ast.unparse(f)}() (a clock)"))
        elif isinstance(f, ast.Name) and f.id in IMPURE_BUILTINS:
            found.append(Use(path, node.lineno, f"calls {f.id}()"))
    return found


def test_the_layers_exist() -> None:
    assert (CORE / "__init__.py").is_file() and (RUNTIME / "__init__.py").is_file()
    assert len(_modules(CORE)) > 10


def test_the_allowed_list_and_the_forbidden_list_do_not_overlap() -> None:
    assert not CORE_ALLOWED & FORBIDDEN


def test_core_imports_only_pure_modules() -> None:
    bad: list[Use] = []
    for path in _modules(CORE):
        for line, name in imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                bad.append(Use(path, line, f"imports {name} (forbidden in the core)"))
            elif top not in CORE_ALLOWED:
                bad.append(Use(path, line, f"imports {name} (not in CORE_ALLOWED)"))
            elif top == "sigv4_inspector" and not (
                name == "sigv4_inspector.core" or name.startswith("sigv4_inspector.core.")
            ):
                bad.append(Use(path, line, f"imports {name} (the core imports only the core)"))
    assert not bad, "\n".join(map(str, bad))


def test_core_reads_no_clock_and_opens_nothing() -> None:
    bad = [use for path in _modules(CORE) for use in impure_calls(path)]
    assert not bad, "\n".join(map(str, bad))


def test_runtime_never_imports_mitmproxy_or_the_addon_layer() -> None:
    bad = [
        Use(path, line, f"imports {name}")
        for path in _modules(RUNTIME)
        for line, name in imports(path)
        if name.split(".")[0] == "mitmproxy"
        or name == "sigv4_inspector.addon"
        or name.startswith("sigv4_inspector.addon.")
    ]
    assert not bad, "\n".join(map(str, bad))


def test_the_checks_see_what_they_must(tmp_path: Path) -> None:
    """The AST checks catch imports inside functions, relative imports and clock calls on
    any receiver (on a sample module, not on the package)."""
    inside_core = CORE / "sample.py"  # where the sample pretends to live (never written)
    text = (
        "from . import model\n"
        "from ..runtime import feeder\n"
        "def f():\n"
        "    import time\n"
        "    from mitmproxy import http\n"
        "    import datetime as dt\n"
        "    return dt.datetime.now(), dt.date.today(), open('x')\n"
    )
    sample = tmp_path / "sample.py"
    sample.write_text(text)
    names = [n for _, n in imports(sample, as_path=inside_core)]
    assert names == [
        "sigv4_inspector.core",
        "sigv4_inspector.runtime",
        "time",
        "mitmproxy",
        "datetime",
    ]
    calls = [u.what for u in impure_calls(sample)]
    assert any("now" in c for c in calls) and any("today" in c for c in calls)
    assert any("open" in c for c in calls)


def test_importing_the_core_loads_no_proxy_and_no_botocore() -> None:
    names = [f"sigv4_inspector.core.{p.stem}" for p in _modules(CORE) if p.stem != "__init__"]
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"mitmproxy", "botocore", "boto3"}, sorted(loaded)
