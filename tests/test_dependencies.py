"""Installs are reproducible: every imported package is declared, bounded and pinned.

``pyproject.toml`` declares what the code imports, each with an upper bound on its major, so a
plain ``pip install`` gets a working set; ``constraints.txt`` pins the exact set CI tests,
within those bounds. A fresh machine once pulled redis-py 8.2 and RQ 3 (nothing capped them)
and a third of the suite stalled; undeclared imports (click, werkzeug, wtforms, limits) worked
only because some other package happened to bring them.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_PACKAGES = {"adapters", "gateway", "workers", "leadgate", "tests", "bench"}
RUNTIME_CODE = ("adapters", "gateway", "workers", "leadgate")
DEVELOPMENT_CODE = ("tests", "bench")
UNBOUNDED_ALLOWED = re.compile(r"^types-")
"""Typing stubs follow their package's version scheme loosely and carry no code that runs."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def requirements(extra: str | None = None) -> list[Requirement]:
    table = project()
    texts = table["dependencies"] if extra is None else table["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def pinned() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[canonical(name)] = Version(version)
    return pins


def imported_top_levels(*folders: str) -> dict[str, str]:
    """Third-party top-level module -> one file importing it, over the given folders (absolute imports)."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL_PACKAGES and top != "__future__":
                        found.setdefault(top, str(path.relative_to(REPO_ROOT)))
    return found


def distributions_of(module: str) -> set[str]:
    return {canonical(d) for d in metadata.packages_distributions().get(module, [])}


def undeclared(imports: dict[str, str], declared: set[str]) -> list[str]:
    missing = []
    for module, where in sorted(imports.items()):
        providers = distributions_of(module)
        if not providers & declared:
            missing.append(f"{module} (imported in {where}; provided by {sorted(providers) or 'nothing installed'})")
    return missing


def test_every_package_the_code_imports_is_a_declared_dependency() -> None:
    declared = {canonical(r.name) for r in requirements()}
    missing = undeclared(imported_top_levels(*RUNTIME_CODE), declared)
    assert not missing, "imported but not in [project].dependencies: " + "; ".join(missing)


def test_every_package_the_tests_and_benchmarks_import_is_declared() -> None:
    declared = {canonical(r.name) for r in requirements() + requirements("test")}
    missing = undeclared(imported_top_levels(*DEVELOPMENT_CODE), declared)
    assert not missing, "imported by tests/ or bench/ but not declared: " + "; ".join(missing)


def test_every_dependency_caps_its_major() -> None:
    uncapped = [
        str(r)
        for r in requirements() + requirements("test")
        if not UNBOUNDED_ALLOWED.match(canonical(r.name))
        and not any(s.operator in ("<", "<=", "~=", "==") for s in r.specifier)
    ]
    assert not uncapped, f"no upper bound: {uncapped}"


def test_constraints_pin_every_declared_dependency_within_its_bounds() -> None:
    pins = pinned()
    problems = []
    for requirement in requirements() + requirements("test"):
        version = pins.get(canonical(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
        for extra in requirement.extras:
            for dependency in metadata.requires(requirement.name) or []:
                needed = Requirement(dependency)
                if needed.marker and needed.marker.evaluate({"extra": extra}) and canonical(needed.name) not in pins:
                    problems.append(f"{needed.name} (from {requirement.name}[{extra}]) is not pinned")
    assert not problems, "constraints.txt: " + "; ".join(problems)


def test_the_readme_and_ci_install_with_the_constraints() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    install = "pip install -c constraints.txt"
    assert install in ci, ".ci/run does not install the locked set"
    assert readme.count(install) >= 2, "the README's two commands do not both install the locked set"
