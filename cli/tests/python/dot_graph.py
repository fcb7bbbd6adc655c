"""Parses Graphviz DOT from stdin with pydot (a real DOT grammar) and prints its nodes and
edges as JSON, labels unquoted; exits 1 when the text is not valid DOT."""

import json
import sys

import pydot


def unquote(label):
    if label is None:
        return None
    if label.startswith('"') and label.endswith('"'):
        label = label[1:-1]
    out, index = [], 0
    while index < len(label):
        if label[index] == "\\" and index + 1 < len(label) and label[index + 1] in '"\\':
            out.append(label[index + 1])
            index += 2
        else:
            out.append(label[index])
            index += 1
    return "".join(out)


def main():
    graphs = pydot.graph_from_dot_data(sys.stdin.read())
    if not graphs or len(graphs) != 1:
        print("not one DOT graph", file=sys.stderr)
        sys.exit(1)
    graph = graphs[0]
    nodes = {node.get_name(): unquote(node.get_label()) for node in graph.get_nodes() if node.get_name() != "node"}
    edges = [[edge.get_source(), edge.get_destination(), unquote(edge.get_label())] for edge in graph.get_edges()]
    print(json.dumps({"type": graph.get_type(), "nodes": nodes, "edges": edges}))


main()
