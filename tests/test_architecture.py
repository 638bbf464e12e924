"""Guards of the architecture that docs/architecture.md describes: the import graph has no cycle (function-level
imports included), function-level imports guard only heavy or optional modules, no function is long, and every
registry matches the choices its spec offers."""

import ast
import functools
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from tests.conftest import ROOT

PACKAGES = ("edgebench", "device_agent")
# What a function-level import may guard: heavy or optional modules (torch, TensorFlow, onnx2tf, a runtime or an
# extra), imported only where they are used.
HEAVY = frozenset({"torch", "torchvision", "tensorflow", "tf_keras", "onnx2tf", "onnx", "onnxruntime", "onnxsim",
                   "onnxslim", "ai_edge_litert", "tflite_runtime", "matplotlib", "plotly", "ray", "fastapi",
                   "uvicorn", "sqlalchemy", "alembic", "httpx", "psycopg", "selenium", "jsonschema", "yaml", "psutil",
                   "onnxscript", "PIL", "scipy", "sklearn", "click", "numpy", "torch_pruning", "tqdm",
                   "fvcore"})
MAX_FUNCTION_LINES = 60


@functools.lru_cache(maxsize=None)
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@functools.lru_cache(maxsize=None)
def function_nodes(path: Path) -> frozenset:
    """The ids of every node inside a function of the file."""
    return frozenset(id(node) for fn in ast.walk(parsed(path)) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                     for node in ast.walk(fn) if node is not fn)


@functools.lru_cache(maxsize=None)
def modules() -> Dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(name: str, known: Dict[str, Path]) -> List[str]:
    """`name` and the packages above it that are ours: what importing it runs."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in known]


def imports(module: str, path: Path, known: Dict[str, Path]) -> Iterator[Tuple[str, int, bool]]:
    """(imported module of ours, line, at function level) for every import statement in the file."""
    tree, nested = parsed(path), function_nodes(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        names: List[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for name in names:
            yield name, node.lineno, id(node) in nested


def graph() -> Dict[str, Set[str]]:
    known = modules()
    edges: Dict[str, Set[str]] = {name: set() for name in known}
    for module, path in known.items():
        own = {".".join(module.split(".")[:i]) for i in range(1, len(module.split(".")) + 1)}
        for name, _, _ in imports(module, path, known):
            edges[module].update(target for target in _resolve(name, known) if target not in own)
    return edges


def find_cycle(edges: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_lazy_ones_included():
    edges = graph()
    assert len(edges) > 150 and "device_agent.formats" in edges["edgebench.export.spec"]
    assert find_cycle(edges) == []


def test_the_agent_imports_nothing_of_edgebench():
    known = modules()
    for module, path in known.items():
        if module.startswith("device_agent"):
            leaked = [f"{name} (line {line})" for name, line, _ in imports(module, path, known)
                      if name.split(".")[0] == "edgebench"]
            assert leaked == [], f"{module} imports {leaked}"


# Modules not yet held to the import rule below (every other module of both packages is).
# `import edgebench` stays light by loading the API on first use (PEP 562 `__getattr__`): its imports wait on purpose.
NOT_YET = ("edgebench/__init__.py",)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(kind, ast.Name) and kind.id in ("ImportError", "ModuleNotFoundError") for kind in kinds)


def _function_imports(path: Path) -> Iterator[Tuple[ast.stmt, bool]]:
    """Each import inside a function, and whether a `try` around it handles ImportError."""
    tree = parsed(path)
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            guarded.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node, id(node) in guarded


@functools.lru_cache(maxsize=None)
def _loads_heavy(module: str) -> bool:
    """Whether importing our `module` loads a heavy or optional module (through its module-level imports)."""
    known, seen, todo = modules(), set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        path = known[current]
        for name, _, nested in imports(current, path, known):
            if nested:
                continue
            if name.split(".")[0] in HEAVY - {"numpy"}:  # numpy is a dependency of both packages
                return True
            todo.extend(_resolve(name, known))
    return False


def _strict_files() -> List[Path]:
    return [path for path in modules().values()
            if not any(str(path.relative_to(ROOT)).startswith(entry) for entry in NOT_YET)]


def test_function_level_imports_guard_only_heavy_modules():
    """A function-level import names a heavy or optional module (or one of ours that loads one) and says so in a
    comment (on its line or the one above), or sits in a `try` that handles its ImportError."""
    files = _strict_files()
    assert len(files) > 150
    known, wrong = modules(), []
    for path in files:
        lines = path.read_text().splitlines()
        module = next(name for name, where in known.items() if where == path)
        for node, guarded in _function_imports(path):
            name = node.names[0].name if isinstance(node, ast.Import) else (node.module or "")
            if isinstance(node, ast.ImportFrom) and node.level:  # relative: one of ours
                parts = module.split(".")
                name = ".".join(parts[:len(parts) - node.level + (path.name == "__init__.py")] + [name])
            said = "#" in lines[node.lineno - 1] or lines[node.lineno - 2].strip().startswith("#")
            ours = name.split(".")[0] in PACKAGES
            targets = [f"{name}.{alias.name}" if f"{name}.{alias.name}" in known else name for alias in node.names]
            heavy = any(_loads_heavy(found) for target in targets for found in _resolve(target, known)) if ours \
                else name.split(".")[0] in HEAVY
            if not (guarded or (heavy and said)):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert wrong == []


LONG_ALLOWED: set = set()  # none: every function fits in one screen


def test_no_function_is_over_sixty_lines():
    long = []
    for module, path in modules().items():
        for fn in ast.walk(parsed(path)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.end_lineno - fn.lineno + 1 > \
                    MAX_FUNCTION_LINES and (str(path.relative_to(ROOT)), fn.name) not in LONG_ALLOWED:
                long.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({fn.end_lineno - fn.lineno + 1} lines)")
    assert long == []


def test_registries_equal_the_choices_they_offer():
    """The recipes of docs/architecture.md stay true: each registry is what its spec and command line offer."""
    from device_agent.backends.base import BACKENDS
    from device_agent.cli import build_parser
    from device_agent.formats import FORMATS as CONTRACT
    from edgebench.export.spec import FORMATS, WRITERS, Format
    from edgebench.models.variants.kinds import BLOCK_KINDS, LAYER_KINDS

    assert list(CONTRACT) == [f.value for f in Format] == [f.value for f in FORMATS] == list(WRITERS)
    backend_help = next(a.help for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions
                        if "--backend" in a.option_strings)
    assert all(name in backend_help for name in BACKENDS) and set(BACKENDS) == {*{r.runtime for r in CONTRACT.values()},
                                                                                  "null"}
    pytest.importorskip("torch")
    from edgebench.models.variants.resnet import BLOCKS
    from edgebench.models.variants.vgg import LAYERS

    assert set(BLOCK_KINDS) == set(BLOCKS) and set(LAYER_KINDS) == set(LAYERS)


def test_every_file_the_architecture_page_names_exists():
    page = (ROOT / "docs" / "architecture.md").read_text()
    import re

    named = set(re.findall(r"`((?:edgebench|device_agent|tests|bench|docs)/[A-Za-z0-9_./*-]+)`", page))
    assert len(named) >= 30
    missing = sorted(name for name in named if not (ROOT / name.rstrip("/")).exists() and "*" not in name
                     and "NAME" not in name)
    assert missing == []


def test_the_architecture_page_is_the_readmes_first_link():
    import re

    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert links[0] == "docs/architecture.md"
