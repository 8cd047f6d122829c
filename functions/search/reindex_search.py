"""Rebuild the search index from the catalog, aside, then swap it in (`shop reindex`; on AWS,
`aws lambda invoke` this function). Searches go on answering from the old index meanwhile."""

from typing import Any

from shop.observability import get_logger, lambda_entry
from shop.search.service import reindex

logger = get_logger("search")


@lambda_entry("search")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    indexed = reindex()
    logger.info("search index rebuilt", extra={"products": indexed})
    return {"indexed": indexed}
