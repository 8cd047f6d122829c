"""Specification of the demo catalog built from the Online Retail transactions."""

from __future__ import annotations

import csv
import gzip
import os
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shop_local.demo_catalog import (
    CATEGORY_LABELS,
    DEMO_DATA_PATH,
    FALLBACK_CATEGORY,
    build_demo_catalog,
    derive_category,
)

HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]

Line = tuple[str, str, str, int, str, str]


def sale(
    code: str,
    description: str,
    price: str,
    when: str = "2011-01-04 10:00:00",
    quantity: int = 6,
    invoice: str = "540001",
) -> Line:
    return (invoice, code, description, quantity, when, price)


def write_transactions(tmp_path: Path, lines: list[Line]) -> Path:
    path = tmp_path / "transactions.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for invoice, code, description, quantity, when, price in lines:
            writer.writerow(
                [invoice, code, description, quantity, when, price, "17850.0", "United Kingdom"]
            )
    return path


def build(tmp_path: Path, lines: list[Line]) -> list[dict[str, Any]]:
    return build_demo_catalog(write_transactions(tmp_path, lines))


def by_id(catalog: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {product["product_id"]: product for product in catalog}


def skus(catalog: list[dict[str, Any]]) -> list[str]:
    return [variant["sku"] for product in catalog for variant in product["variants"]]


def price_of(catalog: list[dict[str, Any]], sku: str) -> int:
    for product in catalog:
        for variant in product["variants"]:
            if variant["sku"] == sku:
                amount = variant["price"]["amount"]
                assert isinstance(amount, int)
                return amount
    raise AssertionError(f"no sku {sku}")


# --- which lines count -------------------------------------------------------------------


def test_cancellations_are_ignored(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("22423", "REGENCY CAKESTAND 3 TIER", "12.75", when="2011-01-04 10:00:00"),
            # a later cancellation must not move the price
            ("C540002", "22423", "REGENCY CAKESTAND 3 TIER", -1, "2011-02-01 09:00:00", "10.95"),
            # a code that was only ever cancelled is not a product
            ("C540003", "22633", "HAND WARMER UNION JACK", -2, "2011-02-01 09:00:00", "2.10"),
        ],
    )

    assert skus(catalog) == ["22423"]
    assert price_of(catalog, "22423") == 1275


def test_lines_without_positive_quantity_and_price_are_ignored(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("21754", "HOME BUILDING BLOCK WORD", "5.95", when="2011-01-04 10:00:00"),
            sale("21754", "damaged", "0.00", when="2011-03-01 10:00:00"),
            sale(
                "21754",
                "HOME BUILDING BLOCK WORD",
                "4.95",
                when="2011-03-02 10:00:00",
                quantity=-12,
            ),
            sale("21755", "LOVE BUILDING BLOCK WORD", "0", when="2011-01-04 10:00:00"),
        ],
    )

    assert skus(catalog) == ["21754"]
    assert price_of(catalog, "21754") == 595
    assert catalog[0]["name"] == "Home Building Block Word"


def test_non_product_codes_are_excluded(tmp_path: Path) -> None:
    service_codes = [
        "POST",
        "M",
        "m",
        "D",
        "DOT",
        "BANK CHARGES",
        "AMAZONFEE",
        "C2",
        "CRUK",
        "PADS",
        "B",
        "S",
        "gift_0001_10",
        "DCGS0003",
        "DCGSSBOY",
        "23444",  # "Next Day Carriage" looks like a product code but is not
        "23574",  # "PACKING CHARGE"
    ]
    lines = [sale(code, "SERVICE LINE", "18.00") for code in service_codes]
    lines.append(sale("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55"))

    catalog = build(tmp_path, lines)

    assert skus(catalog) == ["85123A"]


def test_lower_case_codes_are_the_same_sku_as_upper_case_ones(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale(
                "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55", when="2011-01-04 10:00:00"
            ),
            sale(
                "85123a", "WHITE HANGING HEART T-LIGHT HOLDER", "2.95", when="2011-02-04 10:00:00"
            ),
        ],
    )

    assert skus(catalog) == ["85123A"]
    assert price_of(catalog, "85123A") == 295


# --- prices --------------------------------------------------------------------------------


def test_latest_price_is_the_price_on_the_latest_invoice_date(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", "4.95", when="2011-03-01 09:00:00"),
            sale("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", "5.45", when="2011-09-30 16:05:00"),
            # file order does not matter: this line comes last but is older
            sale("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", "3.99", when="2011-05-01 09:00:00"),
        ],
    )

    assert price_of(catalog, "22720") == 545


