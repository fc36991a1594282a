"""Read a notebook as a template: validity, ``lepton`` metadata, the parameter schema.

The schema comes from the ``parameters``-tagged cell through papermill's own inspection
(names, annotations, defaults as source text, help from the trailing comment); the type
of an unannotated parameter is read from its default.  The notebook's metadata may add,
under ``lepton``::

    {"title": "...", "description": "...", "tags": ["..."], "kernel": "lepton-cpu",
     "resources": {"gpus": 1}, "parameters": {"dataset": {"kind": "dataset", "required": true},
                               "model": {"choices": ["knn", "mlp"]}},
     "preload": ["pandas", "sklearn.ensemble", "matplotlib.pyplot"]}

``preload`` names modules the runner's warm kernels import before a job of the template is
given to one (docs/jobs.md, "Pre-imported kernels"): dotted module names, at most
:data:`MAX_DECLARED_PRELOAD`.

A parameter is required when the metadata says so, or when its default is ``None`` under
an annotation that does not allow ``None`` (``dataset: str = None``).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import nbformat

from lepton_lab.errors import InvalidInput, did_you_mean
from lepton_lab.runs.bootstrap import is_module_name
from lepton_lab.runs.info import ParameterSpec, TemplateInfo

__all__ = [
    "MAX_DECLARED_PRELOAD",
    "TYPES",
    "check_parameters",
    "coerce_text",
    "preload_modules",
    "read_notebook",
    "summarize",
]

#: The parameter types a schema can hold ("any": papermill could not tell).
TYPES = ("int", "float", "str", "bool", "list", "dict", "any")
_ANNOTATIONS = {"int": "int", "float": "float", "str": "str", "bool": "bool"}
_ANNOTATIONS |= {"list": "list", "dict": "dict", "List": "list", "Dict": "dict"}
_OPTIONAL = re.compile(r"^(?:Optional\[(?P<a>.+)\]|(?P<b>.+?)\s*\|\s*None|None\s*\|\s*(?P<c>.+))$")
_META_KEYS = {"title", "description", "tags", "kernel", "resources", "parameters", "preload"}
#: The most modules a template's ``lepton.preload`` may name.
MAX_DECLARED_PRELOAD = 32
_PARAM_KEYS = {"kind", "required", "choices", "help", "type"}
#: What each key of ``lepton.parameters.<name>`` must be, and its name in an error.
_PARAM_TYPES: dict[str, tuple[type, str]] = {
    "kind": (str, "text"),
    "required": (bool, "true or false"),
    "choices": (list, "a list"),
    "help": (str, "text"),
    "type": (str, "text"),
}
#: ``\u0000`` or a surrogate's escape somewhere in a notebook's JSON.
_MAYBE_BAD_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def read_notebook(content: bytes | str, where: str) -> nbformat.NotebookNode:
    """Parse and validate a notebook, or say what is wrong with ``where``."""
    # ``reads`` validates as it parses and only logs what is wrong; the error it captures
    # is raised here, so that the notebook is validated once (validation is the slow part).
    invalid: dict[str, nbformat.ValidationError] = {}
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        notebook: nbformat.NotebookNode = nbformat.reads(  # type: ignore[no-untyped-call]
            text, as_version=4, capture_validation_error=invalid
        )
    except nbformat.ValidationError as exc:
        invalid["ValidationError"] = exc
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{where} is not a Jupyter notebook (.ipynb JSON): {exc}") from None
    except (TypeError, AttributeError):  # JSON, of another shape: a list, null, a number
        raise InvalidInput(
            f"{where} is not a Jupyter notebook: its JSON must be an object with "
            "'cells', 'metadata' (an object) and 'nbformat'"
        ) from None
    except RecursionError:  # Python's JSON parser recurses: a million brackets end here
        raise InvalidInput(f"{where} nests too deeply to be a notebook") from None
    if "ValidationError" in invalid:
        first = str(invalid["ValidationError"]).splitlines()[0]
        raise InvalidInput(f"{where} is not a valid notebook (nbformat 4): {first}") from None
    if not isinstance(notebook, nbformat.NotebookNode):
        # Without "nbformat", nbformat reads version 1 and stops converting at version 2.
        raise InvalidInput(
            f"{where} is not a valid notebook: it names no nbformat version, or one older "
            "than 3; open it in Jupyter and save it (nbformat 4)"
        )
    _check_text(notebook, content, where)
    return _as_papermill_loads(notebook)


def _check_text(notebook: nbformat.NotebookNode, content: bytes | str, where: str) -> None:
    """Refuse NULs and lone surrogates written as escapes in the JSON (``\\u0000``,
    ``\\ud800``): a database's JSON type and the output notebook's UTF-8 cannot hold them."""
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    if not _MAYBE_BAD_ESCAPE.search(raw):  # the common case: nothing to look at closely
        return
    text = json.dumps(notebook, ensure_ascii=False)
    if "\x00" in text:
        raise InvalidInput(f"{where} holds a NUL character (\\u0000); remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{where} holds a lone surrogate (\\ud800-\\udfff), which is not text; remove it"
        ) from None


def _as_papermill_loads(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What ``papermill.iorw.load_notebook_node`` adds: papermill's inspection and
    parameterisation expect every cell to have ``tags`` and the notebook ``papermill``."""
    from papermill import __version__ as papermill_version

    notebook.metadata.setdefault(
        "papermill",
        {"default_parameters": {}, "parameters": {}, "environment_variables": {},
         "version": papermill_version},
    )  # fmt: skip
    for cell in notebook.cells:
        cell.metadata.setdefault("tags", [])
    return notebook


