"""Text: a string per row -> word embeddings -> text-CNN (window, filters, tanh) sum-pooled.

The book's title: lowercased ``\\w+`` tokens (at most ``max_words``) from a saved vocabulary;
a "same"-padded convolution of ``window`` words, tanh, summed over the real words only (PAD
embeds as zero, and positions centred on PAD are left out). The convolution is a Linear over
the concatenated window embeddings ``[w(t-1), w(t), w(t+1)]``.

Training packs each text to its real words (one row of ``window`` word indices per word, see
:func:`pack_windows`), so the engine never computes padding positions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from fusionrec.errors import ValidationError
from fusionrec.features.kind import (
    F32,
    F64,
    I64,
    Fold,
    Grad,
    Params,
    RowGrad,
    VocabularyFeature,
    check_positive,
    column_sums,
    kernels,
)
from fusionrec.features.vocabulary import PAD, Vocabulary, pad_rows

_WORD = re.compile(r"\w+")
#: Tokens longer than this are cut to this many characters (a cap on vocabulary memory).
MAX_TOKEN_CHARS = 64


def tokenize(text: object) -> list[str]:
    """Lowercased word tokens of a text, each cut to ``MAX_TOKEN_CHARS``; None has none."""
    if text is None:
        return []
    return [word[:MAX_TOKEN_CHARS] for word in _WORD.findall(str(text).lower())]


def pack_windows(words: I64, window: int) -> tuple[I64, I64]:
    """Padded texts [n, W] -> (windows [m, window], owner [m]) over the m real words.

    Row k holds the indices of the words around real word k (PAD beyond the text's ends);
    ``owner[k]`` is its text's row.
    """
    half = window // 2
    n, w = words.shape
    padded = np.zeros((n, w + 2 * half), dtype=np.int64)
    padded[:, half : half + w] = words
    rows, cols = np.nonzero(words != PAD)
    offsets = np.arange(window, dtype=np.int64)
    windows = padded[rows[:, None], cols[:, None] + offsets[None, :]]
    return windows, rows.astype(np.int64)


class Packed(NamedTuple):
    """A data set's texts packed once: every word's window, and each text's run of rows."""

    windows: I64
    start: I64
    lengths: I64


class Windows(NamedTuple):
    """The training input of a batch's texts: packed windows, owner rows, number of texts."""

    windows: I64
    owner: I64
    n: int


@dataclasses.dataclass(frozen=True)
class Text(VocabularyFeature):
    """``dim``: word embedding width; ``filters``: block width; ``window``: odd window size;
    ``max_words``: words kept per text; words seen fewer than ``min_count`` times are UNK."""

    kind: ClassVar[str] = "text"
    input_shape: ClassVar[tuple[int | None, ...]] = (
        None,
        None,
    )
    input_dtype: ClassVar[str] = "int64"
    dim: int = 32
    filters: int = 32
    window: int = 3
    max_words: int = 15
    min_count: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "dim", "filters", "window", "max_words", "min_count")
        if self.window % 2 != 1:
            raise ValidationError(f"Text({self.name!r}).window must be odd, got {self.window}")

    @property
    def width(self) -> int:
        return self.filters

    # ---- encoder state ----------------------------------------------------------------------
    def fit(self, column: Sequence[Any], extra: Sequence[Any] = ()) -> Vocabulary:
        words = [t for text in column for t in tokenize(text)]
        return Vocabulary.fit(words, self.name, self.min_count, extra)

    def encode(self, state: Vocabulary, column: Sequence[Any]) -> I64:
        rows = [state.encode(tokenize(text)[: self.max_words]) for text in column]
        return pad_rows(rows, width=self.max_words)

    def state_from_dict(self, data: Any) -> Vocabulary:
        vocabulary = super().state_from_dict(data)
        long_word = next((w for w in vocabulary.values if len(str(w)) > MAX_TOKEN_CHARS), None)
        if long_word is not None:
            raise ValidationError(
                f"feature {self.name!r}: a word of {len(str(long_word))} characters "
                f"(tokens are at most {MAX_TOKEN_CHARS})"
            )
        return vocabulary

    # ---- Paddle -------------------------------------------------------------------------------
    def paddle_build(self, layer: Any, state: Vocabulary) -> None:
        from fusionrec._paddle import paddle

        nn = paddle.nn
        layer.add_sublayer("emb", nn.Embedding(state.rows, self.dim, padding_idx=PAD))
        layer.add_sublayer("conv", nn.Linear(self.window * self.dim, self.filters))

    def paddle_forward(self, layer: Any, x: Any) -> Any:
        """``x``: padded word indices [n, W], or a :class:`Windows` (the packed form)."""
        from fusionrec._paddle import paddle

        if isinstance(x, Windows):
            emb = layer.emb(paddle.to_tensor(x.windows))  # [m, window, D]
            conv = paddle.tanh(layer.conv(paddle.flatten(emb, start_axis=1)))
            pooled = paddle.zeros([x.n, conv.shape[1]], dtype=conv.dtype)
            return paddle.index_add(pooled, paddle.to_tensor(x.owner), 0, conv)
        emb = layer.emb(x)  # [n, W, D]
        half = self.window // 2
        zero = paddle.zeros_like(emb[:, :1, :])
        padded = paddle.concat([zero] * half + [emb] + [zero] * half, axis=1)
        span = 2 * half
        shifted = [padded[:, j : (j - span if j < span else None), :] for j in range(self.window)]
        conv = paddle.tanh(layer.conv(paddle.concat(shifted, axis=2)))  # [n, W, F]
        mask = paddle.cast(x != PAD, conv.dtype).unsqueeze(-1)
        return paddle.sum(conv * mask, axis=1)

    # ---- numpy training engine ----------------------------------------------------------------
    def prepare(self, encoded: I64) -> Packed:
        windows, owner = pack_windows(encoded, self.window)
        count = np.bincount(owner, minlength=len(encoded)).astype(np.int64)
        return Packed(windows, (np.cumsum(count) - count).astype(np.int64), count)

    def gather(self, prepared: Packed, rows: I64) -> Windows:
        windows, owner = kernels().gather_segments(
            prepared.windows, prepared.start, prepared.lengths, rows
        )
        return Windows(windows, owner, len(rows))

    def train_forward(self, w: Params, x: Windows) -> tuple[F32, tuple[F32, F32]]:
        words = kernels().gather_rows_except(w["emb.weight"], x.windows, PAD)  # [m, window*dim]
        t = words @ w["conv.weight"]
        t += w["conv.bias"]
        np.tanh(t, out=t)
        return kernels().scatter_add(x.n, x.owner, t), (words, t)

    def train_backward(
        self, w: Params, x: Windows, cache: tuple[F32, F32], d_block: F32
    ) -> dict[str, Grad]:
        words, t = cache
        dt = kernels().gather_tanh_backward(d_block, x.owner, t)
        dx = (dt @ w["conv.weight"].T).reshape(x.windows.size, self.dim)
        rows, values = kernels().scatter_rows(x.windows.reshape(-1), dx, 1, PAD)
        return {
            "conv.weight": words.T @ dt,
            "conv.bias": column_sums(dt),
            "emb.weight": RowGrad(rows, values, len(w["emb.weight"])),
        }

    # ---- numpy serving ------------------------------------------------------------------------
    def fold(self, w: Params, out_block: F64) -> Fold:
        words = np.array(w["emb.weight"])
        words[PAD] = 0.0
        conv = w["conv.weight"]
        d = words.shape[1]
        if conv.shape[0] != self.window * d:  # also bounds the loop below
            raise ValueError(
                f"{self.name}: conv has {conv.shape[0]} rows, window x word dim is "
                f"{self.window} x {d}"
            )
        tables = [
            (words @ conv[j * d : (j + 1) * d]).astype(np.float32) for j in range(self.window)
        ]
        bias = np.asarray(w["conv.bias"]).astype(np.float32)
        block = out_block.astype(np.float32)
        half = self.window // 2

        def share(x: I64) -> F32:
            n, width = x.shape
            padded = np.zeros((n, width + 2 * half), dtype=np.int64)
            padded[:, half : half + width] = x
            rows, cols = np.nonzero(x != PAD)  # only real words: texts are mostly padding
            conv = np.zeros((len(rows), len(bias)), dtype=np.float32)
            for j, table in enumerate(tables):
                conv += table[padded[rows, cols + j]]
            conv += bias
            np.tanh(conv, out=conv)
            pooled = np.zeros((n, conv.shape[1]), dtype=np.float32)
            if len(rows):
                starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
                pooled[rows[starts]] = np.add.reduceat(conv, starts, axis=0)
            out: F32 = pooled @ block
            return out

        return share