def test_several_lines_at_the_latest_time_take_the_most_common_price(tmp_path: Path) -> None:
    latest = "2011-10-31 12:00:00"
    catalog = build(
        tmp_path,
        [
            sale("22197", "POPCORN HOLDER", "0.85", when=latest),
            sale("22197", "POPCORN HOLDER", "0.72", when=latest),
            sale("22197", "POPCORN HOLDER", "0.85", when=latest),
            sale("22197", "POPCORN HOLDER", "1.00", when="2011-10-30 12:00:00"),
        ],
    )

    assert price_of(catalog, "22197") == 85


def test_a_tie_at_the_latest_time_takes_the_highest_price(tmp_path: Path) -> None:
    latest = "2011-10-31 12:00:00"
    catalog = build(
        tmp_path,
        [
            sale("22086", "PAPER CHAIN KIT 50'S CHRISTMAS", "2.55", when=latest),
            sale("22086", "PAPER CHAIN KIT 50'S CHRISTMAS", "2.95", when=latest),
        ],
    )

    assert price_of(catalog, "22086") == 295


@pytest.mark.parametrize(
    ("unit_price", "pence"),
    [
        ("2.55", 255),
        ("0.85", 85),
        ("12.75", 1275),
        ("165.0", 16500),
        ("1", 100),
        ("0.125", 13),  # half a penny rounds up
        ("1.004", 100),
        ("0.005", 1),
    ],
)
def test_prices_are_whole_pence_rounded_half_up(
    tmp_path: Path, unit_price: str, pence: int
) -> None:
    catalog = build(tmp_path, [sale("22469", "HEART OF WICKER SMALL", unit_price)])

    assert price_of(catalog, "22469") == pence
    assert catalog[0]["variants"][0]["price"] == {"amount": pence, "currency": "GBP"}


# --- descriptions and products -------------------------------------------------------------


def test_description_is_the_most_common_one_with_spaces_collapsed(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("22900", " SET 2 TEA TOWELS I LOVE LONDON ", "2.95"),
            sale("22900", "SET 2 TEA TOWELS  I LOVE LONDON", "2.95"),
            sale("22900", "SET 2 TEA TOWELS LOVE LONDON", "2.95"),
            sale("22900", "SET 2 TEA TOWELS LOVE LONDON", "2.95"),
            sale("22900", "", "2.95"),
        ],
    )

    assert catalog[0]["name"] == "Set 2 Tea Towels I Love London"


def test_a_code_without_siblings_is_its_own_product_without_attributes(tmp_path: Path) -> None:
    catalog = build(tmp_path, [sale("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55")])

    assert catalog == [
        {
            "product_id": "p-85123a",
            "name": "White Hanging Heart T-Light Holder",
            "description": catalog[0]["description"],
            "category": "candles-and-lighting",
            "images": [],
            "variants": [
                {"sku": "85123A", "attributes": {}, "price": {"amount": 255, "currency": "GBP"}}
            ],
        }
    ]
    description = catalog[0]["description"]
    assert description.startswith("White Hanging Heart T-Light Holder.")
    assert "candles and lighting" in description


def test_variants_of_one_base_code_become_one_product(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("84997B", "CHILDRENS CUTLERY RETROSPOT RED", "4.15"),
            sale("84997A", "CHILDRENS CUTLERY POLKADOT GREEN", "4.25"),
            sale("84997D", "CHILDRENS CUTLERY POLKADOT PINK", "4.15"),
        ],
    )

    assert len(catalog) == 1
    product = catalog[0]
    assert product["product_id"] == "p-84997"
    assert product["name"] == "Childrens Cutlery"
    assert product["category"] == "kitchen-and-dining"
    assert product["variants"] == [
        {
            "sku": "84997A",
            "attributes": {"style": "Polkadot Green"},
            "price": {"amount": 425, "currency": "GBP"},
        },
        {
            "sku": "84997B",
            "attributes": {"style": "Retrospot Red"},
            "price": {"amount": 415, "currency": "GBP"},
        },
        {
            "sku": "84997D",
            "attributes": {"style": "Polkadot Pink"},
            "price": {"amount": 415, "currency": "GBP"},
        },
    ]
    assert "3 styles" in product["description"]


def test_siblings_sharing_fewer_than_two_words_stay_separate_products(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("16161P", "WRAP ENGLISH ROSE", "0.42"),
            sale("16161U", "WRAP SUKI AND FRIENDS", "0.42"),
        ],
    )

    products = by_id(catalog)
    assert sorted(products) == ["p-16161p", "p-16161u"]
    assert products["p-16161p"]["name"] == "Wrap English Rose"
    assert products["p-16161p"]["variants"][0]["attributes"] == {}


