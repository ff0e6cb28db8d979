"""The package indexes, the README's layout and the import rules between packages stay true."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src" / "perflab"
TOOLS = ("gateway", "search", "etl", "stream", "bounded")
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
# A tool module another tool may import, and why, until it moves to services/.
ALLOWED_ACROSS_TOOLS: set[tuple[str, str]] = set()


def _index(package: str) -> list[str]:
    """The modules a package's docstring lists: indented `name   description` lines."""
    tree = ast.parse((SRC / package / "__init__.py").read_text())
    doc = ast.get_docstring(tree, clean=False) or ""
    return [m.group(1) for m in re.finditer(r"^ {4}(\w+) {2,}\S", doc, re.M)]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_index_lists_exactly_its_modules(package):
    present = sorted(p.stem for p in (SRC / package).glob("*.py") if p.stem != "__init__")
    assert sorted(_index(package)) == present


def test_readme_layout_names_every_package_and_top_level_module():
    readme = (REPO / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = layout.split("```", 2)[1]
    named = set(re.findall(r"^\s+(\w+)(?:/|\.py)\s", block, re.M))
    modules = {p.stem for p in SRC.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert named >= {*PACKAGES, *modules}
    assert named - {*PACKAGES, *modules} <= set(), named - {*PACKAGES, *modules}


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
    return found


def _violations(tool: str, path: Path) -> list[str]:
    out = []
    for name, line in _imports(path):
        parts = name.split(".")
        if parts[0] != "perflab" or len(parts) < 2:
            continue
        where = f"{path.name}:{line}: {name}"
        if parts[1] in TOOLS and parts[1] != tool:
            module = ".".join(parts[:3])
            if (tool, module) not in ALLOWED_ACROSS_TOOLS:
                out.append(f"{where} (another tool's module)")
        elif parts[1] in ("measure", "services", "report") and len(parts) > 2 \
                and parts[2].startswith("_"):
            out.append(f"{where} (a private module: import its public name)")
        elif parts[1] == "cases" and len(parts) > 2 and parts[2] == "perflab_command":
            out.append(f"{where} (moved to perflab.services)")
    return out


@pytest.mark.parametrize("tool", TOOLS)
def test_tools_import_other_packages_through_public_names(tool):
    bad = [v for path in sorted((SRC / tool).glob("*.py")) for v in _violations(tool, path)]
    assert bad == []


def test_the_import_rule_catches_a_bad_import(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from perflab.gateway.case import free_port\n"
                      "from perflab.measure._collectors import GcWatch\n"
                      "from perflab.cases import perflab_command\n"
                      "from perflab.search._walk import walk\n"
                      "from perflab.measure import GcWatch\n")
    bad = _violations("search", source)
    assert [b.split(" (")[0] for b in bad] == [
        "probe.py:1: perflab.gateway.case",
        "probe.py:1: perflab.gateway.case.free_port",
        "probe.py:2: perflab.measure._collectors",
        "probe.py:2: perflab.measure._collectors.GcWatch",
        "probe.py:3: perflab.cases.perflab_command",
    ]
