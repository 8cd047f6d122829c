"""The embedded engine: a Tantivy index on disk, for the local platform and small shops.

Layout of the index folder:

    CURRENT                 the name of the generation searches read
    generations/<name>/     one complete Tantivy index each

A full reindex builds a new generation aside and swaps CURRENT (an atomic rename), so searches
never see a half-built index. Readers notice a new commit or a new generation on their next
search (a `stat` each), reload, and refresh the vocabulary typos are matched against.

Tantivy allows one writer per index: writes in this process take a lock; a writer in another
process (a second Lambda sandbox on EFS) is waited for, briefly, then reported transient so the
queue redelivers.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import tantivy

from shop.errors import DependencyUnavailable
from shop.search import ranking
from shop.search.analysis import Expansion, Vocabulary, terms
from shop.search.engine import (
    DESCRIPTION_BOOST,
    NAME_BOOST,
    NO_FACETS,
    SKU_BOOST,
    SearchRequest,
    facet_aggregations,
    facets_of,
    page_of,
)
from shop.search.models import (
    ProductDocument,
    SearchFacets,
    SearchPage,
)
from shop.search.ranking import (
    Candidate,
    QueryWords,
    expansion_matcher,
    rank,
    rank_page,
    window_for,
)

_WRITER_HEAP = 15_000_000  # Tantivy's minimum per indexing thread
_WRITER_WAIT_SECONDS = 3.0


def popularity(sales: int) -> float:
    """The fast-field value Tantivy's `weight_by_field` turns into a score multiplier of
    log2(2 + value): stored so that the multiplier is 1 + POPULARITY * ln(1 + sales)."""
    return float(2 ** (1 + ranking.POPULARITY * math.log1p(max(sales, 0))) - 2)


def _quality(expansion: Expansion) -> float:
    """How much a matched term counts toward the engine's score (the ranking rules decide
    the order; this only keeps the best candidates inside the window)."""
    return (0.45 if expansion.prefix else 1.0) * (1.0, 0.4, 0.2)[expansion.typos]


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("product_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("name_terms", tokenizer_name="whitespace")
    builder.add_text_field("description_terms", tokenizer_name="whitespace")
    builder.add_text_field("sku", tokenizer_name="raw")
    builder.add_text_field("category", tokenizer_name="raw", fast=True)
    builder.add_unsigned_field("price", indexed=True, fast=True)
    builder.add_unsigned_field("in_stock", indexed=True, fast=True)
    builder.add_integer_field("created", indexed=True, fast=True)
    builder.add_unsigned_field("sales", indexed=True, fast=True)
    builder.add_float_field("popularity", fast=True)
    builder.add_bytes_field("doc", stored=True)
    builder.add_text_field("analysed", stored=True, index_option="basic", tokenizer_name="raw")
    return builder.build()


SCHEMA = _schema()


def _epoch(timestamp: str) -> int:
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        return int(moment.timestamp() * 1000)
    except ValueError:
        return 0


def _tantivy_document(document: ProductDocument) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("product_id", document.product_id)
    name_terms = " ".join(terms(document.name))
    other_terms = " ".join(terms(" ".join([document.description, *document.attributes])))
    doc.add_text("name_terms", name_terms)
    doc.add_text("description_terms", other_terms)
    # What ranking reads of a candidate, in one stored string (no JSON to parse for it).
    skus = " ".join(document.skus)
    analysed = "\t".join([document.product_id, document.category, skus, name_terms, other_terms])
    doc.add_text("analysed", analysed)
    for sku in document.skus:
        doc.add_text("sku", sku.lower())
    doc.add_text("category", document.category)
    doc.add_unsigned("price", document.price)
    doc.add_unsigned("in_stock", int(document.in_stock))
    doc.add_integer("created", _epoch(document.created_at))
    doc.add_unsigned("sales", max(document.sales, 0))
    doc.add_float("popularity", popularity(document.sales))
    doc.add_bytes("doc", document.model_dump_json().encode())
    return doc


class TantivySearch:
    """`SearchEngine` on a Tantivy index in `root`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()  # writes in this process, and reader refreshes
        self._generation: str | None = None
        self._index: tantivy.Index | None = None
        self._seen: tuple[float, float] = (0.0, 0.0)
        self._vocabulary = Vocabulary()

    # ------------------------------------------------------------------ generations
    @property
    def _current_file(self) -> Path:
        return self.root / "CURRENT"

    def _generation_path(self, generation: str) -> Path:
        return self.root / "generations" / generation

    def _current_generation(self) -> str:
        try:
            return self._current_file.read_text().strip()
        except FileNotFoundError:
            with self._rebuilding():  # never under self._lock: rebuilds take them the other way
                if not self._current_file.exists():
                    self._swap(self._new_generation())
            return self._current_file.read_text().strip()

    @contextmanager
    def _rebuilding(self) -> Iterator[None]:
        """One rebuild (or first start) at a time, across processes: a second waits for the
        first, rather than deleting the generation the first is about to swap in."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".rebuild.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _new_generation(self) -> str:
        generation = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        path = self._generation_path(generation)
        path.mkdir(parents=True)
        tantivy.Index(SCHEMA, path=str(path))
        return generation

    def _swap(self, generation: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staged = self.root / f".CURRENT.{uuid.uuid4().hex}"
        staged.write_text(generation)
        os.replace(staged, self._current_file)  # atomic: readers see the old or the new

    def _open(self) -> tantivy.Index:
        """The current generation's index, reloaded if it changed since the last look."""
        generation = self._current_generation()
        meta = self._generation_path(generation) / "meta.json"
        try:
            seen = (self._current_file.stat().st_mtime, meta.stat().st_mtime)
        except FileNotFoundError:
            seen = (0.0, 0.0)
        with self._lock:
            if self._index is None or generation != self._generation:
                self._index = tantivy.Index.open(str(self._generation_path(generation)))
                self._generation = generation
                self._vocabulary = Vocabulary()
                self._seen = (0.0, 0.0)
            if seen != self._seen:
                self._index.reload()
                self._refresh_vocabulary(self._index.searcher())
                self._seen = seen
            return self._index

    def _refresh_vocabulary(self, searcher: tantivy.Searcher) -> None:
        counts: dict[str, int] = {}
        for field in ("name_terms", "description_terms"):
            for term, count in searcher.terms_with_prefix(field, ""):
                counts[term] = counts.get(term, 0) + count
        gone = {t: 0 for t in self._vocabulary.terms() if t not in counts}
        self._vocabulary.update({**counts, **gone})

    # ------------------------------------------------------------------ writing
    def _writer(self, index: tantivy.Index) -> tantivy.IndexWriter:
        deadline = time.monotonic() + _WRITER_WAIT_SECONDS
        while True:
            try:
                return index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            except ValueError as error:  # LockBusy: another process is writing
                if time.monotonic() > deadline:
                    raise DependencyUnavailable("the search index is being written") from error
                time.sleep(0.05)

    def put(self, documents: Sequence[ProductDocument]) -> None:
        self.apply(documents, [])

    def remove(self, product_ids: Sequence[str]) -> None:
        self.apply([], product_ids)

    def apply(self, documents: Sequence[ProductDocument], removed: Sequence[str]) -> None:
        """Put `documents` and remove `removed` in one commit. An entry is never replaced by an
        older version of itself (two indexers may have read the tables in either order), and
        its sales never go down within a version (they only grow)."""
        if not documents and not removed:
            return
        with self._lock:
            index = self._open()
            writer = self._writer(index)
            index.reload()  # what the other writer (process) committed before the lock
            searcher = index.searcher()
            documents = [d for d in (_newest(searcher, d) for d in documents) if d is not None]
            try:
                for product_id in [*removed, *(d.product_id for d in documents)]:
                    writer.delete_documents_by_term("product_id", product_id)
                for document in documents:
                    writer.add_document(_tantivy_document(document))
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            index.reload()

    def rebuild(self, documents: Iterable[ProductDocument]) -> int:
        """Build a new generation from `documents` aside, then make it the current one; the
        old generation stays readable until the swap. Returns how many were indexed."""
        with self._rebuilding():
            generation = self._new_generation()
            index = tantivy.Index.open(str(self._generation_path(generation)))
            writer = index.writer(heap_size=_WRITER_HEAP * 4, num_threads=1)
            count = 0
            for document in documents:
                writer.add_document(_tantivy_document(document))
                count += 1
            writer.commit()
            writer.wait_merging_threads()
            # No self._lock here: `apply` holds it and may wait for this file lock (first start).
            previous = (
                self._current_file.read_text().strip() if self._current_file.exists() else None
            )
            self._swap(generation)  # atomic: readers see the old or the new
            self._forget_generations(keep={generation, previous})
        return count

    def _forget_generations(self, keep: set[str | None]) -> None:
        """Old generations but the one just replaced (a reader may still be on it)."""
        folder = self.root / "generations"
        for path in folder.iterdir() if folder.exists() else ():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        return int(self._open().searcher().num_docs)

    def get(self, product_id: str) -> ProductDocument | None:
        searcher = self._open().searcher()
        found = searcher.search(tantivy.Query.term_query(SCHEMA, "product_id", product_id), 1)
        if not found.hits:
            return None
        return _stored(searcher, found.hits[0][1])

    def search(self, request: SearchRequest) -> SearchPage:
        query = request.query
        words = QueryWords.parse(query.q)
        with self._lock:  # the vocabulary changes when the index does (in `_open`)
            searcher = self._open().searcher()
            if request.ranking == "bm25":
                expansions = [
                    [Expansion(w, 0, False)] if w in self._vocabulary else [] for w in words.words
                ]
            else:
                expansions = [
                    self._vocabulary.expand(w, as_prefix=words.is_prefix(i))
                    for i, w in enumerate(words.typed)
                ]
        filters = self._filters(request)
        offset, limit = request.offset, query.limit

        def fetch(every_word: bool) -> tuple[tantivy.Query, int, list[Candidate]]:
            """The matching query, how many match, and the page's candidates (a relevance
            window, or the engine's order for sorts and the baseline), in one pass."""
            text = self._text_query(words, expansions, request, every_word=every_word)
            matching = self._combine(text, filters)
            if query.sort != "relevance":
                field, order = _SORTS[query.sort]
                found: Any = searcher.search(
                    matching, limit, count=True, order_by_field=field, order=order, offset=offset
                )
            elif request.ranking == "bm25":
                found = searcher.search(matching, limit, count=True, offset=offset)
            else:
                window = window_for(offset, limit)
                found = searcher.search(matching, window, count=True, weight_by_field="popularity")
            candidates = [_candidate(searcher, address, score) for score, address in found.hits]
            return matching, int(found.count), candidates

        every_word = request.ranking != "bm25"
        matching, total, candidates = fetch(every_word)
        if total == 0 and len(words.words) > 1 and every_word:
            # No product has every word: the ones with most of them, as the ranking orders.
            matching, total, candidates = fetch(False)
        matcher = expansion_matcher(expansions)
        if query.sort == "relevance" and request.ranking != "bm25":
            page = rank_page(candidates, offset, limit, words, matcher, request.profile)
        else:  # the engine's order: a sort, or the baseline; ranked only for the highlights
            by_id = {r.document.product_id: r for r in rank(candidates, words, matcher)}
            page = [by_id[c.product_id] for c in candidates]
        facets = self._facets(searcher, matching) if request.facets else NO_FACETS
        return page_of(query, offset, page, total, facets)

    def _text_query(
        self,
        words: QueryWords,
        expansions: list[list[Expansion]],
        request: SearchRequest,
        *,
        every_word: bool,
    ) -> tantivy.Query | None:
        if not words.words:
            return None
        per_word: list[tantivy.Query] = []
        unmatched = False  # a word no indexed term stands for: no product has every word
        for word, found in zip(words.words, expansions, strict=True):
            alternatives: list[tantivy.Query] = []
            for expansion in found:
                fields = [("name_terms", NAME_BOOST)]
                if not request.name_only:
                    fields.append(("description_terms", DESCRIPTION_BOOST))
                for field, boost in fields:
                    term = tantivy.Query.term_query(SCHEMA, field, expansion.term)
                    if expansion.prefix:
                        # BM25 favours rare terms; a completion should favour common ones
                        # ("hea" is more likely "heart" than "heavens").
                        common = math.log1p(expansion.documents)
                        alternatives.append(
                            tantivy.Query.const_score_query(
                                term, boost * _quality(expansion) * common
                            )
                        )
                    else:
                        alternatives.append(
                            tantivy.Query.boost_query(term, boost * _quality(expansion))
                        )
            if any(c.isdigit() for c in word):
                alternatives.append(
                    tantivy.Query.boost_query(
                        tantivy.Query.term_query(SCHEMA, "sku", word), SKU_BOOST
                    )
                )
            if alternatives:
                per_word.append(tantivy.Query.disjunction_max_query(alternatives))
            else:
                unmatched = True
        occur = tantivy.Occur.Must if every_word else tantivy.Occur.Should
        text = (
            tantivy.Query.boolean_query([(occur, q) for q in per_word])
            if per_word and not (unmatched and every_word)
            else tantivy.Query.empty_query()
        )
        if not words.skus:
            return text
        # A whole SKU typed ("TSHIRT-001-L") finds its product whatever its words match.
        by_sku = [
            (tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "sku", sku))
            for sku in words.skus
        ]
        return tantivy.Query.boolean_query([*by_sku, (tantivy.Occur.Should, text)])

    def _filters(self, request: SearchRequest) -> list[tantivy.Query]:
        query = request.query
        filters: list[tantivy.Query] = []
        if query.category is not None:
            filters.append(tantivy.Query.term_query(SCHEMA, "category", query.category))
        if query.min_price is not None or query.max_price is not None:
            filters.append(
                tantivy.Query.range_query(
                    SCHEMA,
                    "price",
                    tantivy.FieldType.Unsigned,
                    query.min_price if query.min_price is not None else 0,
                    query.max_price if query.max_price is not None else 2**63,
                )
            )
        if query.in_stock is not None:
            filters.append(tantivy.Query.term_query(SCHEMA, "in_stock", int(query.in_stock)))
        return [tantivy.Query.const_score_query(f, 0.0) for f in filters]

    @staticmethod
    def _combine(text: tantivy.Query | None, filters: list[tantivy.Query]) -> tantivy.Query:
        clauses = [(tantivy.Occur.Must, q) for q in ([text] if text is not None else [])]
        clauses += [(tantivy.Occur.Must, f) for f in filters]
        if not clauses:
            return tantivy.Query.all_query()
        if text is None:
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    @staticmethod
    def _facets(searcher: tantivy.Searcher, matching: tantivy.Query) -> SearchFacets:
        return facets_of(searcher.aggregate(matching, facet_aggregations()))