def test_a_variant_with_no_extra_words_is_styled_by_its_code_suffix(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("16162L", "THE KING GIFT BAG", "0.85"),
            sale("16162M", "THE KING GIFT BAG 25x24x12cm", "0.42"),
        ],
    )

    (product,) = catalog
    assert product["name"] == "The King Gift Bag"
    styles = {v["sku"]: v["attributes"]["style"] for v in product["variants"]}
    assert styles == {"16162L": "L", "16162M": "25x24x12cm"}


def test_a_joined_colour_stays_with_the_variant_style(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("84563A", "PINK & WHITE BREAKFAST TRAY", "3.75"),
            sale("84563B", "BLUE & WHITE BREAKFAST TRAY", "3.75"),
        ],
    )

    (product,) = catalog
    assert product["name"] == "Breakfast Tray"
    assert [v["attributes"]["style"] for v in product["variants"]] == [
        "Pink & White",
        "Blue & White",
    ]


def test_a_bare_base_code_joins_its_lettered_siblings(tmp_path: Path) -> None:
    catalog = build(
        tmp_path,
        [
            sale("47566", "PARTY BUNTING", "4.95"),
            sale("47566B", "TEA TIME PARTY BUNTING", "4.95"),
        ],
    )

    (product,) = catalog
    assert product["product_id"] == "p-47566"
    assert [v["sku"] for v in product["variants"]] == ["47566", "47566B"]


def test_more_than_forty_variants_are_split_into_numbered_products(tmp_path: Path) -> None:
    suffixes = list(string.ascii_uppercase) + [f"A{letter}" for letter in "ABCDEFGHIJKLMNOPQRS"]
    lines = [sale(f"12345{s}", f"GLASS BEAD STRING {s}", "1.25") for s in suffixes]

    catalog = build(tmp_path, lines)

    assert [p["product_id"] for p in catalog] == ["p-12345", "p-12345-2"]
    assert [len(p["variants"]) for p in catalog] == [40, 5]
    assert sorted(skus(catalog)) == sorted(f"12345{s}" for s in suffixes)


def test_products_are_sorted_by_id_and_the_build_is_deterministic(tmp_path: Path) -> None:
    lines = [
        sale("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55"),
        sale("22423", "REGENCY CAKESTAND 3 TIER", "12.75"),
        sale("84997B", "CHILDRENS CUTLERY RETROSPOT RED", "4.15"),
        sale("84997A", "CHILDRENS CUTLERY POLKADOT GREEN", "4.15"),
        sale("71053", "WHITE METAL LANTERN", "3.39"),
    ]
    path = write_transactions(tmp_path, lines)

    first = build_demo_catalog(path)

    assert [p["product_id"] for p in first] == ["p-22423", "p-71053", "p-84997", "p-85123a"]
    assert build_demo_catalog(path) == first


def test_names_and_descriptions_respect_the_api_length_limits(tmp_path: Path) -> None:
    long_text = " ".join(["VERY LONG RIBBON"] * 40)
    catalog = build(tmp_path, [sale("99999", long_text, "1.00")])

    (product,) = catalog
    assert 0 < len(product["name"]) <= 200
    assert 0 < len(product["description"]) <= 500


def test_names_drop_punctuation_left_dangling_at_the_ends(tmp_path: Path) -> None:
    catalog = build(tmp_path, [sale("84029E", "RED WOOLLY HOTTIE WHITE HEART.", "4.25")])

    (product,) = catalog
    assert product["name"] == "Red Woolly Hottie White Heart"
    assert product["description"].startswith("Red Woolly Hottie White Heart. ")
    assert ".." not in product["description"]


def test_a_file_with_only_a_header_gives_an_empty_catalog(tmp_path: Path) -> None:
    assert build(tmp_path, []) == []


def test_the_data_path_can_be_overridden_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_transactions(tmp_path, [sale("71053", "WHITE METAL LANTERN", "3.39")])
    monkeypatch.setenv("SHOP_DEMO_DATA", str(path))

    assert skus(build_demo_catalog()) == ["71053"]


@pytest.mark.skipif("SHOP_DEMO_DATA" in os.environ, reason="data path overridden")
def test_default_data_path_is_the_copy_shipped_in_the_repository() -> None:
    assert DEMO_DATA_PATH.name == "transactions-2010-12_2011-10.csv.gz"
    assert DEMO_DATA_PATH.parent.parts[-2:] == ("data", "online-retail")
    assert DEMO_DATA_PATH.is_file()


