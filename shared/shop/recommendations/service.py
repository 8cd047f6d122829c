"""Recommendations: the trained model (an S3 artefact, held in memory), the shopper's history
and session (the service's table, fed by events and views), and the catalog and stock that
decide what may be shown.

- Serving reads the model once per cold start and then only asks, every
  `RECOMMENDATION_MODEL_REFRESH_SECONDS`, whether a newer one was published (a HEAD): a warm
  function picks up the nightly model without a deploy.
- What is shown is sellable: an active product with a unit in stock. Candidates are checked
  best first, a few more than asked at a time, until `limit` pass.
- Training (`train_from_history`) reads every basket of the table and publishes a new
  artefact; the job that runs it is `TrainRecommendationsFunction` (docs/recommendations.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from functools import cache
from itertools import chain
from typing import Any

from botocore.exceptions import ClientError

from shop import aws, breakers, metrics
from shop.cache import TtlCache
from shop.cart.events import CartItemAdded
from shop.catalog.models import Product
from shop.catalog.service import get_skus
from shop.catalog.service import repository as catalog
from shop.clock import iso_at, iso_now, now
from shop.config import (
    recommendation_model_bucket,
    recommendation_model_refresh_seconds,
    recommendations_table,
)
from shop.errors import DependencyUnavailable, ProductNotFound
from shop.events import DomainEvent
from shop.inventory.service import any_in_stock
from shop.money import Money
from shop.observability import get_logger
from shop.orders.events import OrderCancelled, OrderPlaced
from shop.recommendations import model as learnt
from shop.recommendations.model import Basket, Model
from shop.recommendations.models import (
    Reason,
    Recommendation,
    Recommendations,
    ViewRecorded,
)
from shop.recommendations.repository import (
    SESSION_SECONDS,
    Seen,
    ShopperActivity,
    basket_item,
    seen_item,
)

MODEL_KEY = "models/current.json.gz"
_EMPTY = Model({}, (), 0)
RETRY_SECONDS = 10.0  # after a failed refresh
_CHECK_WORKERS = 8  # stock reads in flight at once
SHOWABLE_SECONDS = 10.0  # how long a product's status and stock are taken as known
_CHECKED_MOST = 100_000  # products remembered at most (then forgotten at once)
_checked: dict[str, tuple[float, tuple[str, Money] | None]] = {}

logger = get_logger("recommendations")


def activity() -> ShopperActivity:
    return ShopperActivity(recommendations_table())


# ----------------------------------------------------------------------------- the artefact
class _LoadedModel:
    """The model in memory, its ETag, and when S3 was last asked about it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: Model = _EMPTY
        self.etag: str | None = None
        self.checked_at: float | None = None


_loaded = _LoadedModel()


def current_model() -> Model:
    """The latest published model; an empty one before the first training. When S3 cannot
    say (an outage, a throttle, an artefact this code cannot read), the model in memory goes on
    serving and S3 is asked again within RETRY_SECONDS: a failed refresh never fails a page."""
    interval = recommendation_model_refresh_seconds()
    checked_at = _loaded.checked_at
    if checked_at is not None and time.monotonic() - checked_at < interval:
        return _loaded.model
    with _loaded.lock:
        if _loaded.checked_at is not checked_at:  # another request refreshed meanwhile
            return _loaded.model
        s3 = aws.client("s3")
        bucket = recommendation_model_bucket()
        checked = time.monotonic()
        try:
            etag = s3.head_object(Bucket=bucket, Key=MODEL_KEY)["ETag"]
            if etag != _loaded.etag:
                response = s3.get_object(Bucket=bucket, Key=MODEL_KEY)
                _loaded.model = Model.from_bytes(response["Body"].read())
                _loaded.etag = response["ETag"]
                logger.info("model loaded", extra={"etag": _loaded.etag})
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                _loaded.model, _loaded.etag = _EMPTY, None  # not trained yet: popular ones
            else:
                checked = _retry_soon(checked, interval)
        except Exception:
            checked = _retry_soon(checked, interval)
        _loaded.checked_at = checked
        return _loaded.model


def _retry_soon(now_: float, interval: float) -> float:
    logger.exception("model not refreshed: serving the one in memory", extra={"etag": _loaded.etag})
    return now_ - interval + min(interval, RETRY_SECONDS)