_SORTS = {
    "price_asc": ("price", tantivy.Order.Asc),
    "price_desc": ("price", tantivy.Order.Desc),
    "newest": ("created", tantivy.Order.Desc),
    "bestselling": ("sales", tantivy.Order.Desc),
}


def _newest(searcher: tantivy.Searcher, document: ProductDocument) -> ProductDocument | None:
    """`document`, unless the index holds a later version (then None); at the same version,
    with the larger of the two sales counts."""
    found = searcher.search(tantivy.Query.term_query(SCHEMA, "product_id", document.product_id), 1)
    if not found.hits:
        return document
    indexed = _stored(searcher, found.hits[0][1])
    if indexed.version > document.version:
        return None
    if indexed.version == document.version and indexed.sales > document.sales:
        return document.model_copy(update={"sales": indexed.sales})
    return document


def _stored(searcher: tantivy.Searcher, address: Any) -> ProductDocument:
    stored: Any = searcher.doc(address).get_first("doc")
    return ProductDocument.model_validate_json(stored)


def _candidate(searcher: tantivy.Searcher, address: Any, score: Any) -> Candidate:
    """A hit as ranking reads it: its terms as indexed (analysed once, at index time); the
    document itself only if it makes the page."""
    stored = searcher.doc(address)
    product_id, category, skus, name_terms, other_terms = str(stored.get_first("analysed")).split(
        "\t"
    )
    raw: Any = stored.get_first("doc")
    return Candidate(
        product_id=product_id,
        category=category,
        skus=tuple(skus.split()),
        score=float(score) if isinstance(score, float) else 0.0,
        name_terms=tuple(name_terms.split()),
        other_terms=frozenset(other_terms.split()),
        load=lambda: ProductDocument.model_validate_json(raw),
    )
