"""A finished job's network as an ONNX model (``GET /v1/jobs/{id}/model.onnx``).

The graph is the forward pass of docs/design.md §1.1, one ``Gemm`` per layer
(``z = a Wᵀ + b`` with Nielsen's ``W`` stored as is and ``transB = 1``) followed by the
layer's activation (``Sigmoid``, ``Tanh``, ``Relu``, ``Softmax`` on the last axis,
``Identity``), in the job's dtype. Input ``inputs`` ``[N, n_0]``; output ``outputs``
``[N, n_L]``; for classification a second output ``labels`` ``[N]`` (strings): the class
names ``POST /v1/jobs/{id}/predict`` returns (``ArgMax``, or ``outputs >= 0.5`` for one
output, then a ``Gather`` from the class names).

Opset 17 (default domain) and IR version 8: every operator used has had its current
semantics since opset 13, and runtimes from onnxruntime 1.12 (2022) on load it.
Metadata properties (``backprop.*``) carry the job id, the dataset's SHA-256, the
network spec, the training config and the final metrics.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

from app.db.models import ACTIVE_STATUSES, Job
from app.errors import Conflict
from app.nn import Network
from app.services import jobs

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto, TensorProto

OPSET = 17
IR_VERSION = 8
_ACTIVATIONS = {
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "identity": "Identity",
    "softmax": "Softmax",
}


def model_onnx(session: Session, job_id: str) -> bytes:
    """The ONNX model of job ``job_id``: NotFound, or Conflict without weights."""
    return onnx_bytes(jobs.get(session, job_id, weights=True))


def exportable(job: Job) -> Network:
    """The network of a finished job that has weights; Conflict otherwise."""
    if job.status in ACTIVE_STATUSES:
        raise Conflict(
            f"job {job.id!r} is {job.status} and has no weights yet; export it once it has finished"
        )
    if job.weights is None:
        why = f" ({job.error})" if job.error else ""
        raise Conflict(f"job {job.id!r} {job.status} without weights{why}; nothing to export")
    return Network.from_npz(job.weights)


def onnx_bytes(job: Job) -> bytes:
    """The serialized ONNX model of a finished job (checked by ``onnx.checker``)."""
    import onnx

    model = build(exportable(job), job)
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString())


def build(net: Network, job: Job) -> ModelProto:
    """The ONNX model of ``net``, with ``job``'s class names and metadata."""
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if net.dtype == "float32" else TensorProto.DOUBLE
    initializers: list[TensorProto] = []
    nodes: list[NodeProto] = []
    current = "inputs"
    last = len(net.params) - 1
    for i, (w, b, act) in enumerate(zip(net.weights, net.biases, net.activations, strict=True)):
        layer = f"layer{i + 1}"
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(w), f"{layer}.weight"),
            numpy_helper.from_array(np.ascontiguousarray(b), f"{layer}.bias"),
        ]
        z, a = f"{layer}.z", "outputs" if i == last else f"{layer}.a"
        nodes.append(
            helper.make_node(
                "Gemm", [current, f"{layer}.weight", f"{layer}.bias"], [z], transB=1, name=layer
            )
        )
        extra: dict[str, Any] = {"axis": -1} if act == "softmax" else {}
        nodes.append(helper.make_node(_ACTIVATIONS[act], [z], [a], name=f"{layer}.{act}", **extra))
        current = a
    n_in, n_out = net.sizes[0], net.sizes[-1]
    outputs = [helper.make_tensor_value_info("outputs", elem, ["N", n_out])]
    if job.task == "classification":
        names = list(job.classes or [str(i) for i in range(max(2, n_out))])
        initializers.append(numpy_helper.from_array(np.array(names, dtype=object), "classes"))
        nodes += _label_nodes(helper, numpy_helper, net, n_out)
        outputs.append(helper.make_tensor_value_info("labels", TensorProto.STRING, ["N"]))
    graph = helper.make_graph(
        nodes,
        f"backprop_{job.id}",
        [helper.make_tensor_value_info("inputs", elem, ["N", n_in])],
        outputs,
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="backprop",
        producer_version=_version(),
        doc_string=f"Backprop job {job.id}: {net!r}",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, properties(job, net))
    return model


def _label_nodes(helper: Any, numpy_helper: Any, net: Network, n_out: int) -> list[NodeProto]:
    """``labels``: the predicted class index (as ``app.nn.predict_labels``) -> its name."""
    if n_out == 1:
        half = numpy_helper.from_array(np.array(0.5, dtype=net.dtype))
        flat = numpy_helper.from_array(np.array([-1], dtype=np.int64))
        index = [
            helper.make_node("Constant", [], ["labels.half"], value=half),
            helper.make_node("GreaterOrEqual", ["outputs", "labels.half"], ["labels.positive"]),
            helper.make_node("Cast", ["labels.positive"], ["labels.index2d"], to=7),  # INT64
            helper.make_node("Constant", [], ["labels.flat"], value=flat),
            helper.make_node("Reshape", ["labels.index2d", "labels.flat"], ["labels.index"]),
        ]
    else:
        index = [
            helper.make_node("ArgMax", ["outputs"], ["labels.index"], axis=1, keepdims=0),
        ]
    return [*index, helper.make_node("Gather", ["classes", "labels.index"], ["labels"], axis=0)]


def properties(job: Job, net: Network) -> dict[str, str]:
    """The model's metadata properties (strings; JSON for structures)."""
    return {
        "backprop.job_id": job.id,
        "backprop.status": job.status,
        "backprop.dataset_sha256": job.dataset_sha256 or "",
        "backprop.task": job.task,
        "backprop.classes": json.dumps(job.classes),
        "backprop.dtype": net.dtype,
        "backprop.network": json.dumps(job.network, sort_keys=True),
        "backprop.training": json.dumps(job.training, sort_keys=True),
        "backprop.final_metrics": json.dumps(job.final_metrics, sort_keys=True),
    }


def _version() -> str:
    try:
        return metadata.version("backprop")
    except metadata.PackageNotFoundError:
        return "unknown"