def summarize(notebook: nbformat.NotebookNode, where: str) -> TemplateInfo:
    """The template the notebook is (named ``where``, not yet stored): its metadata and
    parameter schema; malformed metadata is refused."""
    meta = _lepton_meta(notebook, where)
    kernel = meta.get("kernel") or notebook.metadata.get("kernelspec", {}).get("name") or "python3"
    overrides = meta.get("parameters", {})
    has_cell, specs = _parameters(notebook, kernel, overrides, where)
    unknown = sorted(set(overrides) - {s.name for s in specs})
    if unknown:
        raise InvalidInput(
            f"{where}: metadata lepton.parameters names {unknown}, which the parameters "
            "cell does not assign"
        )
    title = meta.get("title") or _first_heading(notebook) or where
    return TemplateInfo(
        name=where,
        title=title[:200],
        description=meta.get("description", ""),
        tags=list(meta.get("tags", [])),
        kernel=str(kernel),
        gpus=int(meta.get("resources", {}).get("gpus", 0)),
        parameters=specs,
        metadata={**meta, "has_parameters_cell": has_cell},
    )


def _lepton_meta(notebook: nbformat.NotebookNode, where: str) -> dict[str, Any]:
    meta = notebook.metadata.get("lepton", {})
    if not isinstance(meta, Mapping):
        raise InvalidInput(f"{where}: metadata 'lepton' must be an object")
    unknown = sorted(set(meta) - _META_KEYS)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key(s) {unknown} in metadata 'lepton'; known: {sorted(_META_KEYS)}"
        )
    for key in ("title", "description", "kernel"):
        if key in meta and not isinstance(meta[key], str):
            raise InvalidInput(f"{where}: metadata lepton.{key} must be text")
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(f"{where}: metadata lepton.tags must be a list of text")
    resources = meta.get("resources", {})
    gpus = resources.get("gpus", 0) if isinstance(resources, Mapping) else None
    if not isinstance(gpus, int) or isinstance(gpus, bool) or not 0 <= gpus <= 64:
        raise InvalidInput(f"{where}: metadata lepton.resources.gpus must be a whole number 0-64")
    if preload_modules(notebook) != meta.get("preload", []):
        raise InvalidInput(
            f"{where}: metadata lepton.preload must be a list of at most "
            f'{MAX_DECLARED_PRELOAD} module names, e.g. ["pandas", "matplotlib.pyplot"]'
        )
    params = meta.get("parameters", {})
    if not isinstance(params, Mapping) or not all(isinstance(v, Mapping) for v in params.values()):
        raise InvalidInput(f"{where}: metadata lepton.parameters must map names to objects")
    for name, extra in params.items():
        bad = sorted(set(extra) - _PARAM_KEYS)
        if bad:
            raise InvalidInput(
                f"{where}: lepton.parameters.{name} has unknown key(s) {bad}; "
                f"known: {sorted(_PARAM_KEYS)}"
            )
        for key, (kind, words) in _PARAM_TYPES.items():
            if key in extra and not isinstance(extra[key], kind):
                raise InvalidInput(f"{where}: lepton.parameters.{name}.{key} must be {words}")
    return dict(meta)


def preload_modules(notebook: nbformat.NotebookNode) -> list[str]:
    """The modules the notebook's ``lepton.preload`` declares; [] when it declares none,
    or not as a list of at most :data:`MAX_DECLARED_PRELOAD` dotted module names."""
    meta = notebook.metadata.get("lepton", {})
    names = meta.get("preload", []) if isinstance(meta, Mapping) else []
    valid = isinstance(names, list) and len(names) <= MAX_DECLARED_PRELOAD
    if not valid or not all(is_module_name(n) for n in names):
        return []
    return list(names)


def _parameters(
    notebook: nbformat.NotebookNode, kernel: str, overrides: Mapping[str, Any], where: str
) -> tuple[bool, list[ParameterSpec]]:
    from papermill.inspection import _infer_parameters
    from papermill.utils import find_first_tagged_cell_index

    if find_first_tagged_cell_index(notebook, "parameters") < 0:
        return False, []
    language = notebook.metadata.get("kernelspec", {}).get("language") or "python"
    if language == "python":
        _check_python(notebook.cells[find_first_tagged_cell_index(notebook, "parameters")], where)
    try:
        found = _infer_parameters(notebook, name=kernel, language=language)
    except Exception as exc:  # papermill raises several kinds for an unknown language
        raise InvalidInput(f"{where}: cannot read its parameters cell: {exc}") from None
    return True, [_spec(p, overrides.get(p.name, {}), where) for p in found]