def publish_model(model: Model) -> int:
    """Write `model` as the current artefact: its size in bytes."""
    data = model.to_bytes()
    aws.client("s3").put_object(
        Bucket=recommendation_model_bucket(),
        Key=MODEL_KEY,
        Body=data,
        ContentType="application/gzip",
        Metadata={"baskets": str(model.baskets), "trained-at": iso_now()},
    )
    return len(data)


def train_from_history() -> dict[str, Any]:
    """Train on every basket the service holds and publish the artefact."""
    started = time.perf_counter()
    baskets = list(activity().every_basket())
    return train_on(baskets, read_seconds=time.perf_counter() - started)


def train_on(baskets: list[Basket], *, read_seconds: float = 0.0) -> dict[str, Any]:
    """Train on `baskets` and publish the artefact: the nightly job's, after reading them all;
    a first load's (the demo's history), on the baskets it has just written."""
    read = time.perf_counter()
    started = read - read_seconds
    model = learnt.train(baskets)
    trained = time.perf_counter()
    size = publish_model(model)
    report = {
        "baskets": len(baskets),
        "products_with_neighbours": len(model.neighbours),
        "artefact_bytes": size,
        "read_seconds": round(read - started, 2),
        "train_seconds": round(trained - read, 2),
    }
    logger.info("model trained and published", extra=report)
    return report


# ----------------------------------------------------------------------------- what may be shown
def _price(product: Product) -> Money:
    cheapest = min(product.variants, key=lambda v: v.price.amount)
    return cheapest.price


def _showable(product_ids: list[str]) -> dict[str, tuple[str, Money] | None]:
    """Per product, its name and price if it may be shown (active, a unit in stock), else
    None. Remembered for SHOWABLE_SECONDS: a product page's neighbours repeat from request to
    request, and its public response is cached for longer anyway."""
    moment = time.monotonic()
    known: dict[str, tuple[str, Money] | None] = {}
    for product_id in product_ids:
        entry = _checked.get(product_id)
        if entry is not None and moment - entry[0] < SHOWABLE_SECONDS:
            known[product_id] = entry[1]
    missing = [p for p in product_ids if p not in known]
    if not missing:
        return known
    products = catalog().get_many(missing)
    active = [products[p] for p in missing if p in products and products[p].status == "active"]
    # Each read in the invocation's own context: locally, that is the function's environment
    # and the record of its AWS calls (contextvars do not follow work into a pool's threads).
    readers = _stock_readers()
    futures = [readers.submit(copy_context().run, _in_stock, product) for product in active]
    stocked = [future.result() for future in futures]
    fresh: dict[str, tuple[str, Money] | None] = dict.fromkeys(missing)
    for product, in_stock in zip(active, stocked, strict=True):
        if in_stock:
            fresh[product.product_id] = (product.name, _price(product))
    if len(_checked) > _CHECKED_MOST:
        _checked.clear()
    _checked.update((p, (moment, shown)) for p, shown in fresh.items())
    return known | fresh


def _in_stock(product: Product) -> bool:
    return any_in_stock(v.sku for v in product.variants)


@cache
def _stock_readers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_CHECK_WORKERS, thread_name_prefix="stock-read")


def _sellable(
    candidates: Iterable[tuple[str, Reason]], limit: int, skip: set[str]
) -> list[Recommendation]:
    """The first `limit` candidates that may be shown, in their order, checked a few more
    than still needed at a time."""
    found: list[Recommendation] = []
    pending: Iterator[tuple[str, Reason]] = iter(candidates)
    seen = set(skip)
    while len(found) < limit:
        chunk: list[tuple[str, Reason]] = []
        for product_id, reason in pending:
            if product_id not in seen:
                seen.add(product_id)
                chunk.append((product_id, reason))
                if len(chunk) >= 2 * (limit - len(found)) + 2:
                    break
        if not chunk:
            break
        showable = _showable([p for p, _ in chunk])
        for product_id, reason in chunk:
            shown = showable[product_id]
            if shown is not None and len(found) < limit:
                name, price = shown
                found.append(
                    Recommendation(product_id=product_id, name=name, price=price, reason=reason)
                )
    return found


def _popular(model: Model) -> Iterator[tuple[str, Reason]]:
    """The model's popular products; the catalog's, in its order, where the model knows too
    few (a shop that has not trained yet)."""
    for product_id, _ in model.popular:
        yield product_id, "popular"
    for product in catalog().listed():
        yield product.product_id, "popular"