# --- categories ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "category"),
    [
        ("CHRISTMAS CRAFT TREE TOP ANGEL", "christmas"),
        ("PAPER CHAIN KIT 50'S CHRISTMAS", "christmas"),
        ("SET OF 6 T-LIGHTS SANTA", "christmas"),
        ("LUNCH BAG RED RETROSPOT", "bags"),
        ("JUMBO BAG PINK POLKADOT", "bags"),
        ("JUMBO  SHOPPER VINTAGE RED PAISLEY", "bags"),
        ("WHITE HANGING HEART T-LIGHT HOLDER", "candles-and-lighting"),
        ("WHITE METAL LANTERN", "candles-and-lighting"),
        ("HANGING JAM JAR T-LIGHT HOLDER", "candles-and-lighting"),
        ("LONDON BUS COFFEE MUG", "kitchen-and-dining"),
        ("ROSES REGENCY TEACUP AND SAUCER", "kitchen-and-dining"),
        ("RED RETROSPOT PLATE", "kitchen-and-dining"),
        ("SET 2 TEA TOWELS I LOVE LONDON", "kitchen-and-dining"),
        ("LUNCH BOX I LOVE LONDON", "kitchen-and-dining"),
        ("PACK OF 72 RETROSPOT CAKE CASES", "baking"),
        ("SET OF 3 CAKE TINS PANTRY DESIGN", "baking"),
        ("WRAP ENGLISH ROSE", "stationery-and-gift-wrap"),
        ("BIRTHDAY CARD, RETRO SPOT", "stationery-and-gift-wrap"),
        ("BLUE PAISLEY NOTEBOOK", "stationery-and-gift-wrap"),
        ("HOME SWEET HOME METAL SIGN", "signs-and-plaques"),
        ("BATHROOM METAL SIGN", "signs-and-plaques"),
        ("HOT WATER BOTTLE KEEP CALM", "bathroom"),
        ("PARTY BUNTING", "party"),
        ("PACK OF 20 NAPKINS PANTRY DESIGN", "party"),
        ("DIAMANTE NECKLACE", "jewellery-and-accessories"),
        ("HAND WARMER RED POLKA DOT", "jewellery-and-accessories"),
        ("JIGSAW TOADSTOOLS 3 PIECE", "toys-and-games"),
        ("WATERING CAN PINK BUNNY", "garden"),
        ("STRAWBERRY CERAMIC TRINKET BOX", "storage"),
        ("DOORMAT UNION FLAG", "home-decor"),
        ("ASSORTED COLOUR BIRD ORNAMENT", "home-decor"),
        ("lunch bag red retrospot", "bags"),
        ("FLY SWAT", "gifts"),
        ("", "gifts"),
    ],
)
def test_category_is_derived_from_keywords(description: str, category: str) -> None:
    assert derive_category(description) == category


def test_every_derived_category_is_a_known_slug() -> None:
    assert FALLBACK_CATEGORY == "gifts"
    assert FALLBACK_CATEGORY in CATEGORY_LABELS
    samples = ["", "X", "GLASS", "FELT", "CHILDRENS", "PAPER", "BOX", "LIGHT BLUE BOWL"]
    assert all(derive_category(text) in CATEGORY_LABELS for text in samples)


# --- the real data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_catalog() -> list[dict[str, Any]]:
    return build_demo_catalog()


def test_real_file_gives_a_full_valid_catalog(real_catalog: list[dict[str, Any]]) -> None:
    all_skus = skus(real_catalog)
    assert len(all_skus) > 3000
    assert len(set(all_skus)) == len(all_skus)
    product_ids = [p["product_id"] for p in real_catalog]
    assert product_ids == sorted(set(product_ids))
    for product in real_catalog:
        assert set(product) == {
            "product_id",
            "name",
            "description",
            "category",
            "images",
            "variants",
        }
        assert 0 < len(product["name"]) <= 200
        assert 0 < len(product["description"]) <= 500
        assert product["category"] in CATEGORY_LABELS
        assert 1 <= len(product["variants"]) <= 40
        for variant in product["variants"]:
            price = variant["price"]
            assert isinstance(price["amount"], int)
            assert price["amount"] > 0
            assert price["currency"] == "GBP"


def test_real_file_falls_back_to_gifts_for_under_a_quarter_of_products(
    real_catalog: list[dict[str, Any]],
) -> None:
    categories = Counter(product["category"] for product in real_catalog)
    assert categories[FALLBACK_CATEGORY] / len(real_catalog) < 0.25
    assert len(categories) >= 12
