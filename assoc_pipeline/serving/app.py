"""The HTTP routes: thin wrappers of :class:`~assoc_pipeline.serving.scoring.ScoringState`.

Each request reads the holder's state once (a hot reload swaps it between requests, never during
one). Bad input is a 4xx with one line saying what is wrong: an unknown user or item 404, an
invalid basket or ``k`` 422; never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.item_lookup import UnknownQueryError
from assoc_pipeline.core.recsys.task_names import COMPLETION, NEXT_BASKET
from assoc_pipeline.serving.ab import ABRouter
from assoc_pipeline.serving.metrics import CONTENT_TYPE, RequestMetrics
from assoc_pipeline.serving.metrics_middleware import MetricsMiddleware
from assoc_pipeline.serving.reloader import ChampionHolder
from assoc_pipeline.serving.scoring import MAX_BASKET_ITEMS, MAX_K, Answer

PAGE = Path(__file__).with_name("page.html")  # the merchandisers' page, served at /


class ModelOut(BaseModel):
    name: str = Field(description="registered model name, or baseline:<method> while none is promoted")
    version: str | None = Field(description="registered version (null for a baseline)")
    model_type: str
    label: str
    from_champion: bool


class ContributionOut(BaseModel):
    group: str = Field(
        description="feature group: for a user counts, recency, cycle, user, item, ranks, scores, source; "
        "for a basket basket, habit, item"
    )
    feature: str = Field(description="the group's strongest feature for this item")
    value: float = Field(
        description="signed push on the ranker's logit vs the average candidate of its list (the user's or "
        "the basket's)"
    )
    why: str = Field(description="the raw values behind it, in words")


class ItemOut(BaseModel):
    rank: int
    item_id: str
    item_name: str
    score: float
    explanation: str | None = Field(description="the strongest mined rule behind this item, if any")
    contributions: list[ContributionOut] | None = Field(
        None, description="the ranker's top 3 feature groups behind this item (null for other models)"
    )


class RecommendationsOut(BaseModel):
    model: ModelOut
    arm: str = Field("champion", description="A/B arm that answered: champion or challenger")
    query: dict
    items: list[ItemOut]
    notes: list[str]


class BasketIn(BaseModel):
    items: list[str] = Field(
        min_length=1, max_length=MAX_BASKET_ITEMS, description="item ids or names already in the basket"
    )
    k: int = Field(10, ge=1, le=MAX_K)
    user_id: str | None = Field(None, description="the customer, if known (A/B arm and exposure)")
    basket_id: str | None = Field(None, description="basket/session id: the A/B unit when no user is given")


def _out(routed: tuple[Answer, str], query: dict) -> dict:
    """The response body of the router's (answer, arm)."""
    answer, arm = routed
    model = asdict(answer.model)
    return {"model": model, "arm": arm, "query": query, "items": answer.items, "notes": answer.notes}


def _one_line(exc: RequestValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    )


def create_app(
    holder: ChampionHolder, metrics: RequestMetrics | None = None, router: ABRouter | None = None
) -> FastAPI:
    """The FastAPI app over ``holder`` (its poll thread runs while the app does); ``router`` splits
    traffic with a challenger and records exposures (flushed when the app stops)."""
    metrics = metrics or RequestMetrics()
    router = router or ABRouter(holder)
    page = PAGE.read_text()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        holder.start()
        router.start()
        yield
        router.stop()
        holder.stop()

    app = FastAPI(
        title="assoc-pipeline recommendations",
        description="The champion recommender from the MLflow registry, with the mined rules behind "
        "each item. Responses name the model version that answered.",
        lifespan=lifespan,
    )

    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(UnknownQueryError)
    async def unknown(_: Request, exc: UnknownQueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InputError)
    async def invalid(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.get("/recommend/user/{user_id}", response_model=RecommendationsOut)
    async def recommend_user(user_id: str, k: int = Query(10, ge=1, le=MAX_K)) -> dict:
        """A customer's next basket (from their purchase history as of the loaded baskets)."""
        return _out(router.for_user(user_id, k), {"user_id": user_id, "k": k})

    @app.post("/recommend/basket", response_model=RecommendationsOut)
    async def recommend_basket(basket: BasketIn) -> dict:
        """What completes a basket: items scored by the model, never one already in it."""
        routed = router.for_basket(basket.items, basket.k, basket.user_id, basket.basket_id)
        return _out(routed, basket.model_dump(exclude_none=True))

    @app.get("/similar/{item_id}", response_model=RecommendationsOut)
    async def similar(item_id: str, k: int = Query(10, ge=1, le=MAX_K), user_id: str | None = None) -> dict:
        """Items bought with this one (id or name), per the model, with the rules behind them."""
        return _out(router.similar(item_id, k, user_id), {"item_id": item_id, "k": k})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def merchandiser_page() -> HTMLResponse:
        """A page for people: complete a basket, look up a customer, with the rules behind each item."""
        return HTMLResponse(page)

    @app.get("/items")
    async def items() -> list[dict]:
        """The catalogue the model scores (item_id, item_name): what a basket may hold."""
        return holder.state.catalogue

    @app.get("/health")
    async def health() -> dict:
        state, status = holder.state, holder.status
        return {
            "status": "ok",
            "model": asdict(state.users_model),
            "completion_model": asdict(state.items_model),
            "users": len(state.per_user.spans),
            "items": len(state.per_item.spans),
            "loaded_at": status.loaded_at,
            "load_seconds": round(state.load_seconds, 3),
            "reloads": status.reloads,
            "reload_failures": status.failures,
            "last_error": status.last_error,
            "poll_seconds": holder.poll_seconds,
            "ab_test": router.describe(),
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        state = holder.state
        info = [
            {"task": task, "name": m.name, "version": m.version or "", "model_type": m.model_type}
            for task, m in ((NEXT_BASKET, state.users_model), (COMPLETION, state.items_model))
        ]
        text = metrics.render(info, holder.status.reloads, holder.status.failures)
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return app
