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
from dataclasses import dataclass, replace

_WORD = re.compile(r"[a-z0-9]+")
MAX_TYPOS = 2
MAX_PREFIX_EXPANSIONS = 20  # a one-letter prefix would otherwise stand for the vocabulary


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


def plural(term: str) -> str:
    """A surface form `fold` takes back to `term` ("box" -> "boxes"), so that a typo in a
    plural is measured against the plural the shopper meant, not against its stem."""
    if not term.isalpha() or len(term) < 3:
        return term
    if term.endswith("y") and term[-2] not in "aeiou":
        candidate = term[:-1] + "ies"
    elif term.endswith(("s", "sh", "ch", "x")):
        candidate = term + "es"
    else:
        candidate = term + "s"
    return candidate if fold(candidate) == term else term


def plain(text: str) -> str:
    """Lower case, accents off ("Café" is "cafe")."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())  # "Straße" is "strasse"
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
    `term`, None above `budget`. An edit that changes the first letter costs two: replacing
    it, dropping the typed one, adding one before it, or swapping the first two letters."""
    if abs(len(typed) - len(term)) > budget:
        return None
    if typed == term:
        return 0
    cols = len(term) + 1
    previous2: list[int] = []
    previous = [0] + [j + 1 for j in range(1, cols)]  # adding term's letters: the first costs 2
    for i in range(1, len(typed) + 1):
        current = [previous[0] + (2 if i == 1 else 1)] + [0] * (cols - 1)
        for j in range(1, cols):
            if typed[i - 1] == term[j - 1]:
                substitution = previous[j - 1]
            else:
                substitution = previous[j - 1] + (2 if i == 1 and j == 1 else 1)
            dropped = previous[j] + (2 if i == 1 else 1)
            added = current[j - 1] + (2 if j == 1 else 1)
            current[j] = min(substitution, dropped, added)
            if previous2 and j > 1 and typed[i - 1] == term[j - 2] and typed[i - 2] == term[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + (2 if j == 2 else 1))
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
    documents: int = 0  # how many documents hold the term (completions favour common ones)


class Vocabulary:
    """Not safe to read while it is updated: its owner serializes the two.

    The index's terms with their document counts, searchable by typo and by prefix.

    Symmetric deletes (SymSpell): every surface form of a term (the term and its plural) is
    filed under the strings it becomes with up to two letters deleted; a typed word's own
    deletes then meet its neighbours' in a dictionary look-up, and `typo_cost` confirms each.
    A few thousand terms (the demo catalogue has about 2,000) cost a few megabytes; a catalogue
    with a vocabulary of millions belongs on OpenSearch, whose fuzzy queries do this there."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._counts: dict[str, int] = {}
        self._term_of: dict[str, str] = {}  # surface form -> term
        self._sorted: list[str] = []  # surface forms, for completions
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
        new = [t for t, n in counts.items() if n > 0 and t not in self._counts]
        self._counts.update(counts)
        for term in [t for t, n in counts.items() if n <= 0]:
            self._counts.pop(term, None)
        for term in new:
            for surface in {term, plural(term)}:
                if surface in self._term_of:
                    continue
                self._term_of[surface] = term
                bisect.insort(self._sorted, surface)
                if len(surface) < 4:
                    continue
                for deleted in _deletes(surface, MAX_TYPOS if len(surface) >= 7 else 1):
                    self._by_delete.setdefault(deleted, set()).add(surface)
                for k in range(5, min(len(surface), 10) + 1):
                    for deleted in _deletes(surface[:k], 1):
                        self._by_prefix_delete.setdefault(deleted, set()).add(surface)

    def terms(self) -> Iterator[str]:
        return iter(sorted(self._counts))

    def expand(self, typed: str, *, as_prefix: bool) -> list[Expansion]:
        """The terms a typed word (plain, not folded) may stand for, exact first; at most one
        expansion per term. The typo budget is the typed word's."""
        budget = typo_budget(typed)
        found: dict[str, Expansion] = {}
        exact = fold(typed)
        if exact in self._counts:
            found[exact] = Expansion(exact, 0, False)
        if budget:
            for deleted in _deletes(typed, budget):
                for surface in self._by_delete.get(deleted, ()):
                    term = self._term_of[surface]
                    if term not in self._counts:
                        continue
                    cost = typo_cost(typed, surface, budget)
                    if cost is not None and (term not in found or cost < found[term].typos):
                        found[term] = Expansion(term, cost, False)
        if as_prefix:
            for term in self._completions(typed):
                found.setdefault(term, Expansion(term, 0, True))
            if budget and len(typed) <= 10:
                for term in self._fuzzy_completions(typed):
                    found.setdefault(term, Expansion(term, 1, True))
        counted = [replace(e, documents=self.count(e.term)) for e in found.values()]
        return sorted(counted, key=lambda e: (e.typos, e.prefix, -e.documents))

    def _completions(self, prefix: str) -> list[str]:
        start = bisect.bisect_left(self._sorted, prefix)
        matches: set[str] = set()
        for surface in self._sorted[start:]:
            if not surface.startswith(prefix):
                break
            term = self._term_of[surface]
            if surface != prefix and term in self._counts and term != fold(prefix):
                matches.add(term)
        return sorted(matches, key=lambda t: -self.count(t))[:MAX_PREFIX_EXPANSIONS]

    def _fuzzy_completions(self, prefix: str) -> list[str]:
        """Terms whose start is one edit (not of the first letter) from `prefix`."""
        candidates: set[str] = set()
        for deleted in _deletes(prefix, 1):
            candidates |= self._by_prefix_delete.get(deleted, set())
        matches = {
            self._term_of[surface]
            for surface in candidates
            if self._term_of[surface] in self._counts
            and not surface.startswith(prefix)
            and any(
                typo_cost(prefix, surface[:k], 1) is not None
                for k in range(len(prefix) - 1, len(prefix) + 2)
            )
        }
        return sorted(matches, key=lambda t: -self.count(t))[: MAX_PREFIX_EXPANSIONS // 2]


def count_terms(texts: Iterable[str]) -> dict[str, int]:
    """Document counts of the terms of some texts (one count per text)."""
    counts: dict[str, int] = {}
    for text in texts:
        for term in set(terms(text)):
            counts[term] = counts.get(term, 0) + 1
    return counts
