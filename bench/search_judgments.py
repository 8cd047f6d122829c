"""The hand-written sanity queries of the relevance harness (`search_relevance.py`).

Each query names what it must find by the product's name or SKU, never by product id, so the
set survives a rebuilt catalogue; a query whose product is not in the catalogue being judged
(other data) is skipped and counted as such. The typo'd ones are misspellings a shopper makes:
a swapped pair, a dropped or doubled letter, a neighbouring key, never the first letter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sanity:
    q: str
    names: tuple[str, ...] = ()  # relevant: products of exactly one of these names
    name_has: str = ""  # relevant: products whose name holds every word of this text
    sku: str = ""  # relevant: the product selling this SKU
    why: str = ""


SANITY: tuple[Sanity, ...] = (
    Sanity("freshwtaer pearl bracelet", names=("Freshwater Pearl Bracelet",), why="swap"),
    Sanity("chrsitmas", name_has="christmas", why="swap in a head word"),
    Sanity("jumbo bag red", names=("Jumbo Bag",), why="a colour held by a variant"),
    Sanity("alarm clok bakelike", name_has="alarm clock bakelike", why="dropped letter"),
    Sanity("regency cakestnad", names=("Regency Cakestand 3 Tier",), why="swap"),
    Sanity("retrsopot", name_has="retrospot", why="swap"),
    Sanity("hot water botle", name_has="hot water bottle", why="dropped double letter"),
    Sanity("rabit night light", names=("Rabbit Night Light",), why="dropped double letter"),
    Sanity("party buntng", names=("Party Bunting",), why="dropped letter"),
    Sanity("bird ornamnet", names=("Assorted Colour Bird Ornament",), why="swap"),
    Sanity("lunch bag", name_has="lunch bag", why="head phrase"),
    Sanity("doormat", name_has="doormat", why="head word"),
    Sanity("heart t-light holder", name_has="heart t light holder", why="hyphenated word"),
    Sanity("cake stand 3 tier", name_has="cake stand 3 tier", why="a number in the name"),
    Sanity("freshwater pea", name_has="freshwater pearl", why="typing the last word"),
    Sanity("alarm clock bake", name_has="alarm clock bakelike", why="typing the last word"),
    Sanity("christmsa dec", name_has="christmas decoration", why="typo, then typing"),
    Sanity("22423", sku="22423", why="a SKU typed as the query"),
)
