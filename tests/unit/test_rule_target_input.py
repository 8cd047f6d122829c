"""What a rule's target receives for an event (shop_local.eventbridge.target_input): the cases of
Input, InputPath and InputTransformer that the integration test does not send."""

from __future__ import annotations

from typing import Any

from shop_local.eventbridge import target_input

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-1",
    "detail-type": "OrderPlaced",
    "source": "shop.orders",
    "account": "123456789012",
    "time": "2026-12-10T10:30:15Z",
    "region": "eu-west-1",
    "resources": [],
    "detail": {"order_id": "o-1", "total": 1250, "gift": False, "lines": [{"sku": "S-1"}]},
}


def test_without_an_input_option_the_target_gets_the_event() -> None:
    assert target_input({"Id": "t", "Arn": "arn"}, EVENT) == EVENT


def test_input_path_selects_part_of_the_event_or_nothing() -> None:
    assert target_input({"InputPath": "$.detail.lines[0]"}, EVENT) == {"sku": "S-1"}
    assert target_input({"InputPath": "$.detail.missing"}, EVENT) is None


def test_input_transformer_puts_strings_as_they_are_and_other_values_as_json() -> None:
    transformer = {
        "InputPathsMap": {
            "order": "$.detail.order_id",
            "total": "$.detail.total",
            "gift": "$.detail.gift",
            "lines": "$.detail.lines",
        },
        "InputTemplate": '{"order": "<order>", "total": <total>, "gift": <gift>, "lines": <lines>}',
    }

    assert target_input({"InputTransformer": transformer}, EVENT) == {
        "order": "o-1",
        "total": 1250,
        "gift": False,
        "lines": [{"sku": "S-1"}],
    }


def test_a_text_template_gives_the_target_text() -> None:
    transformer = {
        "InputPathsMap": {"order": "$.detail.order_id"},
        "InputTemplate": "Order <order> was placed",
    }

    assert target_input({"InputTransformer": transformer}, EVENT) == "Order o-1 was placed"


def test_the_whole_event_is_a_predefined_variable_of_templates() -> None:
    transformer = {"InputTemplate": '{"wrapped": <aws.events.event.json>}'}

    assert target_input({"InputTransformer": transformer}, EVENT) == {"wrapped": EVENT}
