"""Search relevance: judged queries on the demo catalogue, blended ranking against plain BM25.

Builds one Tantivy index of the demo catalogue (`TantivySearch`), with sales counted over the
learning period only, then asks it judged queries twice, `ranking="blended"` and
`ranking="bm25"`, and reports success@10 and NDCG@10 per set:

    known-item     a product's distinctive name words (1 to 3), as typed; relevant: the product
    typos          the same queries misspelt within the typo budget (never the first letter)
    prefixes       the same queries cut inside the last word (search-as-you-type)
    typo prefixes  the misspelt queries cut inside the last word
    head           the commonest words and word pairs of product names; graded by the orders
                   of the judging period (later than the learning one): log2(1 + orders)
    sanity         hand-written queries (bench/search_judgments.py)

and personalisation: for shoppers who bought in both periods, does a product they bought in
the judging period rank higher for a head word of its name with their profile (learnt from
their learning-period orders) than anonymously?

Everything is derived from the data file and a seed, so it regenerates on other data: the
periods split the data's own time range (learning: the first 75 %; judging: the rest), and
`--tune` sweeps the engine's constants on a validation split inside the learning period only
(learning on its first 75 %, judging on the rest), never on the reported one.

    .venv/bin/python bench/search_relevance.py [--data PATH] [--out docs/search.md]
                                               [--seed 7] [--tune] [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shop.catalog.models import NewProduct
from shop.catalog.service import first_versions
from shop.search import engine as engine_module
from shop.search import ranking
from shop.search.analysis import raw_words, terms
from shop.search.engine import Ranking, SearchEngine, SearchRequest
from shop.search.models import ProductDocument, SearchQuery, ShopperProfile
from shop.search.personal import profile_of
from shop.search.service import document_of
from shop.search.tantivy_engine import TantivySearch
from shop_local.demo_catalog import DEMO_DATA_PATH, build_demo_catalog
from shop_local.demo_sales import Purchase, purchases, times_ordered

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
    from bench.search_judgments import SANITY, Sanity
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common
    from search_judgments import SANITY, Sanity

K = 10  # success@K, NDCG@K, hit@K
DEEP = 100  # how deep a judged product is looked for (MRR counts 0 beyond)
LEARN_SHARE = 0.75  # of the data's time range; the validation split cuts the learning part alike
HISTORY_ORDERS = 20  # a shopper's latest orders are their profile (shop.search.service's)
STOP = frozenset({"a", "an", "and", "the", "of", "with", "in", "for", "to", "on", "or", "s"})
# Words of product names no shopper searches for alone (sizes, counts, packaging).
NOT_HEAD = STOP | {"set", "pack", "assorted", "small", "large", "medium", "mini", "big", "design"}
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
TUNABLE: dict[str, tuple[Any, str]] = {
    "POPULARITY": (ranking, "POPULARITY"),
    "RERANK_WINDOW": (ranking, "RERANK_WINDOW"),
    "NAME_BOOST": (engine_module, "NAME_BOOST"),
    "DESCRIPTION_BOOST": (engine_module, "DESCRIPTION_BOOST"),
    "PERSONAL_CATEGORY_WEIGHT": (ranking, "PERSONAL_CATEGORY_WEIGHT"),
    "PERSONAL_PRODUCT_WEIGHT": (ranking, "PERSONAL_PRODUCT_WEIGHT"),
}


# ---------------------------------------------------------------------- metrics
def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranked: Sequence[str], gains: Mapping[str, float], k: int = K) -> float:
    """NDCG@k of product ids in ranked order, judged by `gains` (absent: 0). The ideal ranking
    is every judged product by gain, best first; no positive gain anywhere scores 0."""
    ideal = dcg(sorted((g for g in gains.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([gains.get(p, 0.0) for p in ranked[:k]]) / ideal


def success_at(ranked: Sequence[str], gains: Mapping[str, float], k: int = K) -> float:
    return 1.0 if any(gains.get(p, 0.0) > 0 for p in ranked[:k]) else 0.0


def reciprocal_rank(ranked: Sequence[str], wanted: str) -> float:
    try:
        return 1.0 / (ranked.index(wanted) + 1)
    except ValueError:
        return 0.0


def mean(values: Iterable[float]) -> float:
    listed = list(values)
    return sum(listed) / len(listed) if listed else float("nan")


# ---------------------------------------------------------------------- periods
@dataclass(frozen=True)
class Periods:
    """Learn on [start, cut), judge on [cut, end]: dates as the data's strings compare."""

    start: str
    cut: str
    end: str

    def learning(self) -> tuple[str, str]:
        return self.start, self.cut

    def judging(self) -> tuple[str, str]:
        return self.cut, "9999"


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text[:10]).replace(tzinfo=UTC)


