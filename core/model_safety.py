"""What a model file may do before this app runs it: the one allowlist of TensorFlow operations.

A SavedModel is a TensorFlow program: its serving function can read and write files, run Python
callbacks or reach the network. Before anything in one runs, `savedmodel_refusal` reads its
`saved_model.pb` (protobuf only, nothing executed) and checks every operation of every function in
it, nested calls and control-flow bodies included, against `ALLOWED_OPS`. The functions that only
TensorFlow's checkpoint saver calls may also use `CHECKPOINT_OPS`; the loader never runs them. A
`.tflite` file is checked for custom and Select TensorFlow ("Flex") operations by `tflite_refusal`.
Zipped uploads are checked by `check_zip` before anything is extracted. docs/model-safety.md lists
the allowlist for people; a test keeps the two the same.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from core.errors import ModelError

# Pure computation only, by kind. An operation missing here refuses a model (unless trusted): add it
# here, and to docs/model-safety.md, only when it cannot touch files, the environment, processes,
# the network, Python code or variables' values.
ALLOWED_OP_GROUPS: dict[str, tuple[str, ...]] = {
    "arithmetic": (
        "Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "Asin", "Asinh", "Atan", "Atan2", "Atanh", "Ceil",
        "ClipByValue", "Cos", "Cosh", "Cumprod", "Cumsum", "Div", "DivNoNan", "Erf", "Erfc", "Exp", "Expm1", "Floor",
        "FloorDiv", "FloorMod", "Inv", "IsFinite", "IsInf", "IsNan", "Lgamma", "Log", "Log1p", "Maximum", "Minimum",
        "Mod", "Mul", "MulNoNan", "Neg", "Pow", "RealDiv", "Reciprocal", "Rint", "Round", "Rsqrt", "Sign", "Sin",
        "Sinh", "Sqrt", "Square", "SquaredDifference", "Sub", "Tan", "Tanh", "TruncateDiv", "TruncateMod",
        "Xdivy", "Xlog1py", "Xlogy",
    ),
    "comparison and logic": (
        "ApproximateEqual", "Equal", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalNot",
        "LogicalOr", "NotEqual", "Select", "SelectV2", "Where",
    ),
    "neural network": (
        "AvgPool", "AvgPool3D", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BiasAdd", "Conv2D",
        "Conv2DBackpropInput", "Conv3D", "Conv3DBackpropInputV2", "DepthwiseConv2dNative",
        "DepthwiseConv2dNativeBackpropInput", "Dilation2D", "Einsum", "Elu", "FusedBatchNorm", "FusedBatchNormV2",
        "FusedBatchNormV3", "Gelu", "InTopKV2", "L2Loss", "LRN", "LeakyRelu", "LogSoftmax", "MatMul", "MaxPool",
        "MaxPool3D", "MaxPoolV2", "Relu", "Relu6", "Selu", "Sigmoid", "Softmax", "Softplus", "Softsign", "TopKV2",
        "_FusedConv2D", "_FusedMatMul", "_FusedBatchNormEx", "_FusedDepthwiseConv2dNative",
    ),
    "arrays and shapes": (
        "BatchToSpaceND", "Bitcast", "BroadcastArgs", "BroadcastGradientArgs", "BroadcastTo", "Cast", "CheckNumerics",
        "Concat", "ConcatV2", "Const", "DepthToSpace", "EnsureShape", "ExpandDims", "ExtractImagePatches", "Fill",
        "Gather", "GatherNd", "GatherV2", "Identity", "IdentityN", "LinSpace", "MatrixBandPart", "MatrixDiag",
        "MatrixDiagPartV3", "MatrixDiagV3", "MirrorPad", "OneHot", "OnesLike", "Pack", "Pad", "PadV2", "Placeholder",
        "PlaceholderWithDefault", "PreventGradient", "Range", "Rank", "Reshape", "ResourceGather", "Reverse",
        "ReverseV2", "Roll", "ScatterNd", "Shape", "ShapeN", "Size", "Slice", "Snapshot", "SpaceToBatchND",
        "SpaceToDepth", "Split", "SplitV", "Squeeze", "StopGradient", "StridedSlice", "TensorScatterAdd",
        "TensorScatterUpdate", "Tile", "Transpose", "Unpack", "ZerosLike",
    ),
    "reductions": ("All", "Any", "ArgMax", "ArgMin", "EuclideanNorm", "Max", "Mean", "Min", "Prod", "Sum"),
    "image": (
        "AdjustContrastv2", "AdjustHue", "AdjustSaturation", "CropAndResize", "HSVToRGB", "ImageProjectiveTransformV3",
        "RGBToHSV", "ResizeArea", "ResizeBicubic", "ResizeBilinear", "ResizeNearestNeighbor", "ScaleAndTranslate",
    ),
    "random numbers (no state outside the model)": (
        "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "StatelessRandomGetKeyCounter",
        "StatelessRandomNormal", "StatelessRandomNormalV2", "StatelessRandomUniform", "StatelessRandomUniformV2",
        "StatelessTruncatedNormal", "StatelessTruncatedNormalV2", "TruncatedNormal",
    ),
    "control flow and function calls": (
        "Enter", "Exit", "If", "LoopCond", "Merge", "NextIteration", "NoOp", "PartitionedCall",
        "StatefulPartitionedCall", "StatelessIf", "StatelessWhile", "Switch", "While",
    ),
    "reading variables": ("ReadVariableOp",),
}  # fmt: skip
ALLOWED_OPS = frozenset(op for group in ALLOWED_OP_GROUPS.values() for op in group)

# Only in functions that never run here: the checkpoint saver's (the loader restores variables with its own
# operations) and a layer's training-mode call (updating its own statistics).
CHECKPOINT_OPS = frozenset(
    {
        "AssignVariableOp", "DisableCopyOnRead", "MergeV2Checkpoints", "RestoreV2", "SaveV2", "ShardedFilename",
        "StaticRegexFullMatch", "StringJoin",
    }
)  # fmt: skip
# Only as top-level graph nodes, which TensorFlow 2's loader does not run: variable creation and
# initialisation kept for TensorFlow 1 tools.
GRAPH_SETUP_OPS = frozenset({"AssignVariableOp", "VarHandleOp", "VarIsInitializedOp"})


def _function_name(name: str) -> str:
    """'__inference_serve_17' -> 'serve': the name its author gave the function."""
    name = re.sub(r"^__inference_", "", name)
    return re.sub(r"_\d+$", "", name) or name


def _called_functions(node, library: dict) -> Iterable[str]:
    """Names of the library functions a node calls: as its op, or through function attributes (the `f` of
    a call, the branches and bodies of If and While)."""
    if node.op in library:
        yield node.op
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        if value.HasField("list"):
            yield from (function.name for function in value.list.func)


def _closure(roots: Iterable[str], library: dict) -> set[str]:
    seen, stack = set(), [name for name in roots if name in library]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in library[name].node_def:
            stack.extend(called for called in _called_functions(node, library) if called in library)
    return seen


def _functions_of(node) -> set[str]:
    kind = node.WhichOneof("kind")
    if kind == "function":
        return set(node.function.concrete_functions)
    if kind == "bare_concrete_function":
        return {node.bare_concrete_function.concrete_function_name}
    return set()


def _run_functions(object_graph) -> set[str]:
    """The functions that can run when this app loads and calls the model: every signature's, and those the
    loader itself calls (a resource's creation, initialisation and destruction, a saveable's restore)."""
    nodes = object_graph.nodes
    names: set[str] = set()
    signatures = next((child.node_id for child in nodes[0].children if child.local_name == "signatures"), None)
    if signatures is not None:
        for child in nodes[signatures].children:
            names |= _functions_of(nodes[child.node_id])
    for node in nodes:
        for child in node.children:
            if child.local_name in ("_create_resource", "_initialize", "_destroy_resource"):
                names |= _functions_of(nodes[child.node_id])
        for saveable in node.saveable_objects.values():
            names |= _functions_of(nodes[saveable.save_function]) | _functions_of(nodes[saveable.restore_function])
    return names


def savedmodel_refusal(folder: Path, name: str | None = None) -> str | None:
    """Why the SavedModel in `folder` must not run untrusted (the first operation outside the allowlist and
    the function it is in), or None when every operation it can run is pure computation.

    The functions that can run (the signatures, what the loader calls, and everything they call) may use
    `ALLOWED_OPS` only; the others (the checkpoint saver's, a layer's training-mode call) may also use
    `CHECKPOINT_OPS`, and nothing else either. `name` is what the user calls the model (default: the folder's)."""
    from tensorflow.core.protobuf import saved_model_pb2

    folder = Path(folder)
    name = name or folder.name
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    except Exception as error:  # protobuf raises its own DecodeError; the user needs one sentence
        raise ModelError(f"The SavedModel {name} has an unreadable saved_model.pb ({error}).") from error
    for meta_graph in proto.meta_graphs:
        if not meta_graph.object_graph_def.nodes:
            return (
                f"the SavedModel {name} was written by TensorFlow 1, and loading it runs its whole graph, "
                "which this app cannot check"
            )
        library = {function.signature.name: function for function in meta_graph.graph_def.library.function}
        saver = {meta_graph.saver_def.save_tensor_name.split(":")[0], meta_graph.saver_def.restore_op_name}
        roots = _run_functions(meta_graph.object_graph_def)
        for node in meta_graph.graph_def.node:
            if node.op not in ALLOWED_OPS | GRAPH_SETUP_OPS and node.op not in library:
                return _refusal_text(node.op, "the top-level graph", name)
            if node.name not in saver:
                roots.update(_called_functions(node, library))
        strict = _closure(roots, library)
        for function in sorted(library, key=lambda function: (function not in strict, function)):
            allowed = ALLOWED_OPS if function in strict else ALLOWED_OPS | CHECKPOINT_OPS
            for node in library[function].node_def:
                if node.op not in allowed and node.op not in library:
                    return _refusal_text(node.op, f"its function {_function_name(function)}", name)
    return None


def _refusal_text(op: str, where: str, name: str) -> str:
    return (
        f"{name} runs the TensorFlow operation {op} (in {where}), which is not pure computation: it may reach "
        "files, the environment, the network or Python code"
    )


def tflite_refusal(content: bytes, name: str) -> str | None:
    """Why a .tflite file cannot run here: it needs Select TensorFlow ("Flex") or custom operations, which
    this app's interpreter does not run; None when it uses built-in operations only."""
    from tensorflow.lite.python import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(content, 0)
    except Exception as error:  # flatbuffers raises plain struct/index errors on a broken file
        raise ModelError(f"{name} is not a readable TensorFlow Lite file ({error}).") from error
    flex, custom = [], []
    for code in model.operatorCodes or []:
        if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.CUSTOM:
            continue
        text = (code.customCode or b"").decode("utf-8", "replace")
        (flex if text.startswith("Flex") else custom).append(text.removeprefix("Flex") or "unnamed")
    if flex:
        return (
            f"{name} needs TensorFlow operations that a TensorFlow Lite interpreter cannot run safely here: "
            f"{', '.join(sorted(set(flex)))}; convert the model with built-in operations only"
        )
    if custom:
        return (
            f"{name} needs custom operations that this app's TensorFlow Lite interpreter does not have: "
            f"{', '.join(sorted(set(custom)))}; convert the model with built-in operations only"
        )
    return None


# A zip whose members unpack to more than this many times their compressed size is treated as a zip bomb.
MAX_COMPRESSION_RATIO = 200
MAX_ZIP_MEMBERS = 10_000


def check_zip(path: Path, max_unpacked: int) -> None:
    """Refuses, before anything is extracted, a zip with a member outside its folder ('../', absolute or drive
    paths, links), too many members, or more unpacked bytes than `max_unpacked` or a bomb's compression ratio."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelError(f"{path.name} is not a readable zip file ({error}).") from error
    if len(members) > MAX_ZIP_MEMBERS:
        raise ModelError(f"{path.name} holds {len(members):,} files, more than the {MAX_ZIP_MEMBERS:,} this app opens.")
    unpacked = packed = 0
    for member in members:
        name = member.filename.replace("\\", "/")
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
            raise ModelError(
                f"{path.name} has a file that would land outside its folder ({member.filename}); it was not opened."
            )
        if (member.external_attr >> 16) & 0o170000 == 0o120000:
            raise ModelError(f"{path.name} holds a link ({member.filename}); zip the model's files, not links.")
        unpacked += member.file_size
        packed += member.compress_size
    if unpacked > max_unpacked:
        raise ModelError(
            f"{path.name} unpacks to {unpacked / 1e6:,.0f} MB, more than the {max_unpacked / 1e6:,.0f} MB this app "
            "loads; raise MODEL_MAX_BYTES if you mean it."
        )
    if unpacked > 10**6 and unpacked > MAX_COMPRESSION_RATIO * max(packed, 1):
        raise ModelError(
            f"{path.name} unpacks to {unpacked // max(packed, 1):,} times its size, which only a zip bomb does; "
            "it was not opened."
        )
