"""The import graph of src/ss_predict: every import (function-local ones too) points to its own layer or a lower
one, and no modules import each other in a circle. The layer order is written here, and only here."""
import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).parents[1] / "src" / "ss_predict"
LAYERS = ["errors core", "config", "data", "models", "checkpoint weights", "inference", "evaluation", "training",
          "prediction", "api", "cli", "serve"]  # lowest first
RANK = {name: i for i, names in enumerate(LAYERS) for name in names.split()}
EXEMPT = {"ss_predict", "ss_predict.__main__"}  # __init__ re-exports the API lazily; __main__ runs the cli
MODULES = {".".join(("ss_predict", *p.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__"): p
           for p in ROOT.rglob("*.py")}


def import_graph() -> nx.DiGraph:
    """Module -> the ss_predict modules it imports (`from pkg import mod` counts as pkg.mod); EXEMPT left out."""
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                base = ".".join(filter(None, [package.rsplit(".", node.level - 1)[0] if node.level else "",
                                              node.module or ""]))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
            graph.add_edges_from((name, t) for t in targets if t in MODULES and t != name)
    graph.remove_nodes_from(EXEMPT)
    return graph


def layer(module: str) -> int:
    return RANK[module.split(".")[1]]


def test_every_package_has_a_layer():
    assert {m.split(".")[1] for m in MODULES if m not in EXEMPT} <= set(RANK)


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{a} -> {b}" for a, b in import_graph().edges if layer(b) > layer(a))
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    circles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)