def split(start: str, end: str, share: float = LEARN_SHARE) -> Periods:
    """Periods cutting [start, end] at `share` of its length, on a day boundary."""
    first, last = _day(start), _day(end) + timedelta(days=1)
    cut = first + timedelta(days=round((last - first).days * share))
    return Periods(first.strftime("%Y-%m-%d"), cut.strftime("%Y-%m-%d"), end[:10])


def periods_of(lines: Sequence[Purchase]) -> tuple[Periods, Periods]:
    """The reported split of the data's time range, and the validation split inside its
    learning period (for tuning)."""
    times = [line.at for line in lines if line.at]
    report = split(min(times), max(times))
    last_learnt = (_day(report.cut) - timedelta(days=1)).strftime("%Y-%m-%d")
    validation = split(report.start, last_learnt)
    return report, validation


# ---------------------------------------------------------------------- the catalogue
@dataclass
class Catalogue:
    """The catalogue drafts, with what the query generators need to know about names."""

    drafts: list[dict[str, Any]]
    names: dict[str, str] = field(default_factory=dict)  # product id -> name
    categories: dict[str, str] = field(default_factory=dict)
    name_terms: dict[str, frozenset[str]] = field(default_factory=dict)
    text_terms: dict[str, frozenset[str]] = field(default_factory=dict)  # all it is found by
    skus: dict[str, str] = field(default_factory=dict)  # sku -> product id
    by_name: dict[str, list[str]] = field(default_factory=dict)  # casefolded name -> ids
    by_term: dict[str, set[str]] = field(default_factory=dict)  # name term -> ids
    spelling: dict[str, str] = field(default_factory=dict)  # term -> commonest raw word

    def __post_init__(self) -> None:
        spellings: dict[str, Counter[str]] = defaultdict(Counter)
        for draft in self.drafts:
            pid = str(draft["product_id"])
            name = str(draft["name"])
            self.names[pid] = name
            self.categories[pid] = str(draft["category"])
            self.name_terms[pid] = frozenset(terms(name))
            attributes = [str(a) for v in draft["variants"] for a in v["attributes"].values()]
            text = " ".join([name, str(draft.get("description", "")), *attributes])
            self.text_terms[pid] = frozenset(terms(text))
            for variant in draft["variants"]:
                self.skus[str(variant["sku"])] = pid
            self.by_name.setdefault(name.casefold(), []).append(pid)
            for word in set(raw_words(name)):
                (term,) = terms(word)
                self.by_term.setdefault(term, set()).add(pid)
                spellings[term][word] += 1
        self.spelling = {t: c.most_common(1)[0][0] for t, c in spellings.items()}

    def named(self, words: Iterable[str]) -> set[str]:
        """Products whose name holds every one of these words' terms."""
        found: set[str] | None = None
        for term in {t for w in words for t in terms(w)}:
            ids = self.by_term.get(term, set())
            found = set(ids) if found is None else found & ids
        return found or set()

    def matching(self, query: str) -> set[str]:
        """Products whose text (name, description, attributes) holds every query term."""
        wanted = set(terms(query))
        return {p for p, held in self.text_terms.items() if wanted <= held}


def documents(catalogue: Catalogue, sales: Mapping[str, int]) -> list[ProductDocument]:
    """The catalogue as the indexer would index it (`shop.search.service.document_of`)."""
    products = first_versions([NewProduct.model_validate(d) for d in catalogue.drafts])
    return [document_of(p, in_stock=True, orders=sales.get(p.product_id, 0)) for p in products]


def build_index(root: Path, docs: Sequence[ProductDocument]) -> SearchEngine:
    """Tantivy in `root`; OpenSearch at `OPENSEARCH_URL` when `SHOP_RELEVANCE_ENGINE` is
    "opensearch" (the same suite against a real server, under an alias of its own)."""
    engine: SearchEngine
    if os.environ.get("SHOP_RELEVANCE_ENGINE") == "opensearch":
        from shop.search.opensearch_engine import OpenSearchSearch

        engine = OpenSearchSearch("", alias=f"relevance-{uuid.uuid4().hex[:8]}")
    else:
        engine = TantivySearch(root)
    engine.rebuild(docs)
    return engine


# ---------------------------------------------------------------------- judged queries
@dataclass(frozen=True)
class Judged:
    q: str
    gains: dict[str, float]  # product id -> gain; absent: not relevant
    about: str = ""  # what the query was made from, for the report of losses


@dataclass
class QuerySet:
    name: str
    queries: list[Judged]
    skipped: int = 0  # hand-written queries whose product is not in this catalogue


def _half(product_id: str) -> str:
    """Products split in two halves, stably: one for tuning, the other for the report."""
    return "tune" if hashlib.sha256(product_id.encode()).digest()[0] % 2 else "report"


