"""Every endpoint of `assoc-pipeline serve` against a real server on the shared demo state."""

from __future__ import annotations

import re

import pytest

from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.resources import build_resources
from assoc_pipeline.services.recommendations import StoredState, recommend_command

RULE_TEXT = re.compile(r"^\d+% of baskets with .+ also hold .+ \(lift [\d.]+\)$")


@pytest.fixture(scope="module")
def stored(server):
    return StoredState.load(server.settings.data_dir / "assets")


@pytest.fixture(scope="module")
def known_user(stored) -> str:
    users, history = user_item_counts(stored.baskets)
    return str(users[int(history.getnnz(axis=1).argmax())])  # the user with the longest history


@pytest.fixture(scope="module")
def item_ids(stored) -> list[str]:
    popular = (-stored.baskets.matrix.getnnz(axis=0)).argsort()
    return stored.baskets.vocabulary["item_id"].astype(str).to_numpy()[popular[:3]].tolist()


def cli_items(server, **query) -> list[str]:
    """Item ids `assoc-pipeline recommend` prints for the same query (its ranked lines)."""
    tracker = build_resources(server.settings)["mlflow"]
    assets = server.settings.data_dir / "assets"
    text = recommend_command(lambda: tracker, tracker.tracking_uri, assets, k=5, **query)
    return re.findall(r"^\s+\d+\. (\S+)", text, flags=re.M)


def check_answer(body: dict, k: int) -> None:
    assert body["model"]["name"] and body["model"]["label"]
    assert body["model"]["from_champion"] == (body["model"]["version"] is not None)
    assert 0 < len(body["items"]) <= k
    assert [i["rank"] for i in body["items"]] == list(range(1, len(body["items"]) + 1))
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    for item in body["items"]:
        assert item["explanation"] is None or RULE_TEXT.match(item["explanation"]), item["explanation"]


def test_health_names_the_model(server):
    status, body = server.get("/health")
    assert status == 200 and body["status"] == "ok"
    assert body["users"] > 100 and body["items"] > 100
    assert body["model"]["from_champion"] == (body["model"]["version"] is not None)


def test_user_next_basket_matches_the_cli(server, known_user):
    status, body = server.get(f"/recommend/user/{known_user}?k=5")
    assert status == 200, body
    check_answer(body, 5)
    assert body["query"] == {"user_id": known_user, "k": 5}
    assert [i["item_id"] for i in body["items"]] == cli_items(server, user=known_user)


def test_basket_completion_matches_the_cli_and_never_repeats_the_basket(server, item_ids):
    status, body = server.post("/recommend/basket", {"items": item_ids, "k": 5})
    assert status == 200, body
    check_answer(body, 5)
    served = [i["item_id"] for i in body["items"]]
    assert not set(served) & set(item_ids)
    assert served == cli_items(server, items=",".join(item_ids))


def test_a_basket_posted_with_its_customer_is_answered(server, known_user, item_ids):
    """The customer's id travels with the basket (a personal completion model reads their history;
    any other answers as without it); an unknown customer is answered as an anonymous basket."""
    status, body = server.post("/recommend/basket", {"items": item_ids, "k": 5, "user_id": known_user})
    assert status == 200, body
    check_answer(body, 5)
    assert not {i["item_id"] for i in body["items"]} & set(item_ids)
    cli = cli_items(server, user=known_user, items=",".join(item_ids))
    assert [i["item_id"] for i in body["items"]] == cli  # `recommend --items ... --user ...` answers alike
    anonymous = server.post("/recommend/basket", {"items": item_ids, "k": 5})[1]["items"]
    stranger = server.post("/recommend/basket", {"items": item_ids, "k": 5, "user_id": "no-such-customer"})
    assert stranger[0] == 200 and stranger[1]["items"] == anonymous


def test_items_by_name_answer_like_by_id(server, stored, item_ids):
    vocab = stored.baskets.vocabulary.set_index(stored.baskets.vocabulary["item_id"].astype(str))
    names = [str(vocab.loc[i, "item_name"]).lower() for i in item_ids]
    by_id = server.post("/recommend/basket", {"items": item_ids})[1]["items"]
    by_name = server.post("/recommend/basket", {"items": names})[1]["items"]
    assert by_id == by_name


