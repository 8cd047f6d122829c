"""The error catalogue (shop.errors): one class per code, one status per class, and the codes
the checkout and its state machine use all derived from it."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import shop
from shop.checkout.service import FAILURE_CODES
from shop.errors import NotFound, ShopError, catalogue, checkout_failure_codes

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "shared" / "shop", ROOT / "functions", ROOT / "infra" / "shop_local"]
# Errors Step Functions, Lambda and the test-only faults raise: not the shop's to catalogue.
FOREIGN_ERROR = re.compile(r"^(States|Lambda|Sandbox|DynamoDB)\.|^InjectedTransientFault$")


def all_subclasses(cls: type[ShopError]) -> set[type[ShopError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def test_every_code_belongs_to_one_class() -> None:
    codes = [error.code for error in catalogue()]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    assert repeated == []


@pytest.mark.parametrize("error", catalogue(), ids=lambda e: e.__name__)
def test_every_class_has_one_code_and_one_error_status(error: type[ShopError]) -> None:
    assert re.fullmatch(r"[A-Z][A-Z_]*[A-Z]", error.code)
    assert isinstance(error.status, int)
    assert 400 <= error.status <= 599


def test_every_shop_error_is_defined_in_the_catalogue() -> None:
    for module in pkgutil.walk_packages(shop.__path__, "shop."):
        importlib.import_module(module.name)
    elsewhere = sorted(
        f"{cls.__module__}.{cls.__name__}"
        for cls in all_subclasses(ShopError)
        if cls.__module__.startswith("shop.") and cls.__module__ != "shop.errors"
    )
    assert elsewhere == []
    assert set(catalogue()) >= {
        cls for cls in all_subclasses(ShopError) if cls.__module__ == "shop.errors"
    }


def test_no_instance_picks_its_own_code() -> None:
    with pytest.raises(TypeError):
        NotFound("no thing", code="THING_NOT_FOUND")  # type: ignore[call-arg]
    calls = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and any(k.arg == "code" for k in node.keywords):
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []


def test_checkout_failure_codes_come_from_the_catalogue() -> None:
    assert checkout_failure_codes() == FAILURE_CODES
    by_name = {error.saga_error or error.__name__: error for error in catalogue()}
    for name, code in FAILURE_CODES.items():
        assert by_name[name].code == code
    # The failure codes checkouts show (the public contract).
    assert set(FAILURE_CODES.values()) == {
        "OUT_OF_STOCK",
        "PAYMENT_DECLINED",
        "PRICE_CHANGED",
        "ITEM_UNAVAILABLE",
        "PAYMENT_TIMEOUT",
        "RESERVATION_EXPIRED",
        "CHECKOUT_ABANDONED",
        "PAYMENT_PROVIDER_UNAVAILABLE",  # Stripe still out after the saga's retries
    }


def _retried(node: Any) -> list[list[str]]:
    if isinstance(node, dict):
        lists = [r["ErrorEquals"] for r in node.get("Retry", [])]
        return lists + [names for value in node.values() for names in _retried(value)]
    if isinstance(node, list):
        return [names for value in node for names in _retried(value)]
    return []


def test_the_saga_retries_exactly_the_transient_errors_of_the_catalogue() -> None:
    text = (ROOT / "statemachines" / "checkout.asl.json").read_text()
    definition = json.loads(re.sub(r"\$\{[^}]+\}", "0", text))  # DefinitionSubstitutions
    transient = {error.__name__ for error in catalogue() if error.transient}
    retried = _retried(definition)
    assert retried
    for names in retried:
        if names == ["States.ALL"]:
            continue  # compensations also retry whatever else fails, at a slower pace
        if all(FOREIGN_ERROR.search(n) for n in names):
            continue  # a service integration's task (DynamoDB), which raises no shop error
        assert {n for n in names if not FOREIGN_ERROR.search(n)} == transient