def _neighbours(letter: str) -> str:
    for row_index, row in enumerate(KEYBOARD):
        column = row.find(letter)
        if column < 0:
            continue
        near = row[max(column - 1, 0) : column] + row[column + 1 : column + 2]
        for other in (row_index - 1, row_index + 1):
            if 0 <= other < len(KEYBOARD):
                near += KEYBOARD[other][max(column - 1, 0) : column + 1]
        return near
    return "aeiou"


def _edit(word: str, rng: random.Random) -> str:
    """One realistic edit of `word`, never touching its first letter."""
    kind = rng.choice(("transpose", "delete", "substitute", "insert"))
    if kind == "transpose":
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "delete":
        i = rng.randrange(1, len(word))
        return word[:i] + word[i + 1 :]
    if kind == "substitute":
        i = rng.randrange(1, len(word))
        return word[:i] + rng.choice(_neighbours(word[i])) + word[i + 1 :]
    i = rng.randrange(1, len(word) + 1)  # insert after letter i: a neighbour or a double
    letter = word[i - 1]
    return word[:i] + rng.choice(_neighbours(letter) + letter) + word[i:]


def typo(word: str, rng: random.Random, edits: int) -> str | None:
    """`word` with `edits` edits; None when they cancel out, or only change a plural."""
    for _ in range(10):
        typed = word
        for _ in range(edits):
            typed = _edit(typed, rng)
        if (
            1 <= edit_distance(typed, word) <= edits  # two edits may undo or compound
            and terms(typed) != terms(word)
            and typed.isalpha()
            and typo_budget_of(typed) >= edits  # the budget is the typed word's length's
        ):
            return typed
    return None


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of adjacent letters from a to b (the
    optimal string alignment distance), each costing one."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def typo_budget_of(word: str) -> int:
    """The typos a word may be given: none below 5 letters, 1, 2 from 9 (or any digit: 0)."""
    if not word.isalpha() or len(word) < 5:
        return 0
    return 1 if len(word) < 9 else 2


def _distinctive_words(catalogue: Catalogue, pid: str, rng: random.Random) -> list[str] | None:
    """1 to 3 words of the product's name, in the name's order, that no product of another
    name holds all of; None when no such words."""
    name = catalogue.names[pid]
    same = set(catalogue.by_name[name.casefold()])
    words = [w for w in dict.fromkeys(raw_words(name)) if w.isalpha() and w not in STOP]
    preferred = rng.choice((1, 2, 2, 3))  # as many words as shoppers type, most often two
    for size in sorted((1, 2, 3), key=lambda s: (abs(s - preferred), s)):
        combos = [
            list(c) for c in itertools.combinations(words, size) if catalogue.named(c) <= same
        ]
        if combos:
            return rng.choice(combos)
    return None


