"""How text becomes terms, and how a shopper's misspelt word finds the terms it meant.

Both engines index the terms made here (not their own analyzers), so the typo rules below
mean the same thing on OpenSearch and on Tantivy, and the vocabulary a query is matched
against is exactly the index's.

Typo budget, by the length of the word typed (the rule of Meilisearch and Typesense): none up
to 4 letters, one up to 8, two beyond; none on a word holding a digit (numbers, SKUs). An
edit of the first letter costs two: shoppers rarely get the first letter wrong, and allowing
it makes short words match almost anything.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+")
MAX_TYPOS = 2
MAX_PREFIX_EXPANSIONS = 40  # a one-letter prefix would otherwise stand for the vocabulary


def fold(word: str) -> str:
    """A plural to its singular, crudely and the same way for documents and queries, so that
    "hearts" finds "heart" (English only: the demo shop's language)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def plain(text: str) -> str:
    """Lower case, accents off ("Café" is "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def raw_words(text: str) -> list[str]:
    return _WORD.findall(plain(text))


def terms(text: str) -> list[str]:
    """The terms of a text, in order: what is indexed and what a query is made of."""
    return [fold(w) for w in raw_words(text)]


def typo_budget(word: str) -> int:
    if any(c.isdigit() for c in word) or len(word) <= 4:
        return 0
    return 1 if len(word) <= 8 else 2


def typo_cost(typed: str, term: str, budget: int) -> int | None:
    """Edits (substitution, insertion, deletion, adjacent transposition) from `typed` to
    `term`, an edit touching the first letter costing two; None above `budget`."""
    if abs(len(typed) - len(term)) > budget:
        return None
    if typed == term:
        return 0
    rows = len(typed) + 1
    cols = len(term) + 1
    previous2: list[int] = []
    previous = [j if j < 1 else j + 1 for j in range(cols)]  # inserting before letter one: 2
    previous[0] = 0
    for j in range(1, cols):
        previous[j] = previous[j - 1] + (2 if j == 1 else 1)
    for i in range(1, rows):
        first = i == 1
        current = [previous[0] + (2 if first else 1)] + [0] * (cols - 1)
        for j in range(1, cols):
            weight = 2 if first or j == 1 else 1
            substitution = previous[j - 1] + (0 if typed[i - 1] == term[j - 1] else weight)
            current[j] = min(previous[j] + weight, current[j - 1] + weight, substitution)
            if (
                i > 1
                and j > 1
                and typed[i - 1] == term[j - 2]
                and typed[i - 2] == term[j - 1]
                and previous2
            ):
                current[j] = min(current[j], previous2[j - 2] + (2 if i == 2 else 1))
        if min(current) > budget:
            return None
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= budget else None


def _deletes(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))} - found
        found |= frontier
    return found


@dataclass(frozen=True)
class Expansion:
    """One term a typed word stands for: the word itself, a typo's correction, a completion."""

    term: str
    typos: int
    prefix: bool  # the typed word is the start of this term (search-as-you-type)


class Vocabulary:
    """The index's terms with their document counts, searchable by typo and by prefix.

    Symmetric deletes (SymSpell): every term is filed under the strings it becomes with up to
    two letters deleted; a typed word's own deletes then meet its neighbours' in a dictionary
    look-up, and `typo_cost` confirms each. A few thousand terms (the demo catalogue has about
    2,000) cost a few megabytes; a catalogue with a vocabulary of millions belongs on
    OpenSearch, whose fuzzy queries do this on its side."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._counts: dict[str, int] = {}
        self._sorted: list[str] = []
        self._by_delete: dict[str, set[str]] = {}
        self._by_prefix_delete: dict[str, set[str]] = {}
        self.update(counts or {})

    def __len__(self) -> int:
        return len(self._counts)

    def __contains__(self, term: object) -> bool:
        return term in self._counts

    def count(self, term: str) -> int:
        return self._counts.get(term, 0)

    def update(self, counts: Mapping[str, int]) -> None:
        """Set these terms' counts (0 removes a term from matching, not from the files)."""
        new = [t for t in counts if t not in self._counts]
        self._counts.update(counts)
        for term in [t for t, n in counts.items() if n <= 0]:
            self._counts.pop(term, None)
        for term in new:
            if term not in self._counts:
                continue
            bisect.insort(self._sorted, term)
            if typo_budget(term) == 0 and len(term) < 4:
                continue
            for deleted in _deletes(term, MAX_TYPOS if len(term) >= 7 else 1):
                self._by_delete.setdefault(deleted, set()).add(term)
            for k in range(5, min(len(term), 10) + 1):
                for deleted in _deletes(term[:k], 1):
                    self._by_prefix_delete.setdefault(deleted, set()).add(term)

    def terms(self) -> Iterator[str]:
        return iter(self._sorted)

    def expand(self, word: str, *, as_prefix: bool) -> list[Expansion]:
        """The terms `word` may stand for, exact first; at most one expansion per term."""
        budget = typo_budget(word)
        found: dict[str, Expansion] = {}
        if word in self._counts:
            found[word] = Expansion(word, 0, False)
        if budget:
            for deleted in _deletes(word, budget):
                for term in self._by_delete.get(deleted, ()):
                    if term in found or term not in self._counts:
                        continue
                    cost = typo_cost(word, term, budget)
                    if cost is not None:
                        found[term] = Expansion(term, cost, False)
        if as_prefix:
            for term in self._completions(word):
                found.setdefault(term, Expansion(term, 0, True))
            if budget and len(word) <= 10:
                for term in self._fuzzy_completions(word, budget):
                    found.setdefault(term, Expansion(term, 1, True))
        return sorted(found.values(), key=lambda e: (e.typos, e.prefix, -self.count(e.term)))

    def _completions(self, prefix: str) -> list[str]:
        start = bisect.bisect_left(self._sorted, prefix)
        matches: list[str] = []
        for term in self._sorted[start:]:
            if not term.startswith(prefix):
                break
            if term != prefix:
                matches.append(term)
        matches.sort(key=lambda t: -self.count(t))
        return matches[:MAX_PREFIX_EXPANSIONS]

    def _fuzzy_completions(self, prefix: str, budget: int) -> list[str]:
        """Terms whose start is one edit (not of the first letter) from `prefix`."""
        candidates: set[str] = set()
        for deleted in _deletes(prefix, 1):
            candidates |= self._by_prefix_delete.get(deleted, set())
        matches = [
            t
            for t in candidates
            if t in self._counts
            and not t.startswith(prefix)
            and any(
                typo_cost(prefix, t[:k], 1) is not None
                for k in range(len(prefix) - 1, len(prefix) + 2)
            )
        ]
        matches.sort(key=lambda t: -self.count(t))
        return matches[: MAX_PREFIX_EXPANSIONS // 2]


def count_terms(texts: Iterable[str]) -> dict[str, int]:
    """Document counts of the terms of some texts (one count per text)."""
    counts: dict[str, int] = {}
    for text in texts:
        for term in set(terms(text)):
            counts[term] = counts.get(term, 0) + 1
    return counts
