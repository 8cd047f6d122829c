"""The recommendation model: item neighbours from baskets, and what to show from them.

Plain Python (no numpy: the serving handler imports this, and its cold start matters).

- **Bought together**: item-item co-occurrence over baskets (a product counts once per basket),
  weighted so that a specific neighbour beats a merely popular one, and cut to the best `K`
  neighbours per product so that the artefact stays small. The weighting (`Weighting`) is an
  asymmetric cosine with shrinkage by default,

      sim(i, j) = c_ij / (n_i^(1 - beta) * n_j^beta) * c_ij / (c_ij + shrink),

  with `c_ij` the baskets holding both, `n_i` those holding `i`; `beta = 0.5` is the cosine, a
  larger `beta` damps popular neighbours harder. The alternatives it was measured against
  (bench/recommendation_quality.py): raw counts, and lift (`N c_ij / (n_i n_j)`) with a minimum
  support.
- **For you** (TIFU-kNN-like, with item rather than user neighbours): a shopper's baskets, the
  latest first, each weighted `HISTORY_DECAY ** rank`; a product's repeat score is its weighted
  share of those baskets ("bought again"), blended with the neighbours of that history ("with
  what you bought") and of the live session ("from your session"), and topped up with popular
  products ("popular") so that there are always `limit` items.
- **Session**: the neighbours of recently viewed or added products, the latest weighing most
  (session kNN in its simplest form).

The constants were tuned on a validation split inside the training period (the last training
month held out), never on the reported test month: `bench/recommendation_quality.py --tune`.
"""

from __future__ import annotations

import gzip
import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

K = 50  # neighbours kept per product
POPULAR = 200  # popular products kept, for new shoppers and to top up short lists
HISTORY_BASKETS = 50  # a shopper's latest baskets that count
HISTORY_DECAY = 1.0  # weight of a basket: HISTORY_DECAY ** (its rank, 0 for the latest)
HISTORY_SEEDS = 30  # a shopper's most frequent products whose neighbours count
SESSION_DECAY = 0.3  # weight of a session product: SESSION_DECAY ** (0 for the latest)
SESSION_SEEDS = 10  # the latest session products that count
REPEAT = 1.0  # weight of "bought again" in for-you
NEIGHBOUR = 0.2  # weight of "with what you bought"
SESSION = 1.0  # weight of "from your session"
FORMAT = 1  # of the artefact

Scheme = Literal["cosine", "lift", "count"]


@dataclass(frozen=True)
class Basket:
    """What one order bought: product ids (each once), when (a time that sorts as text: the
    service stores ISO-8601 UTC, the data set's own "YYYY-MM-DD HH:MM:SS" in the offline
    evaluation) and by whom (None: a guest)."""

    customer: str | None
    at: str
    products: tuple[str, ...]


@dataclass(frozen=True)
class Weighting:
    """How co-occurrence counts become neighbour scores (see the module's docstring)."""

    scheme: Scheme = "cosine"
    beta: float = 0.2  # "cosine": the popularity exponent of the neighbour; 0.5 is the cosine
    shrink: float = 5.0  # "cosine": damping of pairs seen in few baskets
    min_support: int = 2  # pairs seen in fewer baskets are not neighbours (all schemes)


DEFAULT = Weighting()


@dataclass
class Counts:
    """Co-occurrence counts: the weighting-independent part of training (kept apart so that a
    sweep over weightings counts once)."""

    baskets: int = 0
    support: Counter[str] = field(default_factory=Counter)  # product -> baskets holding it
    pairs: dict[str, Counter[str]] = field(default_factory=dict)  # i -> j -> baskets with both


def count(baskets: Iterable[Basket]) -> Counts:
    counts = Counts()
    pairs: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for basket in baskets:
        products = list(dict.fromkeys(basket.products))
        if not products:
            continue
        counts.baskets += 1
        counts.support.update(products)
        if len(products) > 1:
            for product in products:
                pairs[product].update(products)  # itself too (removed below): C-fast update
    for product, row in pairs.items():
        del row[product]
    counts.pairs = dict(pairs)
    return counts


