"""Feature: what every feature kind provides, so towers can loop over a schema's features.

A kind is a frozen dataclass spec (its name is its column; its sizes and options) with four
faces, all in the kind's own module:

* encoder state: :meth:`Feature.fit` a column into a JSON-able state (a vocabulary or
  statistics), :meth:`Feature.encode` a column with it;
* the Paddle layer: :meth:`Feature.paddle_build` adds the kind's sublayers to a tower's
  feature layer and :meth:`Feature.paddle_forward` gives the feature's block ``[n, width]`` of
  the tower's concatenated input;
* the numpy training engine: forward and exact backward of that block
  (:meth:`Feature.train_forward`, :meth:`Feature.train_backward`), and for small vocabularies
  the by-value form (:meth:`Feature.value_table`): the block of every value at once, which the
  engine folds into the output layer;
* the numpy serving forward: :meth:`Feature.fold` turns the weights and the feature's rows of
  the output layer into a function from encoded values to their share of the pre-activation;
  :meth:`Feature.fold_rows` adds its one-row form, which serving one user reads with
  :meth:`Feature.encode_one` (one raw value, no column arrays built).

Weights are seen through :class:`Params`, a view of the model's state dict under the feature's
prefix (``"user_tower.gender."``), so kinds name their own parameters (``emb.weight``).
Paddle is imported inside the Paddle methods only, and the training engine's compiled loops
(numba) inside the training methods: encoding and serving need numpy alone.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError
from fusionrec.features.vocabulary import Vocabulary

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: a feature with at most this many vocabulary rows is taken by value in the training engine
#: (without dropout): a 256-rating batch holds up to 256 distinct entities, so beyond that the
#: per-value tables cost more than the per-row pass they replace
BY_VALUE_MAX_ROWS = 256

#: names a feature may not take: the tower's own sublayers
RESERVED_NAMES = frozenset({"out", "dropout"})

Fold = Callable[[Any], F32]


@dataclasses.dataclass(frozen=True)
class Folded:
    """A feature's serving forward in two forms: ``batch`` maps an encoded column to its share
    ``[n, out]`` of the tower's pre-activation; ``one`` maps one row's encoded value (from
    :meth:`Feature.encode_one`) to its share ``[out]``, equal to row 0 of ``batch`` on it.
    ``table``, when given, is a table whose row ``x`` is ``one(x)``: a tower whose shares are
    all table rows indexes them without a call per feature."""

    batch: Fold
    one: Fold
    table: npt.NDArray[np.float32] | None = None


class RowGrad(NamedTuple):
    """A table's gradient in row form: the distinct ``rows`` a batch touched and their
    gradients ``values`` ``[len(rows), width]``; every other row's is zero.

    Kinds return it for embeddings looked up per row, so a step's cost follows the batch,
    not the table: the optimizer updates those rows (see
    :class:`fusionrec.train.engine.NumpyOptimizer`).
    """

    rows: I64
    values: F32
    table_rows: int  # rows of the whole table

    def dense(self) -> F32:
        """The whole ``[table_rows, width]`` gradient, zero where not touched."""
        out = np.zeros((self.table_rows, self.values.shape[1]), dtype=np.float32)
        out[self.rows] = self.values
        return out


#: a parameter's gradient: a dense array, or a table's touched rows
Grad = F32 | RowGrad


def dense_grad(grad: Grad) -> F32:
    """``grad`` as a dense array."""
    return grad.dense() if isinstance(grad, RowGrad) else grad


class Params(Mapping[str, Any]):
    """The arrays of ``weights`` whose names start with ``prefix``, keyed without it."""

    def __init__(self, weights: Mapping[str, Any], prefix: str) -> None:
        self._weights = weights
        self.prefix = prefix

    def __getitem__(self, name: str) -> Any:
        return self._weights[self.prefix + name]

    def __iter__(self) -> Iterator[str]:
        n = len(self.prefix)
        return (k[n:] for k in self._weights if k.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


@functools.cache
def kernels() -> Any:
    """The training engine's compiled loops (:mod:`fusionrec.train.kernels`, numba), imported
    on the first training call: encoding and serving never load them."""
    return importlib.import_module("fusionrec.train.kernels")


_ones: F32 = np.ones(256, dtype=np.float32)


def column_sums(x: F32) -> F32:
    """``x.sum(axis=0)`` as one BLAS matrix-vector product (a third of numpy's time here)."""
    global _ones
    if len(_ones) < len(x):
        _ones = np.ones(2 * len(x), dtype=np.float32)
    sums: F32 = _ones[: len(x)] @ x
    return sums


def check_positive(feature: Feature, *names: str) -> None:
    """Raise :class:`ValidationError` unless each named int field of ``feature`` is >= 1."""
    for name in names:
        value = getattr(feature, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(
                f"{type(feature).__name__}({feature.name!r}).{name} must be an int >= 1, "
                f"got {value!r}"
            )


@dataclasses.dataclass(frozen=True)
class Feature(ABC):
    """One input column of a tower; subclasses are the kinds."""

    name: str
    kind: ClassVar[str]
    input_shape: ClassVar[tuple[int | None, ...]]  # of the encoded column (None: any size)
    input_dtype: ClassVar[str]  # "int64" indices or "float32" values

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValidationError(f"feature name must be an identifier, got {self.name!r}")
        if self.name in RESERVED_NAMES:
            raise ValidationError(f"feature name {self.name!r} is reserved")

    # ---- spec ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able spec: the kind and every field."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @property
    @abstractmethod
    def width(self) -> int:
        """Columns of the feature's block in the tower's concatenated input."""

    @property
    def is_id(self) -> bool:
        """Whether this is the entity's id (only a Categorical can be)."""
        return False

    # ---- encoder state ----------------------------------------------------------------------
    @abstractmethod
    def fit(self, column: Sequence[Any], extra: Sequence[Any] = ()) -> Any:
        """The encoder state learned from a training column (``extra``: declared values)."""

    @abstractmethod
    def encode(self, state: Any, column: Sequence[Any]) -> npt.NDArray[Any]:
        """A column as the model's input array (int64 indices or float32 values)."""

    @abstractmethod
    def state_to_dict(self, state: Any) -> dict[str, Any]:
        """JSON-able form of a state made by :meth:`fit`."""

    @abstractmethod
    def state_from_dict(self, data: Any) -> Any:
        """Inverse of :meth:`state_to_dict`; malformed data raises :class:`ValidationError`."""

    def encode_one(self, state: Any, value: Any) -> Any:
        """One row's raw value encoded as :attr:`Folded.one` reads it.

        By default row 0 of :meth:`encode` on a one-value column (same result, same errors);
        a kind overrides it to skip building the column's arrays.
        """
        return self.encode(state, [value])[0]

    def input_rows(self, state: Any) -> int | None:
        """Rows of the embedding the encoded values index (None for a value feature)."""
        return None

    # ---- Paddle -------------------------------------------------------------------------------
    @abstractmethod
    def paddle_build(self, layer: Any, state: Any) -> None:
        """Add this kind's sublayers to ``layer`` (creation order fixes the seeded init)."""

    @abstractmethod
    def paddle_forward(self, layer: Any, x: Any) -> Any:
        """The feature's block ``[n, width]`` from its input tensor(s)."""

    # ---- numpy training engine ----------------------------------------------------------------
    def by_value(self, state: Any) -> bool:
        """Whether the engine takes this feature by value when there is no dropout."""
        return False

    def prepare(self, encoded: npt.NDArray[Any]) -> Any:
        """A data set's encoded column in the form :meth:`gather` reads (once per data set)."""
        return encoded

    def gather(self, prepared: Any, rows: I64) -> Any:
        """The training input of the entities at ``rows`` (the batch's distinct ones)."""
        return prepared[rows]

    @abstractmethod
    def train_forward(self, w: Params, x: Any) -> tuple[F32, Any]:
        """The block ``[n, width]`` and what :meth:`train_backward` needs."""

    @abstractmethod
    def train_backward(self, w: Params, x: Any, cache: Any, d_block: F32) -> dict[str, Grad]:
        """Gradients of the feature's parameters (local names) from the block's gradient;
        an embedding looked up per row gives its gradient in row form (:class:`RowGrad`)."""

    def value_table(self, w: Params) -> F32:
        """By value: the block of each vocabulary row ``[rows, width]``."""
        raise NotImplementedError(f"{self.kind} is not taken by value")

    def value_index(self, x: Any) -> I64:
        """By value: each entity's rows of :meth:`value_table`, ``[n, k]`` (summed)."""
        raise NotImplementedError(f"{self.kind} is not taken by value")

    def value_backward(self, w: Params, d_value: F32) -> dict[str, F32]:
        """By value: parameter gradients from the gradient of :meth:`value_table`."""
        raise NotImplementedError(f"{self.kind} is not taken by value")

    # ---- numpy serving ------------------------------------------------------------------------
    @abstractmethod
    def fold(self, w: Params, out_block: F64) -> Fold:
        """From float64 weights and the feature's rows of the output layer, the map from an
        encoded column to its share ``[n, out]`` (float32) of the output pre-activation."""

    def fold_rows(self, w: Params, out_block: F64) -> Folded:
        """:meth:`fold` and its one-row form; by default the batch map on a one-row batch."""
        batch = self.fold(w, out_block)

        def one(x: Any) -> F32:
            out: F32 = batch(np.asarray(x)[None])[0]
            return out

        return Folded(batch, one)


class VocabularyFeature(Feature):
    """A kind whose state is a :class:`Vocabulary` and whose input indexes an embedding."""

    def state_to_dict(self, state: Vocabulary) -> dict[str, Any]:
        return state.to_dict()

    def state_from_dict(self, data: Any) -> Vocabulary:
        return Vocabulary.from_dict(data, self.name)

    def input_rows(self, state: Vocabulary) -> int:
        return state.rows
