"""The layers of docs/architecture.md "How the pieces fit" point down only: every import of every module
(top level or inside a function) is read with ``ast`` and checked against the table."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "revenue": ("flows", "cli", "bench", "tests", "testkit"),
    "revenue.io": ("revenue.stages", "revenue.status", "revenue.quality", "revenue.verify", "revenue.grid"),
    "revenue.quality": ("revenue.io", "revenue.stages", "revenue.status"),
    "revenue.transforms": ("revenue.io", "revenue.quality", "revenue.stages", "blocks", "prefect"),
    "blocks": ("flows", "cli", "revenue.io", "revenue.stages", "revenue.status", "revenue.quality"),
    "flows": ("cli", "bench", "tests", "testkit"),
    "cli": ("bench", "tests", "testkit"),
    "bench": ("tests",),
    "tests": ("bench",),
    "testkit": ("flows", "cli", "bench", "tests"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_every_import_points_down_the_layers():
    breaches = []
    for package in {p.split(".")[0] for p in FORBIDDEN}:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = module_name(path)
            rules = [forbidden for layer, forbidden in FORBIDDEN.items() if within(module, layer)]
            for imported in sorted(imports_of(path)):
                for forbidden in rules:
                    hit = next((f for f in forbidden if within(imported, f)), None)
                    if hit and not within(module, hit):
                        breaches.append(f"{module} imports {imported} (its layer may not import {hit})")
    assert not breaches, "\n".join(breaches)


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from flows.partition import plan_partitions\n")
    assert "flows.partition" in imports_of(module)


def test_the_stages_import_without_prefect():
    """The per-partition work is plain functions: the benchmark (and anyone) runs it bare."""
    import subprocess
    import sys

    probe = (
        "import sys, revenue.stages, revenue.catalog; print(sorted(m for m in sys.modules if m.startswith('prefect')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", result.stdout