# ----------------------------------------------------------------------------- the routes
def bought_together(product_id: str, limit: int) -> Recommendations:
    """Products bought with `product_id` (then popular ones, to fill the list)."""
    catalog().get(product_id)  # ProductNotFound for an unknown product
    model = current_model()
    neighbours: Iterator[tuple[str, Reason]] = (
        (p, "bought together") for p, _ in learnt.bought_together(model, product_id, learnt.K)
    )
    candidates = chain(neighbours, _popular(model))
    return Recommendations(items=_sellable(candidates, limit, {product_id}))


def for_shopper(user_id: str, limit: int) -> Recommendations:
    """The shopper's own: what they buy again, what goes with their history and their
    session, and popular products to fill (a new shopper gets only those). While the store of
    histories is unavailable: the bestsellers, marked degraded."""
    model = current_model()
    store = activity()

    def what_they_did() -> tuple[list[Basket], list[str]]:
        history = store.history(user_id)
        return history, [seen.product_id for seen in store.session(user_id, _session_start())]

    try:
        history, session = breakers.call(breakers.RECOMMENDATION_STORE, what_they_did)
    except DependencyUnavailable:
        logger.warning("recommendation store unavailable: bestsellers instead")
        metrics.count("DegradedAnswer", dependency=breakers.RECOMMENDATION_STORE.name)
        return bestsellers(limit)
    ranked = learnt.for_you(model, history, session, 3 * limit + 10)
    mine: Iterator[tuple[str, Reason]] = ((p, reason) for p, _, reason in ranked)  # type: ignore[misc]
    candidates = chain(mine, _popular(model))
    return Recommendations(items=_sellable(candidates, limit, set()))


BESTSELLERS_SECONDS = 60.0  # how long a degraded list is served before it is made again
_bestsellers: TtlCache[int, Recommendations] = TtlCache()  # by limit


def bestsellers(limit: int) -> Recommendations:
    """The model's most bought products that may be shown, the same for everyone: made once a
    minute per instance, so serving it costs no read while the store is out."""

    def made() -> Recommendations:
        items = _sellable(_popular(current_model()), limit, set())
        return Recommendations(items=items, degraded=True)

    return _bestsellers.get(limit, BESTSELLERS_SECONDS, made)


def _session_start() -> str:
    return iso_at(now() - SESSION_SECONDS)


def record_view(user_id: str, product_id: str) -> ViewRecorded:
    """A product the storefront showed the shopper: their session's newest product. Only a
    product a shopper can see (active) counts."""
    product = catalog().get(product_id)
    if product.status != "active":
        raise ProductNotFound(f"no product {product_id} is on sale")
    at = iso_now()
    activity().record([seen_item(user_id, Seen(product_id, at, "view"), int(now()))])
    return ViewRecorded(product_id=product_id, recorded_at=at)


# ----------------------------------------------------------------------------- live events
def learn_from_events(events: Sequence[DomainEvent[Any]]) -> None:
    """Placed orders join their shopper's history, cancelled ones leave it; cart adds join
    their session. One batch write for the new items; every item is keyed by what happened,
    so a repeat rewrites it alone. A cancellation leaves a marker first, so an OrderPlaced
    that arrives after its OrderCancelled (queues do not keep order) writes nothing."""
    store = activity()
    for event in events:
        if isinstance(event.data, OrderCancelled):
            store.forget_order(event.data.user_id, event.data.order_id, int(now()))
    placed = [e.data for e in events if isinstance(e.data, OrderPlaced)]
    cancelled = store.cancelled((order.user_id, order.order_id) for order in placed)
    owners = {
        sku: record.product_id
        for sku, record in get_skus(sorted({line.sku for o in placed for line in o.lines})).items()
    }
    items: list[dict[str, object]] = []
    for event in events:
        data = event.data
        if isinstance(data, OrderPlaced) and data.order_id not in cancelled:
            skus = [line.sku for line in data.lines]
            products = tuple(dict.fromkeys(owners[s] for s in skus if s in owners))
            if products:
                basket = Basket(data.user_id, event.occurred_at, products)
                items.append(basket_item(basket, data.order_id))
        elif isinstance(data, CartItemAdded):
            seen = Seen(data.product_id, data.added_at, "cart")
            items.append(seen_item(data.user_id, seen, int(now())))
    store.record(items)


# ----------------------------------------------------------------------------- history import
def import_history(baskets: Iterable[tuple[str, Basket]]) -> int:
    """Write a shop's past baskets ((order id, basket) pairs): the demo's shipped invoices."""
    return activity().record(basket_item(basket, order_id) for order_id, basket in baskets)
