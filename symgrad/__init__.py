"""symgrad: see and check gradients by backpropagation through a computational graph.

    >>> import symgrad
    >>> graph = symgrad.parse("f(x,y,z) = (x+y)*z")
    >>> trace = symgrad.evaluate(graph, {"x": -2, "y": 5, "z": -4})
    >>> float(trace.value), {k: float(v) for k, v in trace.gradient.items()}
    (-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .engine import Trace, evaluate
from .errors import SymgradError
from .graph import Graph, Node, build
from .records import Record, records


def parse(text: str, *, expand: bool = False) -> Graph:
    """Parse a program into its computational graph.  Raises SymgradError (kind "syntax",
    "name", "arity", ...) for a program that is not valid, as the command line does."""
    if not isinstance(text, str):
        raise SymgradError("usage", f"a program is text, not {type(text).__name__}")
    return build(text, expand=expand)


def gradient(text: str, **at: Any) -> tuple[float, dict[str, Any]]:
    """The value and the gradient of a program with a scalar output at a point: the value as a
    float, each input's gradient as a float (a scalar input) or a NumPy array shaped like the
    input (a vector or matrix given as nested lists or an array).

    >>> gradient("f(x) = x*x + x", x=3)
    (12.0, {'x': 7.0})
    >>> gradient("f(W, x) = sum(W @ x)", W=[[1, 2], [3, 4]], x=[1, 1])[1]["x"]
    array([4., 6.])

    Raises SymgradError, as the command line reports it: "binding" for a missing, unknown or
    non-numeric value, "shape" for shapes that do not fit or a vector output (use evaluate,
    which gives the Jacobian), and the parser's kinds for an invalid program.
    """
    trace = evaluate(parse(text), at)
    if trace.out_shape != ():
        raise SymgradError("shape", f"gradient() needs a scalar output, but {trace.graph.output_name} has shape "
                           f"{trace.out_shape}", hint="use symgrad.evaluate, whose trace.gradient is the Jacobian")
    return float(trace.value), {k: float(v) if v.shape == () else v for k, v in trace.gradient.items()}


__all__ = [
    "Graph", "Node", "Record", "SymgradError", "Trace", "__version__", "build", "evaluate",
    "gradient", "parse", "records",
]