def _cut(word: str, rng: random.Random) -> str | None:
    """The word as typed part of the way: at least 3 letters, at least one missing."""
    if len(word) < 4:
        return None
    return word[: rng.randint(max(3, len(word) // 2), len(word) - 1)]


def known_item_sets(catalogue: Catalogue, *, seed: int, half: str, count: int) -> list[QuerySet]:
    """Known-item queries for `count` products of one half: exact, typos, prefixes, both."""
    rng = random.Random(seed)
    pool = sorted(p for p in catalogue.names if _half(p) == half)
    rng.shuffle(pool)
    exact: list[Judged] = []
    typos: list[Judged] = []
    prefixes: list[Judged] = []
    typo_prefixes: list[Judged] = []
    for pid in pool:
        if len(exact) >= count:
            break
        words = _distinctive_words(catalogue, pid, rng)
        if words is None:
            continue
        name = catalogue.names[pid]
        gains = dict.fromkeys(catalogue.by_name[name.casefold()], 1.0)
        exact.append(Judged(" ".join(words), gains, name))
        typed = list(words)
        eligible = [i for i, w in enumerate(words) if typo_budget_of(w)]
        if eligible:
            chosen = {i for i in eligible if rng.random() < 0.6} or {rng.choice(eligible)}
            for i in sorted(chosen):
                edits = 2 if typo_budget_of(words[i]) == 2 and rng.random() < 0.3 else 1
                typed[i] = typo(words[i], rng, edits) or words[i]
            if typed != words:
                typos.append(Judged(" ".join(typed), gains, name))
        cut = _cut(words[-1], rng)
        if cut is not None:
            prefixes.append(Judged(" ".join([*words[:-1], cut]), gains, name))
            if typed != words:
                cut_typed = _cut(typed[-1], random.Random(f"{seed}:{pid}")) or typed[-1]
                typo_prefixes.append(Judged(" ".join([*typed[:-1], cut_typed]), gains, name))
    return [
        QuerySet("known-item, exact", exact),
        QuerySet("known-item, typos", typos),
        QuerySet("prefixes", prefixes),
        QuerySet("prefixes with typos", typo_prefixes),
    ]


def head_words(catalogue: Catalogue, words: int = 30, pairs: int = 15) -> list[str]:
    """The commonest words and adjacent word pairs of product names, as spelt in them."""
    single: Counter[str] = Counter()
    double: Counter[tuple[str, str]] = Counter()
    for name in catalogue.names.values():
        found = raw_words(name)
        single.update({terms(w)[0] for w in found if w.isalpha() and w not in NOT_HEAD})
        double.update(
            {
                (terms(a)[0], terms(b)[0])
                for a, b in itertools.pairwise(found)
                if a.isalpha() and b.isalpha() and a not in NOT_HEAD and b not in NOT_HEAD
            }
        )
    top = [catalogue.spelling[t] for t, n in single.most_common() if len(t) >= 3 and n >= 5]
    top_pairs = [
        f"{catalogue.spelling[a]} {catalogue.spelling[b]}"
        for (a, b), n in double.most_common()
        if n >= 5 and a != b
    ]
    return top[:words] + top_pairs[:pairs]


def head_set(catalogue: Catalogue, later: Mapping[str, int]) -> QuerySet:
    """Head queries, each product matching it graded by its orders in the judging period."""
    queries = []
    for q in head_words(catalogue):
        gains = {p: math.log2(1 + later[p]) for p in catalogue.matching(q) if later.get(p)}
        if gains:
            queries.append(Judged(q, gains, f"{len(gains)} sold later"))
    return QuerySet("head (graded by later sales)", queries)


def sanity_set(catalogue: Catalogue, sanity: Sequence[Sanity] = SANITY) -> QuerySet:
    queries, skipped = [], 0
    for item in sanity:
        if item.names:
            relevant = {p for n in item.names for p in catalogue.by_name.get(n.casefold(), [])}
        elif item.sku:
            relevant = {catalogue.skus[item.sku]} if item.sku in catalogue.skus else set()
        else:
            relevant = catalogue.named(raw_words(item.name_has))
        if relevant:
            queries.append(Judged(item.q, dict.fromkeys(relevant, 1.0), item.why))
        else:
            skipped += 1
    return QuerySet("hand-written sanity", queries, skipped)


# ---------------------------------------------------------------------- asking the engine
def ranked_ids(
    engine: SearchEngine,
    q: str,
    rank_by: Ranking,
    profile: ShopperProfile | None = None,
    limit: int = K,
) -> list[str]:
    request = SearchRequest(
        SearchQuery(q=q, limit=limit), ranking=rank_by, profile=profile, facets=False
    )
    return [hit.product_id for hit in engine.search(request).items]


@dataclass(frozen=True)
class Scored:
    judged: Judged
    blended: list[str]
    bm25: list[str]

    def ndcg(self, rank_by: Ranking) -> float:
        return ndcg_at(self.blended if rank_by == "blended" else self.bm25, self.judged.gains)

    def success(self, rank_by: Ranking) -> float:
        return success_at(self.blended if rank_by == "blended" else self.bm25, self.judged.gains)


def score(engine: SearchEngine, query_set: QuerySet, *, bm25: bool = True) -> list[Scored]:
    return [
        Scored(
            judged,
            ranked_ids(engine, judged.q, "blended"),
            ranked_ids(engine, judged.q, "bm25") if bm25 else [],
        )
        for judged in query_set.queries
    ]


# ---------------------------------------------------------------------- personal
@dataclass(frozen=True)
class Target:
    customer: str
    product_id: str
    q: str
    rebought: bool  # the shopper bought it in the learning period too


@dataclass
class PersonalResult:
    shoppers: int
    targets: list[Target]
    personal: list[float]  # reciprocal ranks, per target
    anonymous: list[float]
    personal_hits: list[bool]
    anonymous_hits: list[bool]
    anonymous_same: int  # queries whose anonymous and empty-profile rankings were identical
    queries: int

    def row(self, which: Callable[[Target], bool]) -> tuple[int, float, float, float, float]:
        picked = [i for i, t in enumerate(self.targets) if which(t)]
        return (
            len(picked),
            mean(self.personal[i] for i in picked),
            mean(self.anonymous[i] for i in picked),
            mean(float(self.personal_hits[i]) for i in picked),
            mean(float(self.anonymous_hits[i]) for i in picked),
        )


def query_word_of(catalogue: Catalogue, pid: str, category_words: Mapping[str, str]) -> str:
    """A head word of the product's name (its commonest one across the catalogue's names), or
    its category's commonest name word when its name has none that many products share."""
    held = [t for t in catalogue.name_terms[pid] if t.isalpha() and len(t) >= 3]
    held = [t for t in held if catalogue.spelling.get(t, t) not in NOT_HEAD]
    best = max(held, key=lambda t: (len(catalogue.by_term.get(t, ())), t), default=None)
    if best is not None and len(catalogue.by_term[best]) >= 10:
        return catalogue.spelling[best]
    return category_words.get(catalogue.categories[pid], best or "")


def personal_targets(
    catalogue: Catalogue,
    lines: Sequence[Purchase],
    periods: Periods,
    *,
    seed: int,
    shoppers: int,
    per_shopper: int,
) -> tuple[dict[str, ShopperProfile], list[Target]]:
    """Profiles of shoppers who bought in both periods (their latest learning-period orders),
    and up to `per_shopper` products each bought in the judging period, with a query each."""
    owners = catalogue.skus
    learn_from, learn_until = periods.learning()
    history: dict[str, list[Purchase]] = defaultdict(list)
    later: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line.customer is None or line.sku not in owners:
            continue
        if learn_from <= line.at < learn_until:
            history[line.customer].append(line)
        elif line.at >= learn_until:
            later[line.customer].append(owners[line.sku])
    category_words: dict[str, str] = {}
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for pid, held in catalogue.name_terms.items():
        by_category[catalogue.categories[pid]].update(
            t for t in held if t.isalpha() and len(t) >= 3 and catalogue.spelling[t] not in NOT_HEAD
        )
    for category, counts in by_category.items():
        if counts:
            category_words[category] = catalogue.spelling[counts.most_common(1)[0][0]]
    rng = random.Random(seed)
    both = sorted(c for c in history if c in later)
    rng.shuffle(both)
    profiles: dict[str, ShopperProfile] = {}
    targets: list[Target] = []
    for customer in both[:shoppers]:
        newest = sorted(history[customer], key=lambda line: (line.at, line.invoice), reverse=True)
        invoices = list(dict.fromkeys(line.invoice for line in newest))[:HISTORY_ORDERS]
        recent = set(invoices)
        bought = [
            (owners[line.sku], catalogue.categories[owners[line.sku]])
            for line in newest
            if line.invoice in recent
        ]
        profiles[customer] = profile_of(bought)
        before = {pid for pid, _ in bought}
        wanted = sorted(set(later[customer]))
        rng.shuffle(wanted)
        for pid in wanted[:per_shopper]:
            q = query_word_of(catalogue, pid, category_words)
            if q:
                targets.append(Target(customer, pid, q, pid in before))
    return profiles, targets


def measure_personal(
    engine: SearchEngine, profiles: Mapping[str, ShopperProfile], targets: Sequence[Target]
) -> PersonalResult:
    anonymous: dict[str, list[str]] = {}
    same = 0
    personal: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        if target.q not in anonymous:
            anonymous[target.q] = ranked_ids(engine, target.q, "blended", None, DEEP)
            empty = ranked_ids(engine, target.q, "blended", ShopperProfile(), DEEP)
            same += empty == anonymous[target.q]
        key = (target.customer, target.q)
        if key not in personal:
            personal[key] = ranked_ids(engine, target.q, "blended", profiles[target.customer], DEEP)
    return PersonalResult(
        shoppers=len({t.customer for t in targets}),
        targets=list(targets),
        personal=[reciprocal_rank(personal[t.customer, t.q], t.product_id) for t in targets],
        anonymous=[reciprocal_rank(anonymous[t.q], t.product_id) for t in targets],
        personal_hits=[t.product_id in personal[t.customer, t.q][:K] for t in targets],
        anonymous_hits=[t.product_id in anonymous[t.q][:K] for t in targets],
        anonymous_same=same,
        queries=len(anonymous),
    )


# ---------------------------------------------------------------------- a whole evaluation
@dataclass
class Data:
    path: Path
    catalogue: Catalogue
    lines: list[Purchase]
    report: Periods
    validation: Periods


def load(path: Path) -> Data:
    catalogue = Catalogue(build_demo_catalog(path))
    lines = list(purchases(path))
    report, validation = periods_of(lines)
    return Data(path, catalogue, lines, report, validation)


@dataclass
class Judgments:
    """Everything judged on one split, made once: what the index holds and what it is asked."""

    periods: Periods
    documents: list[ProductDocument]
    sets: list[QuerySet]
    profiles: dict[str, ShopperProfile]
    targets: list[Target]


def judgments(
    data: Data,
    periods: Periods,
    *,
    half: str,
    seed: int,
    known_items: int,
    shoppers: int,
    per_shopper: int = 5,
) -> Judgments:
    catalogue = data.catalogue
    sales = times_ordered(catalogue.skus, data.lines, since=periods.start, until=periods.cut)
    later = times_ordered(catalogue.skus, data.lines, since=periods.cut)
    sets = [
        *known_item_sets(catalogue, seed=seed, half=half, count=known_items),
        head_set(catalogue, later),
    ]
    if half == "report":
        sets.append(sanity_set(catalogue))
    profiles, targets = personal_targets(
        catalogue, data.lines, periods, seed=seed, shoppers=shoppers, per_shopper=per_shopper
    )
    return Judgments(periods, documents(catalogue, sales), sets, profiles, targets)


@dataclass
class Evaluation:
    periods: Periods
    sets: list[tuple[QuerySet, list[Scored]]]
    personal: PersonalResult
    seconds: float


def evaluate(
    judged: Judgments, root: Path, *, bm25: bool = True, sets: Iterable[str] | None = None
) -> Evaluation:
    """Index the documents in `root` and ask every judged query (of `sets`, by name: all if
    None; the personal ones only if "personal" is among them)."""
    started = time.monotonic()
    engine = build_index(root, judged.documents)
    wanted = None if sets is None else set(sets)
    scored = [
        (s, score(engine, s, bm25=bm25)) for s in judged.sets if wanted is None or s.name in wanted
    ]
    targets = judged.targets if wanted is None or "personal" in wanted else []
    personal = measure_personal(engine, judged.profiles, targets)
    return Evaluation(judged.periods, scored, personal, time.monotonic() - started)


# ---------------------------------------------------------------------- tuning
@dataclass(frozen=True)
class Trial:
    values: dict[str, float]
    head: float
    typos: float
    prefixes: float
    personal: float


def set_constants(values: Mapping[str, float]) -> dict[str, Any]:
    """Set engine constants by name; returns their previous values."""
    previous = {}
    for name, value in values.items():
        module, attribute = TUNABLE[name]
        previous[name] = getattr(module, attribute)
        kind = type(previous[name])
        setattr(module, attribute, kind(value))
    return previous


HEAD, TYPOS, PREFIXES = "head (graded by later sales)", "known-item, typos", "prefixes"


def _trial(judged: Judgments, values: Mapping[str, float], root: Path, sets: set[str]) -> Trial:
    previous = set_constants(values)
    try:
        found = evaluate(judged, root / f"trial-{next(_TRIALS)}", bm25=False, sets=sets)
    finally:
        set_constants(previous)
    by_name = {s.name: scored for s, scored in found.sets}
    nan = float("nan")
    return Trial(
        dict(values),
        head=mean(x.ndcg("blended") for x in by_name[HEAD]) if HEAD in by_name else nan,
        typos=mean(x.success("blended") for x in by_name[TYPOS]) if TYPOS in by_name else nan,
        prefixes=(
            mean(x.success("blended") for x in by_name[PREFIXES]) if PREFIXES in by_name else nan
        ),
        personal=mean(found.personal.personal) if found.personal.targets else nan,
    )


_TRIALS = itertools.count()


SWEEPS: dict[str, tuple[float, ...]] = {
    "POPULARITY": (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5),
    "RERANK_WINDOW": (25, 50, 100, 200, 400),
    "PERSONAL_CATEGORY_WEIGHT": (0.0, 0.25, 0.5, 1.0, 2.0),
    "PERSONAL_PRODUCT_WEIGHT": (0.0, 0.5, 1.0, 2.0, 4.0, 8.0),
}
# A constant moves from its current value only for more than this (a query or two in 300):
# the one chosen is the nearest the current value of those within TOLERANCE of the best.
TOLERANCE = 0.005
# What each constant is for, so what it is judged on: popularity and the window order head
# queries without losing known items; the personal weights order a shopper's own products.
TEXT = {HEAD, TYPOS, PREFIXES}
OBJECTIVE: dict[str, tuple[set[str], Callable[[Trial], float]]] = {
    "POPULARITY": (TEXT, lambda t: t.head + t.typos + t.prefixes),
    "RERANK_WINDOW": (TEXT, lambda t: t.head + t.typos + t.prefixes),
    "PERSONAL_CATEGORY_WEIGHT": ({"personal"}, lambda t: t.personal),
    "PERSONAL_PRODUCT_WEIGHT": ({"personal"}, lambda t: t.personal),
}


def tune(data: Data, seed: int, root: Path) -> tuple[list[str], dict[str, float]]:
    """One constant at a time, the others at their best so far, on the validation split."""
    chosen: dict[str, float] = {}
    lines = [
        f"Validation split: learning {data.validation.start} to {data.validation.cut} "
        f"(exclusive), judging {data.validation.cut} to {data.report.cut} (exclusive); "
        "known items from the other half of the products.",
        "",
        "| constant | value | head NDCG@10 | typos success@10 | prefixes success@10 "
        "| personal MRR |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    judged = judgments(
        data, data.validation, half="tune", seed=seed + 1, known_items=300, shoppers=200
    )
    for name, values in SWEEPS.items():
        sets, objective = OBJECTIVE[name]
        trials = [_trial(judged, {**chosen, name: v}, root, sets) for v in values]
        default = getattr(*TUNABLE[name])
        top = max(objective(t) for t in trials)
        near = [t for t in trials if objective(t) >= top - TOLERANCE]
        best = min(near, key=lambda t: (abs(t.values[name] - default), t.values[name]))
        chosen[name] = best.values[name]
        for t in trials:
            marks = (" (chosen)" if t is best else "") + (
                " (current)" if t.values[name] == default else ""
            )
            cells = [t.head, t.typos, t.prefixes, t.personal]
            shown = " | ".join("-" if math.isnan(c) else f"{c:.3f}" for c in cells)
            lines.append(f"| {name} | {t.values[name]:g}{marks} | {shown} |")
        print(f"tuned {name}: {chosen[name]:g}", file=sys.stderr)
    return lines, chosen


# ---------------------------------------------------------------------- the report
def _table(evaluation: Evaluation) -> list[str]:
    rows = [
        "| set | queries | success@10 blended | success@10 BM25 | NDCG@10 blended | NDCG@10 BM25 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for query_set, scored in evaluation.sets:
        rows.append(
            f"| {query_set.name} | {len(scored)} "
            f"| {mean(x.success('blended') for x in scored):.3f} "
            f"| {mean(x.success('bm25') for x in scored):.3f} "
            f"| {mean(x.ndcg('blended') for x in scored):.3f} "
            f"| {mean(x.ndcg('bm25') for x in scored):.3f} |"
        )
    return rows


def _personal_table(result: PersonalResult) -> list[str]:
    rows = [
        "| products bought later | pairs | MRR@100 signed in | MRR@100 anonymous "
        "| hit@10 signed in | hit@10 anonymous |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, which in (
        ("all", lambda t: True),
        ("bought before too (re-buys)", lambda t: t.rebought),
        ("new to the shopper", lambda t: not t.rebought),
    ):
        n, mrr_p, mrr_a, hit_p, hit_a = result.row(which)
        rows.append(f"| {label} | {n} | {mrr_p:.3f} | {mrr_a:.3f} | {hit_p:.3f} | {hit_a:.3f} |")
    return rows


def losses(evaluation: Evaluation, catalogue: Catalogue, per_set: int = 4) -> list[str]:
    """Queries where blended ranked worse than BM25 (NDCG@10), the worst first, per set."""
    out: list[str] = []
    for query_set, scored in evaluation.sets:
        worse = sorted(
            (x for x in scored if x.ndcg("blended") < x.ndcg("bm25") - 1e-9),
            key=lambda x: x.ndcg("blended") - x.ndcg("bm25"),
        )
        if not worse:
            continue
        out.append(f"- {query_set.name}: {len(worse)} of {len(scored)} queries")
        for x in worse[:per_set]:
            top = ", ".join(catalogue.names[p] for p in x.blended[:3]) or "nothing"
            out.append(
                f"  - `{x.judged.q}` ({x.judged.about}): NDCG@10 {x.ndcg('blended'):.2f} "
                f"vs {x.ndcg('bm25'):.2f}; blended's top 3: {top}"
            )
    return out


def misses(evaluation: Evaluation, catalogue: Catalogue, per_set: int = 3) -> list[str]:
    """Queries whose blended top 10 holds nothing relevant, per set (the first few)."""
    out: list[str] = []
    for query_set, scored in evaluation.sets:
        missed = [x for x in scored if not x.success("blended")]
        if not missed:
            continue
        out.append(f"- {query_set.name}: {len(missed)} of {len(scored)} queries")
        for x in missed[:per_set]:
            top = ", ".join(catalogue.names[p] for p in x.blended[:3]) or "nothing"
            out.append(f"  - `{x.judged.q}` for {x.judged.about}: blended's top 3: {top}")
    return out


def section(
    evaluation: Evaluation,
    data: Data,
    *,
    command: str,
    started: datetime,
    tuning: list[str] | None,
) -> str:
    periods, personal = evaluation.periods, evaluation.personal
    sanity = next(s for s, _ in evaluation.sets if s.name == "hand-written sanity")
    lines = [
        "## Relevance",
        "",
        "`bench/search_relevance.py` judges the embedded engine (`TantivySearch`) on the demo "
        "catalogue: one index, each judged query asked twice, with the blended ranking "
        '(`ranking="blended"`: typo tolerance, prefixes, the ranking rules, sales) and with '
        'plain BM25 (`ranking="bm25"`: exact words, any of them, Tantivy\'s score alone).',
        "",
        f"- **Data**: `{_shown(data)}`: {len(data.catalogue.drafts)} products, "
        f"{len(data.lines)} purchase lines, {periods.start} to {periods.end}.",
        f"- **Split** (the data's own time range, cut at {LEARN_SHARE:.0%}): the index's "
        f"sales and the shoppers' profiles are learnt from {periods.start} to {periods.cut} "
        f"(exclusive); head queries and personal results are judged by the orders from "
        f"{periods.cut} to {periods.end}. Constants are only ever tuned on a validation split "
        f"inside the learning period ({data.validation.start} to {data.validation.cut}, judged "
        f"{data.validation.cut} to {periods.cut}), with `--tune`.",
        f"- **Command**: `{command}`, from the repository root "
        f"({started.strftime('%Y-%m-%d')}, {evaluation.seconds:.0f} s of judging).",
        "",
        "How the judged sets are made (seeded, from the catalogue and the data, so they "
        "regenerate on other data):",
        "",
        "- *known-item, exact*: a product picked at random from half of the products (the "
        "other half is for tuning), 1 to 3 words of its name, in its order, that no product of "
        "another name holds all of. Relevant: the products of that exact name.",
        "- *known-item, typos*: the same queries, each word of 5 letters or more misspelt "
        "with probability 0.6 (at least one): a swapped pair, a dropped letter, a neighbouring "
        "key, an inserted neighbouring or doubled letter; never the first letter; one edit, two "
        "for some words of 9 letters or more.",
        "- *prefixes*: the exact queries cut inside the last word (3 letters at least, one "
        "missing at least), as typed in a search-as-you-type box; *prefixes with typos* cut "
        "the misspelt ones.",
        "- *head*: the 30 commonest words and 15 commonest word pairs of product names "
        "(sizes and counts left out). Every product whose text holds the words is judged, "
        "gain log2(1 + its orders in the judging period); success@10 is any that sold.",
        f"- *hand-written sanity*: `bench/search_judgments.py`, {len(sanity.queries)} queries "
        f"({sanity.skipped} skipped: their product is not in this catalogue).",
        "",
        *_table(evaluation),
        "",
        "**Personal** (signed-in shopper vs anonymous, same blended ranking): "
        f"{personal.shoppers} shoppers who bought in both periods, each with a profile of their "
        f"latest {HISTORY_ORDERS} learning-period orders (`shop.search.personal.profile_of`); "
        "for up to 5 products each bought in the judging period, the query is the product's "
        "commonest name word across the catalogue (or its category's when no such word is "
        "shared by 10 products), and the product's rank is looked for in the top "
        f"{DEEP}. Anonymous searches (no profile) gave the same ranking as an empty profile for "
        f"{personal.anonymous_same} of {personal.queries} queries.",
        "",
        *_personal_table(personal),
        "",
        "Where blended ranked below BM25 (NDCG@10, worst first):",
        "",
        *(losses(evaluation, data.catalogue) or ["- nowhere"]),
        "",
        "Where blended found nothing relevant in its top 10:",
        "",
        *(misses(evaluation, data.catalogue) or ["- nowhere"]),
    ]
    if tuning:
        lines += ["", "### Tuning (validation split only)", "", *tuning]
    return "\n".join(lines) + "\n"


def _shown(data: Data) -> str:
    try:
        return str(data.path.resolve().relative_to(common.REPO_ROOT))
    except ValueError:
        return str(data.path)


def _constant(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if name not in TUNABLE:
        raise argparse.ArgumentTypeError(f"{name}: one of {', '.join(TUNABLE)}")
    return name, float(value)


def main(argv: list[str] | None = None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--data", type=Path, default=DEMO_DATA_PATH, help="transactions .csv.gz")
    parser.add_argument("--out", type=Path, help="write the Relevance section into this file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--known-items", type=int, default=400, help="queries per known-item set")
    parser.add_argument("--shoppers", type=int, default=400)
    parser.add_argument("--tune", action="store_true", help="sweep constants on validation")
    parser.add_argument(
        "--set",
        type=_constant,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run with an engine constant changed",
    )
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    data = load(args.data)
    print(
        f"loaded {len(data.catalogue.drafts)} products, {len(data.lines)} lines; "
        f"learning {data.report.start}..{data.report.cut}, judging {data.report.cut}.."
        f"{data.report.end}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="search-relevance-") as tmp:
        set_constants(dict(args.set))
        tuning = None
        if args.tune:
            tuning, chosen = tune(data, args.seed, Path(tmp))
            tuning += [
                "",
                f"Chosen (the value nearest the current one within {TOLERANCE} of the best "
                "objective; popularity and the window on head NDCG + typos + prefixes, the "
                "personal weights on personal MRR): "
                + ", ".join(f"`{n} = {v:g}`" for n, v in chosen.items())
                + ". They are recommendations: the figures above are the engine's constants as "
                "they are (or as `--set NAME=VALUE` changed them).",
            ]
        judged = judgments(
            data,
            data.report,
            half="report",
            seed=args.seed,
            known_items=args.known_items,
            shoppers=args.shoppers,
        )
        evaluation = evaluate(judged, Path(tmp) / "report")
    command = common.command_line(__file__, sys.argv[1:] if argv is None else argv)
    markdown = section(evaluation, data, command=command, started=started, tuning=tuning)
    print(markdown)
    if args.out:
        common.splice_section(
            args.out,
            "Relevance",
            markdown,
            "# Search\n\nHow the shop's search works (to be written).\n",
        )


if __name__ == "__main__":
    main()
