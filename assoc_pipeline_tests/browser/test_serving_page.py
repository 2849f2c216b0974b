"""The merchandisers' page of `assoc-pipeline serve`, in real Chromium: complete a basket (with the
rule behind an item), a customer's next basket, and the errors a person sees."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.services.recommendations import StoredState
from assoc_pipeline_tests.browser.conftest import (
    LOOPBACK,
    background_server,
    free_port,
    http_json,
    save_screenshot,
    server_env,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def serving_page(ui_settings) -> Iterator[str]:
    """`assoc-pipeline serve` on the private copy of the demo's data; yields its base URL."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    cmd = [sys.executable, "-m", "assoc_pipeline.cli", "serve", "--host", LOOPBACK, "--port", str(port)]
    cmd += ["--poll-seconds", "0"]
    with background_server("assoc-serve", cmd, server_env(ui_settings), f"{base}/health"):
        yield base


def explained_basket(base: str, stored: StoredState) -> tuple[str, dict]:
    """A one-product basket whose answer has a mined rule behind at least one item (from the API)."""
    vocab = stored.baskets.vocabulary
    for ant in stored.rules.rules["antecedent"]:
        if len(ant) != 1:
            continue
        item_id = str(vocab["item_id"].iloc[ant[0]])
        answer = http_json(f"{base}/recommend/basket", {"items": [item_id], "k": 10})
        if any(i["explanation"] for i in answer["items"]):
            return str(vocab["item_name"].iloc[ant[0]]), answer
    raise AssertionError("no one-item basket of a rule's antecedent gets an explained answer")


def table_rows(page, section: str) -> list[list[str]]:
    rows = page.locator(f"#{section} table tr")
    rows.nth(1).wait_for()
    return [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(1, rows.count())]


def test_a_merchandiser_completes_a_basket_and_looks_up_a_customer(serving_page, ui_settings, page):
    stored = StoredState.load(ui_settings.data_dir / "assets")
    name, expected = explained_basket(serving_page, stored)

    page.goto(serving_page + "/")
    page.locator("body[data-ready=true]").wait_for()
    assert expected["model"]["label"] in page.locator("#model").inner_text()

    # a product nobody sells: told so, nothing added
    page.fill("#product", "NO SUCH PRODUCT")
    page.click("#add")
    assert "No product called" in page.locator("#basket-error").inner_text()

    # the basket by the product's name (as picked from the suggestions), then its completion
    page.fill("#product", name)
    page.click("#add")
    assert name in page.locator("#basket").inner_text()
    page.click("#complete")
    rows = table_rows(page, "basket-results")
    assert [r[2] for r in rows] == [i["item_id"] for i in expected["items"]]
    explanation = next(i["explanation"] for i in expected["items"] if i["explanation"])
    assert explanation in [r[3] for r in rows]
    page.get_by_text(explanation).first.scroll_into_view_if_needed()

    # a customer's next basket, as the API gives it
    users, history = user_item_counts(stored.baskets)
    user = str(users[int(history.getnnz(axis=1).argmax())])
    api = http_json(f"{serving_page}/recommend/user/{user}?k=10")
    page.fill("#customer", user)
    page.click("#lookup")
    assert [r[2] for r in table_rows(page, "customer-results")] == [i["item_id"] for i in api["items"]]
    page.set_viewport_size({"width": 1400, "height": 1500})
    save_screenshot(page, "serving-page")

    # an unknown customer: the server's one-line reason, no table
    page.fill("#customer", "no-such-customer")
    page.click("#lookup")
    page.locator("#customer-error").filter(has_text="unknown user").wait_for()
    assert page.locator("#customer-results table").count() == 0
