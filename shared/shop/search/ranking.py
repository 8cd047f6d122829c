"""Ordering candidates by relevance, the same for every engine.

Engines score every fuzzy match alike (Tantivy scores them all the same, tantivy#563), so the
order is decided here, in buckets as Meilisearch's ranking rules do, each a tie-break of the
one before:

1. words: how many of the query's words the product matches (all, when any product does);
2. typos: fewer is better, so an exact match always outranks a typo'd one;
3. exactness: a whole word beats a completion of the last word ("heart dec" is a search for
   "dec" before it is one for "decoration");
4. proximity: the words close together in the name, in the order typed;
5. field: words found in the name beat words found only in the description;
6. the blend: the engine's text score times what sells (log of units sold, in the engine's
   score already) times what this shopper buys (their categories and products).
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shop.search.analysis import (
    Expansion,
    fold,
    plain,
    plural,
    raw_words,
    terms,
    typo_budget,
    typo_cost,
)
from shop.search.models import ProductDocument, ShopperProfile

# Tuned on the validation split (bench/search_relevance.py --tune; docs/search.md).
POPULARITY = 0.75  # the text score is multiplied by 1 + POPULARITY * ln(1 + orders)
RERANK_WINDOW = 200  # candidates these rules order; deeper pages follow the engine's score
PERSONAL_CATEGORY_WEIGHT = 0.25
PERSONAL_PRODUCT_WEIGHT = 1.0
MAX_QUERY_WORDS = 10  # a longer query is a pasted paragraph: its first words decide
_FAR = 99  # proximity of words not all in the name


_SKU_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._-]*[._-][a-z0-9._-]*[a-z0-9]$")


@dataclass(frozen=True)
class QueryWords:
    words: tuple[str, ...]  # the query's terms, as the index holds terms
    typed: tuple[str, ...]  # the same words as typed (plain, not folded): typos are theirs
    last_is_prefix: bool  # the shopper may still be typing the last word
    skus: tuple[str, ...] = ()  # whole tokens shaped like a SKU with separators (TSHIRT-001-L)

    @classmethod
    def parse(cls, text: str) -> QueryWords:
        typed = tuple(raw_words(text))[:MAX_QUERY_WORDS]
        typing = bool(typed) and not text[-1:].isspace() and text.rstrip()[-1:].isalnum()
        tokens = (t.strip("\"'()[]{},.;:!?*~").lower() for t in text.split()[:MAX_QUERY_WORDS])
        skus = tuple(t for t in tokens if _SKU_TOKEN.match(t))
        return cls(tuple(fold(w) for w in typed), typed, typing, skus)

    def is_prefix(self, index: int) -> bool:
        return self.last_is_prefix and index == len(self.words) - 1


Matcher = Callable[[int, str], Expansion | None]


def typo_matcher(query: QueryWords) -> Matcher:
    """Matches a query word to a document's term by the typo rules alone (an engine with no
    vocabulary of its own to expand against, such as OpenSearch)."""
    cache: dict[tuple[int, str], Expansion | None] = {}

    def match(index: int, term: str) -> Expansion | None:
        key = (index, term)
        if key not in cache:
            cache[key] = _match(query, index, term)
        return cache[key]

    return match


def _match(query: QueryWords, index: int, term: str) -> Expansion | None:
    if query.words[index] == term:
        return Expansion(term, 0, False)
    typed = query.typed[index]
    budget = typo_budget(typed)
    costs = [
        c for c in (typo_cost(typed, s, budget) for s in {term, plural(term)}) if c is not None
    ]
    if costs:
        return Expansion(term, min(costs), False)
    if query.is_prefix(index):
        for surface in {term, plural(term)}:
            if len(surface) > len(typed) and surface.startswith(typed):
                return Expansion(term, 0, True)
        if budget and any(
            typo_cost(typed, surface[:k], 1) is not None
            for surface in {term, plural(term)}
            for k in range(len(typed) - 1, len(typed) + 2)
        ):
            return Expansion(term, 1, True)
    return None


def expansion_matcher(expansions: Sequence[Sequence[Expansion]]) -> Matcher:
    """Matches through each word's expansions against the vocabulary (the Tantivy engine's)."""
    by_word = [{e.term: e for e in word} for word in expansions]
    return lambda index, term: by_word[index].get(term)


class Candidate:
    """A product an engine found: what ranking reads of it (its terms as indexed, category,
    SKUs) and its score. The whole document is read only if asked for: a query ranks two
    hundred candidates and shows twenty."""

    __slots__ = (
        "_document",
        "_load",
        "category",
        "name_terms",
        "other_terms",
        "product_id",
        "score",
        "skus",
    )

    def __init__(
        self,
        *,
        product_id: str,
        category: str,
        skus: tuple[str, ...],
        score: float,
        name_terms: tuple[str, ...],
        other_terms: frozenset[str],  # description and attribute values
        load: Callable[[], ProductDocument],
    ) -> None:
        self.product_id = product_id
        self.category = category
        self.skus = skus
        self.score = score
        self.name_terms = name_terms
        self.other_terms = other_terms
        self._load = load
        self._document: ProductDocument | None = None

    @classmethod
    def of(cls, document: ProductDocument, score: float = 0.0) -> Candidate:
        """A candidate whose document is at hand (its terms are analysed here)."""
        candidate = cls(
            product_id=document.product_id,
            category=document.category,
            skus=tuple(document.skus),
            score=score,
            name_terms=tuple(terms(document.name)),
            other_terms=frozenset(terms(" ".join([document.description, *document.attributes]))),
            load=lambda: document,
        )
        candidate._document = document
        return candidate

    @property
    def document(self) -> ProductDocument:
        if self._document is None:
            self._document = self._load()
        return self._document


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    matched_terms: frozenset[str]

    @property
    def document(self) -> ProductDocument:
        return self.candidate.document


def _better(a: Expansion | None, b: Expansion | None) -> Expansion | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if (a.typos, a.prefix) <= (b.typos, b.prefix) else b


def _personal(candidate: Candidate, profile: ShopperProfile | None) -> float:
    if profile is None or profile.empty:
        return 1.0
    return (
        1.0
        + PERSONAL_CATEGORY_WEIGHT * profile.categories.get(candidate.category, 0.0)
        + PERSONAL_PRODUCT_WEIGHT * profile.products.get(candidate.product_id, 0.0)
    )


def rank(
    candidates: Sequence[Candidate],
    query: QueryWords,
    matcher: Matcher,
    profile: ShopperProfile | None = None,
) -> list[Ranked]:
    """`candidates` in relevance order."""
    keyed: list[tuple[tuple[float | str, ...], Ranked]] = []
    n = len(query.words)
    for candidate in candidates:
        name = candidate.name_terms
        description = candidate.other_terms - set(name)
        skus = {sku.lower() for sku in candidate.skus}
        if any(sku in skus for sku in query.skus):  # the shopper typed this product's SKU
            key = (-n, 0, -n, 0, -n, -candidate.score, candidate.product_id)
            keyed.append((key, Ranked(candidate, frozenset())))
            continue
        matched = typos = in_name = whole = 0
        found: set[str] = set()
        positions: list[int] = []
        for i in range(n):
            best: Expansion | None = None
            best_position = -1
            for position, term in enumerate(name):
                found_here = matcher(i, term)
                if found_here is not None and _better(best, found_here) is found_here:
                    best, best_position = found_here, position
            where_name = best is not None
            if best is None:
                for term in description:
                    best = _better(best, matcher(i, term))
            if best is None and query.words[i] in skus:
                best = Expansion(query.words[i], 0, False)
            if best is None:
                continue
            matched += 1
            typos += best.typos
            whole += not best.prefix
            found.add(best.term)
            if where_name:
                in_name += 1
                positions.append(best_position)
        proximity = _proximity(positions) if len(positions) == n and n > 1 else _FAR
        if n <= 1:
            proximity = 0
        blended = candidate.score * _personal(candidate, profile)
        # The product id last: equal candidates keep one order from page to page.
        key = (-matched, typos, -whole, proximity, -in_name, -blended, candidate.product_id)
        keyed.append((key, Ranked(candidate, frozenset(found))))
    keyed.sort(key=lambda pair: pair[0])
    return [ranked for _, ranked in keyed]


def window_for(offset: int, limit: int) -> int:
    """How many of the engine's best candidates a page at `offset` needs: whole blocks of
    RERANK_WINDOW, the blocks the page falls in and every one before."""
    last_block = (offset + limit - 1) // RERANK_WINDOW
    return (last_block + 1) * RERANK_WINDOW


def rank_page(
    candidates: Sequence[Candidate],
    offset: int,
    limit: int,
    query: QueryWords,
    matcher: Matcher,
    profile: ShopperProfile | None = None,
) -> list[Ranked]:
    """One page of `candidates` (the engine's best, in its order) in relevance order. The rules
    order each block of RERANK_WINDOW candidates on its own, so a page's order never depends on
    how deep the shopper paged: pages neither repeat nor skip a product."""
    first, last = offset // RERANK_WINDOW, (offset + limit - 1) // RERANK_WINDOW
    ordered: list[Ranked] = []
    for block in range(first, last + 1):
        start = block * RERANK_WINDOW
        ordered += rank(candidates[start : start + RERANK_WINDOW], query, matcher, profile)
    skip = offset - first * RERANK_WINDOW
    return ordered[skip : skip + limit]


def _proximity(positions: list[int]) -> int:
    """Distance between consecutive words in the name; typed order costs nothing extra."""
    return sum((b - a - 1) if b > a else (a - b + 1) for a, b in itertools.pairwise(positions))


_NAME_WORD = re.compile(r"[A-Za-z0-9\u00C0-\u024F]+")


def highlight(name: str, matched_terms: frozenset[str]) -> str:
    """The name, HTML-escaped, its matched words in <em></em>."""
    out: list[str] = []
    last = 0
    for found in _NAME_WORD.finditer(name):
        out.append(html.escape(name[last : found.start()]))
        word = found.group()
        folded = fold(plain(word))
        out.append(
            f"<em>{html.escape(word)}</em>" if folded in matched_terms else html.escape(word)
        )
        last = found.end()
    out.append(html.escape(name[last:]))
    return "".join(out)