def _check_python(cell: nbformat.NotebookNode, where: str) -> None:
    """Refuse a parameters cell that is not Python: papermill reads it line by line and
    would make a schema of whatever it found, and the job would fail in its first cell."""
    # IPython's magics and shell lines are not Python; they set no parameter either.
    lines = [
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.split("\n")
    ]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as exc:  # IndentationError too
        line = f"line {exc.lineno}: " if exc.lineno else ""
        raise InvalidInput(
            f"{where}: its parameters cell is not valid Python ({line}{exc.msg})"
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a NUL; a million brackets
        raise InvalidInput(
            f"{where}: its parameters cell cannot be read as Python: {exc}"
        ) from None


def _spec(found: Any, extra: Mapping[str, Any], where: str) -> ParameterSpec:
    """One parameter from papermill's inspection plus the metadata's additions."""
    annotation = str(found.inferred_type_name or "None")
    optional = False
    match = _OPTIONAL.match(annotation)
    if match:
        optional, annotation = True, next(g for g in match.groups() if g)
    try:
        default = ast.literal_eval(found.default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        default = None  # an expression (np.pi, a call): shown as source, typed "any"
    kind_of_default = _type_of(default) if default is not None else "any"
    type_name = str(extra.get("type") or _ANNOTATIONS.get(annotation.strip(), kind_of_default))
    if type_name not in TYPES:
        raise InvalidInput(
            f"{where}: parameter {found.name} has unknown type {type_name!r}; "
            f"use one of {list(TYPES)}"
        )
    if default is None and type_name == kind_of_default:
        optional = True  # ``x = None`` (or an expression) with no annotation: no type to hold
    required = bool(extra.get("required", default is None and not optional))
    choices = extra.get("choices")
    return ParameterSpec(
        name=found.name,
        type=type_name,
        default=None if required else default,
        default_source=found.default,
        help=str(extra.get("help") or found.help or ""),
        required=required,
        optional=optional,
        kind=str(extra.get("kind", "")),
        choices=list(choices) if isinstance(choices, list) else None,
    )


def _type_of(value: Any) -> str:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return name
    if isinstance(value, list | tuple):
        return "list"
    return "dict" if isinstance(value, dict) else "any"


def _first_heading(notebook: nbformat.NotebookNode) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return str(line).lstrip("#").strip()
    return ""


def check_parameters(
    summary: TemplateInfo, values: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """The values to inject, checked: no unknown names, every required one, the right types."""
    if not isinstance(values, Mapping):
        raise InvalidInput("parameters must be an object mapping names to values")
    if values and not summary.has_parameters_cell:
        raise InvalidInput(
            f"{where} has no cell tagged 'parameters', so it takes no parameters; "
            f"got {sorted(values)}. Tag the cell that assigns them with 'parameters' "
            "(View > Cell Toolbar > Tags in Jupyter), or submit without parameters"
        )
    known = {s.name: s for s in summary.parameters}
    for name in values:
        if name not in known:
            raise InvalidInput(
                f"{where} has no parameter {name!r}{did_you_mean(name, known)}; "
                f"its parameters: {', '.join(known) or 'none'}"
            )
    missing = [s.name for s in summary.parameters if s.required and s.name not in values]
    if missing:
        raise InvalidInput(f"{where} needs parameter(s) {missing}: give them a value")
    return {name: _check_value(known[name], value, where) for name, value in values.items()}


def _check_value(spec: ParameterSpec, value: Any, where: str) -> Any:
    if value is None and spec.optional:
        return None
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list | tuple),
        "dict": isinstance(value, dict),
        "any": True,
    }[spec.type]
    if not ok:
        raise InvalidInput(
            f"parameter {spec.name} of {where} must be {spec.type}, not "
            f"{type(value).__name__} {value!r:.60}"
        )
    if spec.type == "float" and not math.isfinite(float(value)):
        raise InvalidInput(f"parameter {spec.name} of {where} must be a finite number")
    if spec.choices is not None and value not in spec.choices:
        raise InvalidInput(f"parameter {spec.name} of {where} must be one of {spec.choices}")
    _check_json(spec.name, value)
    return float(value) if spec.type == "float" else list(value) if spec.type == "list" else value


def _check_json(name: str, value: Any) -> None:
    """Values travel as JSON (the queue, REST): refuse what would not survive the trip."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"parameter {name}: the value is not JSON ({exc})") from None


def coerce_text(spec: ParameterSpec, raw: str) -> Any:
    """A value typed on a command line (``-p epochs 3``) as the parameter's type."""
    try:
        if spec.type == "int":
            return int(raw)
        if spec.type == "float":
            return float(raw)
        if spec.type == "bool":
            lowered = raw.strip().lower()
            if lowered in {"true", "1", "yes", "on"}:
                return True
            if lowered in {"false", "0", "no", "off"}:
                return False
            raise ValueError("use true or false")
        if spec.type in ("list", "dict", "any"):
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                if spec.type == "any":
                    return raw
                raise
    except ValueError as exc:
        raise InvalidInput(f"parameter {spec.name}: {raw!r} is not a {spec.type} ({exc})") from None
    if spec.optional and raw == "None":
        return None
    return raw
