"""Declaring the node's parameters so that no start-up value can kill the process.

rclpy raises at ``declare_parameter`` when a ``-p`` override has the wrong type or is outside
the descriptor's range (``-p nominal_fps:=25`` is an *integer* literal for a double parameter,
``-p max_faces:=0`` is out of range): an uncaught traceback and exit 1. Here:

* double parameters are declared with dynamic typing, so an integer literal is accepted and
  stored as the double it means (anything that is not a number is refused by the table's
  validation, as at run time);
* any other refused start-up value is replaced by the default *and remembered*: configure then
  fails naming every refused value and why, ``/diagnostics`` shows it (ERROR, ``last_error``),
  and setting a valid value (``ros2 param set``) clears it, so a lifecycle manager can retry.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.parameter import Parameter

from me_perception.ros.parameters import ParameterSpec


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """The descriptor ``ros2 param describe`` shows: description, range, allowed choices."""
    d = ParameterDescriptor(description=spec.description)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    if isinstance(spec.default, float):
        d.dynamic_typing = True  # integer literals are accepted and stored as doubles
        d.additional_constraints = "a number (an integer literal is taken as a double)"
    if spec.low is not None and not isinstance(spec.default, bool):
        if isinstance(spec.default, int):
            d.integer_range = [
                IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=0)
            ]
        else:
            d.floating_point_range = [
                FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high), step=0.0)
            ]
    return d


def declare_parameters(node: Any, specs: tuple[ParameterSpec, ...]) -> dict[str, str]:
    """Declare every parameter; returns {name: reason} for start-up values that were refused
    (those parameters hold their default)."""
    refused: dict[str, str] = {}
    for spec in specs:
        desc = descriptor(spec)
        try:
            value = node.declare_parameter(spec.name, spec.default, desc).value
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            node.declare_parameter(spec.name, spec.default, desc, ignore_override=True)
            refused[spec.name] = _reason(spec, str(exc))
            continue
        reason = spec.validate(value)
        if reason is not None:
            node.set_parameters([Parameter(spec.name, value=spec.default)])
            refused[spec.name] = _reason(spec, reason)
        elif isinstance(spec.default, float) and not isinstance(value, float):
            node.set_parameters([Parameter(spec.name, Parameter.Type.DOUBLE, float(value))])
    return refused


def _reason(spec: ParameterSpec, why: str) -> str:
    return f"{spec.name}: start-up value refused ({why}); it holds the default {spec.default!r}"
