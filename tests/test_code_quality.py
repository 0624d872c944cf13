"""The static checks the house keeps, run as tests: ruff, mypy over the four packages, and the layering.

Both run from the repo root with the test run's own interpreter (``sys.executable -m ...``), so
they use the versions and config (``pyproject.toml``) the ``test`` extra installed, and each is
bounded by a timeout. A failure shows the tool's own report.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOL_TIMEOUT_SECONDS = 120
"""Per tool: a cold mypy run on adapters/ takes a few seconds, ruff well under one."""


def _run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m <args>`` in the repo root; fails the test (not hangs) past the timeout."""
    command = [sys.executable, "-m", *args]
    try:
        return subprocess.run(
            command,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not finish within {TOOL_TIMEOUT_SECONDS}s")


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def test_ruff_check_is_clean() -> None:
    result = _run_tool("ruff", "check", ".")
    assert result.returncode == 0, _report(result)


def test_mypy_is_clean_on_every_package() -> None:
    result = _run_tool("mypy", *PACKAGES)
    assert result.returncode == 0, _report(result)


# --- layering: imports point down only -------------------------------------------------------------------------

PACKAGES = ("leadgate", "adapters", "workers", "gateway")
OUTER_RING = ("leadgate.cli", "leadgate.sandbox")
"""The outermost code (the CLI, the dev server, the sandbox CRM and the process harness): may import anything."""
LAYERS = {
    "core": {"core"},
    "adapters": {"core", "adapters"},
    "workers": {"core", "adapters", "workers"},
    "gateway": {"core", "adapters", "gateway"},
    "outer": {"core", "adapters", "workers", "gateway", "outer"},
}
"""What each layer may import (besides the standard library and third-party packages)."""


def layer_of(module: str) -> str | None:
    """``leadgate.config`` -> ``core``; ``leadgate.cli.dev`` -> ``outer``; ``adapters.form`` -> ``adapters``."""
    if any(module == ring or module.startswith(ring + ".") for ring in OUTER_RING):
        return "outer"
    top = module.split(".")[0]
    return {"leadgate": "core", "adapters": "adapters", "workers": "workers", "gateway": "gateway"}.get(top)


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """``(line, imported module, inside a function or class)`` for every absolute import."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.lineno, child.module, nested))
            visit(child, inner)

    visit(tree, False)
    return found


def layering_violations(root: Path = REPO_ROOT) -> list[str]:
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(path, root)
            own = layer_of(importer)
            assert own is not None
            for line, imported, nested in imports_of(ast.parse(path.read_text(), filename=str(path))):
                target = layer_of(imported)
                where = f"{path.relative_to(root)}:{line} imports {imported}"
                if target is not None and target not in LAYERS[own]:
                    problems.append(f"{where}: the {own} layer may not import the {target} layer")
                if nested:
                    problems.append(f"{where} inside a function (move the import, or the concept, to module level)")
    return problems


def test_imports_point_down_only_and_sit_at_module_level() -> None:
    problems = layering_violations()
    assert not problems, "\n".join(problems)


def test_the_layering_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The check itself can fail: a core module importing a worker, and an import tucked into a function."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "leadgate" / "bad.py").write_text("from workers.delivery import deliver\n")
    (tmp_path / "gateway" / "also_bad.py").write_text("def f():\n    import workers.batch\n")
    (tmp_path / "workers" / "fine.py").write_text(
        "from adapters.form import parse\nfrom leadgate.config import Config\n"
    )
    problems = layering_violations(tmp_path)
    assert any("leadgate/bad.py:1 imports workers.delivery: the core layer" in p for p in problems), problems
    assert any("gateway/also_bad.py:2 imports workers.batch: the gateway layer" in p for p in problems), problems
    assert any("inside a function" in p for p in problems), problems
    assert not [p for p in problems if "fine.py" in p]


@pytest.mark.parametrize(
    "module",
    [
        "leadgate.config",
        "leadgate.events",
        "leadgate.intake",
        "leadgate.history",
        "leadgate.operations",
        "leadgate.queue",
        "leadgate.runtime",
        "leadgate.metrics",
        "leadgate.exposition",
        "leadgate.health",
        "leadgate.redaction",
        "leadgate.contract",
        "leadgate.model",
    ],
)
def test_a_core_module_imported_alone_loads_no_outer_package(module: str) -> None:
    code = (
        "import sys, importlib; importlib.import_module(sys.argv[1]); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('adapters', 'gateway', 'workers')); "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, module], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"importing {module} loaded {result.stdout.strip()} {result.stderr[-500:]}"
