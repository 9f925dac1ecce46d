"""symgrad: see and check gradients by backpropagation through a computational graph.

    >>> import symgrad
    >>> graph = symgrad.parse("f(x,y,z) = (x+y)*z")
    >>> trace = symgrad.evaluate(graph, {"x": -2, "y": 5, "z": -4})
    >>> float(trace.value), {k: float(v) for k, v in trace.gradient.items()}
    (-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})
"""

from __future__ import annotations

__version__ = "0.1.0"

from .engine import Trace, evaluate
from .errors import SymgradError
from .graph import Graph, Node, build
from .records import Record, records


def parse(text: str, *, expand: bool = False) -> Graph:
    """Parse a program into its computational graph."""
    return build(text, expand=expand)


def gradient(text: str, **at: float) -> tuple[float, dict[str, float]]:
    """The value and the gradient of a scalar program at a point, as plain floats.

    >>> gradient("f(x) = x*x + x", x=3)
    (12.0, {'x': 7.0})
    """
    trace = evaluate(parse(text), at)
    return float(trace.value), {k: float(v) for k, v in trace.gradient.items()}


__all__ = [
    "Graph", "Node", "Record", "SymgradError", "Trace", "__version__", "build", "evaluate",
    "gradient", "parse", "records",
]
