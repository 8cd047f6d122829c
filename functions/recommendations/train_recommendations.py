"""Train the recommendation model on every basket the service holds and publish the artefact
(scheduled daily; `shop train-recommendations` or `aws lambda invoke` runs it at once)."""

from typing import Any

from shop.observability import lambda_entry
from shop.recommendations.service import train_from_history


@lambda_entry("recommendations")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return train_from_history()
