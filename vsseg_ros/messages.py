"""The node's ROS types built from core values: parameter descriptors from the parameter
table, QoS profiles, the class map and the diagnostic status (images: ``image_conversion``)."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from vsseg.msg import ClassMap, SemanticClass
from vsseg_core.labels import IGNORE_ID, TRAIN_CLASSES
from vsseg_ros.parameters import BY_NAME

_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def descriptor(name: str) -> ParameterDescriptor:
    """The declaration of parameter ``name``: description (live or at configure), choices,
    range; doubles are dynamically typed so `-p budget_ms:=40` (an integer) is accepted
    (``ParameterSpec.check`` validates)."""
    spec = BY_NAME[name]
    result = ParameterDescriptor(description=spec.description + (" (live)" if spec.live else
                                                                  " (applies at configure)"))
    if spec.choices:
        result.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.low is not None and spec.kind == "integer":
        result.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high),
                                             step=0)]
    elif spec.low is not None:
        result.floating_point_range = [FloatingPointRange(from_value=float(spec.low),
                                                          to_value=float(spec.high), step=0.0)]
    if spec.kind == "double":
        result.dynamic_typing = True
    return result


def qos(reliability: str, depth: int, *, latched: bool = False) -> QoSProfile:
    """Keep-last ``depth`` with ``reliability`` ("best_effort" or "reliable"); ``latched``:
    transient local."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=_RELIABILITY[reliability],
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                      else DurabilityPolicy.VOLATILE)


def class_map(stamp: Time) -> ClassMap:
    """The 19 Cityscapes train classes with label ids, names and colours, and the ignore id."""
    classes = [SemanticClass(train_id=c.train_id, label_id=c.label_id, name=c.name,
                             color=list(c.color)) for c in TRAIN_CLASSES]
    message = ClassMap(classes=classes, ignore_id=IGNORE_ID)
    message.header.stamp = stamp
    return message


def diagnostic_array(name: str, level: int, message: str, hardware_id: str,
                     values: dict[str, object], stamp: Time) -> DiagnosticArray:
    """One DiagnosticStatus; floats shown with 3 decimals."""
    status = DiagnosticStatus(
        level=bytes([level]), name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
                for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
