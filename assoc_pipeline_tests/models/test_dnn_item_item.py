"""The DNN's EASE layer: the sparse product (inference and training) equals the dense one it replaces."""

from __future__ import annotations

import torch

from assoc_pipeline.core.recsys.models.dnn import SPARSE_ROWS_SHARE, NextBasketNet


def test_sparse_item_item_product_equals_the_dense_one():
    torch.manual_seed(0)
    net = NextBasketNet(n_items=500, dim=8, hidden=16, dropout=0.0, input_dropout=0.0)
    net.item_item.copy_(torch.randn(500, 500))
    history = torch.zeros(3, 500)
    history[0, [1, 7, 499]] = 1.0
    history[1, 42] = 3.5  # counts, not only 0/1: the layer binarises
    assert int((history > 0).sum()) <= SPARSE_ROWS_SHARE * history.numel()  # the sparse path
    dense = (history > 0).float() @ net.item_item
    net.eval()
    with torch.no_grad():
        sparse = net.item_item_scores(history)
    assert torch.allclose(sparse, dense, atol=1e-5)
    assert sparse[2].abs().sum() == 0  # an empty row stays empty
    net.train()
    trained = net.item_item_scores(history)  # training takes the sparse product too (a fixed buffer)
    assert torch.allclose(trained, dense, atol=1e-5)
    assert not trained.requires_grad


def test_training_through_the_sparse_item_item_product_reaches_the_learned_scale():
    torch.manual_seed(0)
    net = NextBasketNet(n_items=500, dim=8, hidden=16, dropout=0.0, input_dropout=0.0)
    net.item_item.copy_(torch.randn(500, 500))
    history = torch.zeros(4, 500)
    history[:, [3, 9]] = 1.0
    rows, items = torch.tensor([0, 1]), torch.tensor([3, 9])
    logits = net.forward_sparse(history, torch.zeros(4), rows, items, torch.ones(2, 4))
    logits.sum().backward()
    assert net.item_item_scale.grad is not None and net.item_item_scale.grad.abs().sum() > 0
    assert net.item_item.grad is None


def test_item_item_layer_above_its_cap_is_a_block_of_the_items_in_most_baskets():
    """A 100k-item catalogue: the layer keeps ease_max_items x ease_max_items, never n x n."""
    import numpy as np

    from assoc_pipeline.core.recsys.baselines.ease import ease_weights
    from assoc_pipeline.core.recsys.models.dnn import set_item_item

    from ..evaluation.test_large_catalogue import N_ITEMS, wide_baskets

    bs = wide_baskets(n_baskets=300)
    net = NextBasketNet(N_ITEMS, dim=4, hidden=8, dropout=0.0, input_dropout=0.0, item_item_size=100)
    assert net.item_item.shape == (100, 100) and net.item_item_items.shape == (100,)
    set_item_item(net, bs, 5.0)
    items = net.item_item_items.numpy()
    support = np.asarray(bs.matrix.getnnz(axis=0)).ravel()
    assert support[items].min() >= np.sort(support)[::-1][99]
    assert np.array_equal(net.item_item.numpy(), ease_weights(bs.matrix[:, items], 5.0))
    history = torch.zeros(2, N_ITEMS)
    history[0, [int(items[0]), int(items[5]), N_ITEMS - 1]] = 1.0
    net.eval()
    with torch.no_grad():
        scores = net.item_item_scores(history)
    assert scores.shape == (2, N_ITEMS)
    expected = net.item_item[0] + net.item_item[5]
    assert torch.allclose(scores[0, torch.as_tensor(items)], expected, atol=1e-6)
    assert scores[0].count_nonzero() <= 100 and scores[1].abs().sum() == 0
    # the block product is sparse when few block items are bought, dense otherwise: the same scores
    crowded = history.clone()
    crowded[1, torch.as_tensor(items[:60])] = 1.0  # 61 of 200 block cells: the dense product
    with torch.no_grad():
        both = net.item_item_scores(crowded)
    assert torch.allclose(both[0], scores[0], atol=1e-6)
    assert torch.allclose(both[1, torch.as_tensor(items)], net.item_item[:60].sum(0), atol=1e-5)
    # the checkpoint rebuilds the same shapes (state dict round trip)
    again = NextBasketNet(N_ITEMS, dim=4, hidden=8, dropout=0.0, input_dropout=0.0, item_item_size=100)
    again.load_state_dict(net.state_dict())
    assert torch.equal(again.item_item_items, net.item_item_items)


def test_dnn_fits_and_reloads_with_a_capped_item_item_layer():
    import numpy as np

    from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender

    from ..evaluation.test_large_catalogue import wide_baskets

    bs = wide_baskets(n_baskets=120, n_items=400)
    p = DNNParams(epochs=1, patience=0, dim=8, hidden=16, ease_max_items=50, threads=1, device="cpu")
    rec = DNNRecommender(p).fit(bs)
    assert rec.module.item_item.shape == (50, 50)
    back = DNNRecommender.from_checkpoint(rec.to_checkpoint())
    users = ["u1", "u2", "nobody"]
    assert np.allclose(back.score_next_basket(users), rec.score_next_basket(users), atol=1e-5)
    rec.with_history(bs)  # refits the 50-item block on the new history, same shape
    assert rec.module.item_item.shape == (50, 50)
