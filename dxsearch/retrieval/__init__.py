"""Retrieval: one protocol, an embedded backend (tantivy + FAISS, fused by RRF), named retrievers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dxsearch.registry import Registry
from dxsearch.retrieval.base import RetrievalUnavailableError, Retriever, SearchFilters

if TYPE_CHECKING:
    from dxsearch.retrieval.embedded import EmbeddedIndex

RetrieverFactory = Callable[["EmbeddedIndex"], Retriever]

#: Retrievers over an opened embedded index, chosen by name in configuration and on the CLI.
RETRIEVERS: Registry[RetrieverFactory] = Registry("retriever")


@RETRIEVERS.register("lexical")
def _lexical(index: EmbeddedIndex) -> Retriever:
    return index.lexical


@RETRIEVERS.register("dense")
def _dense(index: EmbeddedIndex) -> Retriever:
    return index.dense


@RETRIEVERS.register("hybrid")
def _hybrid(index: EmbeddedIndex) -> Retriever:
    return index.hybrid


__all__ = ["RETRIEVERS", "RetrievalUnavailableError", "Retriever", "RetrieverFactory", "SearchFilters"]