@dataclass(frozen=True)
class Model:
    """The trained artefact: each product's best neighbours (score-ordered) and the popular
    products (basket share relative to the most popular one)."""

    neighbours: Mapping[str, tuple[tuple[str, float], ...]]
    popular: tuple[tuple[str, float], ...]
    baskets: int = 0

    def to_bytes(self) -> bytes:
        """Gzipped JSON, products numbered once: {"p": [ids], "n": [[i, s, i, s, ...], ...]}."""
        ids = sorted(
            {*self.neighbours, *(p for row in self.neighbours.values() for p, _ in row)}
            | {p for p, _ in self.popular}
        )
        index = {product: i for i, product in enumerate(ids)}
        rows: list[list[float]] = []
        for product in ids:
            row: list[float] = []
            for neighbour, score in self.neighbours.get(product, ()):
                row += [index[neighbour], round(score, 5)]
            rows.append(row)
        document = {
            "format": FORMAT,
            "baskets": self.baskets,
            "p": ids,
            "n": rows,
            "pop": [
                x for product, score in self.popular for x in (index[product], round(score, 5))
            ],
        }
        text = json.dumps(document, separators=(",", ":"))
        return gzip.compress(text.encode(), compresslevel=9, mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        document = json.loads(gzip.decompress(data))
        if document.get("format") != FORMAT:
            raise ValueError(f"unknown model format: {document.get('format')!r}")
        ids: list[str] = document["p"]

        def pairs(flat: list[float]) -> tuple[tuple[str, float], ...]:
            return tuple((ids[int(flat[i])], float(flat[i + 1])) for i in range(0, len(flat), 2))

        neighbours = {ids[i]: pairs(row) for i, row in enumerate(document["n"]) if row}
        return cls(neighbours, pairs(document["pop"]), int(document["baskets"]))


def weigh(counts: Counts, weighting: Weighting = DEFAULT, k: int = K) -> Model:
    """The model of `counts` under `weighting`, keeping the best `k` neighbours per product."""
    support = counts.support
    floor = weighting.min_support
    neighbours: dict[str, tuple[tuple[str, float], ...]] = {}
    for product, row in counts.pairs.items():
        n_i = support[product]
        candidates = [(j, c) for j, c in row.items() if c >= floor]
        if weighting.scheme == "count":
            scored = [(float(c), j) for j, c in candidates]
        elif weighting.scheme == "lift":
            scale = counts.baskets / n_i
            scored = [(scale * c / support[j], j) for j, c in candidates]
        else:
            beta, shrink = weighting.beta, weighting.shrink
            left = n_i ** (1 - beta)
            scored = [
                (c * c / ((c + shrink) * left * support[j] ** beta), j) for j, c in candidates
            ]
        best = heapq.nlargest(k, scored)
        if not best:
            continue
        top = best[0][0]  # rows scaled to a best score of 1, so that rows blend alike
        neighbours[product] = tuple((j, score / top) for score, j in best)
    most = support.most_common(POPULAR)
    peak = most[0][1] if most else 1
    popular = tuple((product, n / peak) for product, n in most)
    return Model(neighbours, popular, counts.baskets)


def train(baskets: Iterable[Basket], weighting: Weighting = DEFAULT, k: int = K) -> Model:
    return weigh(count(baskets), weighting, k)


# ---------------------------------------------------------------------- serving
def bought_together(
    model: Model, product_id: str, limit: int, exclude: Iterable[str] = frozenset()
) -> list[tuple[str, float]]:
    """The products most often bought with `product_id`, best first (never itself nor any of
    `exclude`); fewer than `limit` when it has fewer neighbours, none when it is unknown."""
    skip = {product_id, *exclude}
    found: list[tuple[str, float]] = []
    for neighbour, score in model.neighbours.get(product_id, ()):
        if neighbour not in skip:
            found.append((neighbour, score))
            if len(found) >= limit:
                break
    return found


def _spread(model: Model, seeds: Mapping[str, float]) -> dict[str, float]:
    """Σ_seed weight(seed) · sim(seed, j) / Σ weight: the neighbourhood of weighted seeds."""
    total = sum(seeds.values())
    scores: defaultdict[str, float] = defaultdict(float)
    if total <= 0:
        return scores
    for seed, weight in seeds.items():
        share = weight / total
        for neighbour, score in model.neighbours.get(seed, ()):
            scores[neighbour] += share * score
    return scores


def _session_seeds(recent_products: Sequence[str]) -> dict[str, float]:
    seeds: dict[str, float] = {}
    latest = list(dict.fromkeys(reversed(recent_products)))[:SESSION_SEEDS]
    for age, product in enumerate(latest):
        seeds[product] = SESSION_DECAY**age
    return seeds


def for_session(
    model: Model, recent_products: Sequence[str], limit: int, exclude: Iterable[str] = frozenset()
) -> list[tuple[str, float]]:
    """Neighbours of the session's products (`recent_products` oldest first, the latest last),
    the latest weighing most; never the session's own products nor `exclude`."""
    seeds = _session_seeds(recent_products)
    skip = {*seeds, *exclude}
    scores = _spread(model, seeds)
    ranked = heapq.nlargest(limit + len(skip), scores.items(), key=lambda item: item[1])
    return [(product, score) for product, score in ranked if product not in skip][:limit]


def repeat_scores(history: Sequence[Basket]) -> dict[str, float]:
    """Per product, its recency-weighted share of the shopper's baskets (latest weighs most)."""
    latest = sorted(history, key=lambda basket: basket.at, reverse=True)[:HISTORY_BASKETS]
    scores: defaultdict[str, float] = defaultdict(float)
    total = 0.0
    for rank, basket in enumerate(latest):
        weight = HISTORY_DECAY**rank
        total += weight
        for product in dict.fromkeys(basket.products):  # in order: sums alike every run
            scores[product] += weight
    return {product: score / total for product, score in scores.items()} if total else {}


def for_you(
    model: Model,
    history: Sequence[Basket],
    session: Sequence[str],
    limit: int,
    exclude: Iterable[str] = frozenset(),
) -> list[tuple[str, float, str]]:
    """A shopper's recommendations, best first, each with its reason: "bought again", "with
    what you bought", "from your session" or "popular". Always `limit` items when the model
    knows that many products (beyond `exclude`). `session` is oldest first, the latest last."""
    skip = set(exclude)
    repeat = repeat_scores(history)
    seeds = dict(heapq.nlargest(HISTORY_SEEDS, repeat.items(), key=lambda item: item[1]))
    parts: tuple[tuple[str, float, Mapping[str, float]], ...] = (
        ("bought again", REPEAT, repeat),
        ("with what you bought", NEIGHBOUR, _spread(model, seeds)),
        ("from your session", SESSION, _spread(model, _session_seeds(session))),
    )
    scores: defaultdict[str, float] = defaultdict(float)
    best: dict[str, tuple[float, str]] = {}
    for reason, weight, part in parts:
        if weight <= 0:
            continue
        for product, score in part.items():
            contribution = weight * score
            scores[product] += contribution
            if contribution > best.get(product, (0.0, ""))[0]:
                best[product] = (contribution, reason)
    ranked = heapq.nlargest(limit + len(skip), scores.items(), key=lambda item: item[1])
    found = [(p, s, best[p][1]) for p, s in ranked if p not in skip][:limit]
    if len(found) < limit:
        taken = skip | {p for p, _, _ in found}
        floor = min((s for _, s, _ in found), default=1.0)
        for product, share in model.popular:
            if len(found) >= limit:
                break
            if product not in taken:
                found.append((product, floor * 0.5 * share if found else share, "popular"))
                taken.add(product)
    return found


def popular(model: Model, limit: int, exclude: Iterable[str] = frozenset()) -> list[str]:
    skip = set(exclude)
    return [product for product, _ in model.popular if product not in skip][:limit]