def test_similar_items_carry_the_rules_behind_them(server, stored, item_ids):
    """Each served item that a mined one-item rule (queried item => it) concludes is explained."""
    for item in item_ids:
        status, body = server.get(f"/similar/{item}?k=10")
        assert status == 200, body
        check_answer(body, 10)
        assert item not in [i["item_id"] for i in body["items"]]
    ids = stored.baskets.vocabulary["item_id"].astype(str).to_numpy()
    names = stored.baskets.vocabulary["item_name"].astype(str).to_numpy()
    rules = stored.rules.rules
    single = rules[rules["antecedent"].map(len) == 1]
    checked = 0
    for ant, cons in zip(single["antecedent"], single["consequent"], strict=True):
        served = {i["item_id"]: i for i in server.get(f"/similar/{ids[ant[0]]}?k=50")[1]["items"]}
        hit = served.get(ids[cons[0]])
        if hit is not None:
            checked += 1
            assert hit["explanation"] and names[ant[0]] in hit["explanation"], hit
    assert checked > 0, "no rule's consequent among its antecedent's 50 served items"


def test_k_is_honoured(server, known_user, item_ids):
    assert len(server.get(f"/recommend/user/{known_user}?k=3")[1]["items"]) == 3
    assert len(server.get(f"/similar/{item_ids[0]}?k=1")[1]["items"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("GET", "/recommend/user/no-such-user", None, 404, "unknown user 'no-such-user'"),
        ("GET", "/similar/NO-SUCH-ITEM", None, 404, "unknown item(s): 'NO-SUCH-ITEM'"),
        ("POST", "/recommend/basket", {"items": ["NO-SUCH-ITEM"]}, 404, "unknown item(s)"),
        ("POST", "/recommend/basket", {"items": []}, 422, "items: List should have at least 1 item"),
        ("POST", "/recommend/basket", {"items": ["  "]}, 422, "empty basket"),
        ("POST", "/recommend/basket", {"items": ["X"] * 10_000}, 422, "at most 1000 items"),
        ("POST", "/recommend/basket", {"k": 3}, 422, "body.items: Field required"),
        ("POST", "/recommend/basket", "not json", 422, "body"),
        ("GET", "/similar/{item}?k=0", None, 422, "query.k: Input should be greater than or equal to 1"),
        ("GET", "/recommend/user/{user}?k=-1", None, 422, "query.k"),
        ("GET", "/recommend/user/{user}?k=51", None, 422, "query.k: Input should be less than or equal"),
        ("GET", "/recommend/user/{user}?k=ten", None, 422, "query.k"),
    ],
)
def test_bad_input_is_a_clear_4xx(server, known_user, item_ids, method, path, body, status, says):
    path = path.format(user=known_user, item=item_ids[0])
    got, answer = server.get(path) if method == "GET" else server.post(path, body)
    assert got == status, answer
    assert isinstance(answer["detail"], str) and says in answer["detail"], answer["detail"]


def test_many_unknown_items_are_named_quickly(server):
    got, answer = server.post("/recommend/basket", {"items": [f"NOPE{i}" for i in range(1000)]})
    assert got == 404
    assert "'NOPE0'" in answer["detail"] and "and 997 more" in answer["detail"]


def test_openapi_docs(server):
    status, html = server.get("/docs")
    assert status == 200 and "swagger-ui" in html
    status, spec = server.get("/openapi.json")
    assert {"/recommend/user/{user_id}", "/recommend/basket", "/similar/{item_id}"} <= set(spec["paths"])


def test_metrics_count_requests_in_prometheus_text(server, known_user):
    for _ in range(3):
        server.get(f"/recommend/user/{known_user}")
    server.get("/recommend/user/no-such-user")
    status, text = server.get("/metrics")
    assert status == 200
    samples = dict(
        (m.group(1), float(m.group(2))) for m in re.finditer(r"^(\w+(?:\{.*\})?) (\S+)$", text, flags=re.M)
    )
    route = 'route="/recommend/user/{user_id}"'
    assert samples[f'assoc_requests_total{{{route},method="GET",status="200"}}'] >= 3
    assert samples[f'assoc_requests_total{{{route},method="GET",status="404"}}'] >= 1
    assert not [name for name in samples if 'status="500"' in name]
    histogram = "assoc_request_duration_seconds"
    buckets = [v for name, v in samples.items() if name.startswith(f"{histogram}_bucket{{{route}")]
    assert len(buckets) > 5 and buckets == sorted(buckets)
    assert buckets[-1] == samples[f"{histogram}_count{{{route}}}"]
    health = server.get("/health")[1]
    infos = [name for name in samples if name.startswith("assoc_model_info")]
    assert [i.split('task="')[1].split('"')[0] for i in infos] == ["next_basket", "completion"]
    for info, model in zip(infos, (health["model"], health["completion_model"]), strict=True):
        assert f'version="{model["version"] or ""}"' in info and f'name="{model["name"]}"' in info
    assert "# TYPE assoc_request_duration_seconds histogram" in text


def test_catalogue_and_page(server, stored):
    status, items = server.get("/items")
    assert status == 200
    assert [i["item_id"] for i in items] == stored.baskets.vocabulary["item_id"].astype(str).tolist()
    status, html = server.get("/")
    assert status == 200 and "Complete a basket" in html
