"""Graphviz pictures of lazy graphs: one box per node with its user line, fused regions as clusters."""
import os
import shutil
import subprocess

__all__ = ["to_dot", "write"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(nodes, name: str = "lazyplus") -> str:
    """DOT source for a node table (as ``Graph.nodes()`` returns it)."""
    lines = [f"digraph {_quote(name)} {{", '  node [shape=box, fontname="monospace", fontsize=10];']

    def box(i, node):
        label = node["text"] + (f"\n{node['source']}" if node["source"] else "")
        style = ', style="rounded,dashed"' if node["parameter"] else ""
        return f"n{i} [label={_quote(label)}{style}];"

    regions = {}
    for i, node in enumerate(nodes):
        if node["region"] is None:
            lines.append("  " + box(i, node))
        else:
            regions.setdefault(node["region"], []).append(i)
    for region, members in sorted(regions.items()):
        lines.append(f"  subgraph cluster_{region} {{")
        lines.append(f'    label="fused region {region}"; style=filled; color="#dbe9f6";')
        lines += ["    " + box(i, nodes[i]) for i in members]
        lines.append("  }")
    for i, node in enumerate(nodes):
        lines += [f"  n{j} -> n{i};" for j in node["operands"]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(dot: str, path: str) -> str:
    """Writes ``dot`` to ``path`` as the format its suffix names (.dot, .svg, .png, .pdf)."""
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    if fmt in ("dot", "gv"):
        with open(path, "w") as f:
            f.write(dot)
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("lazyplus: rendering needs graphviz's `dot` on PATH (apt install graphviz); "
                           "a path ending in .dot writes the DOT source without it")
    subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot.encode(), check=True, capture_output=True)
    return path
