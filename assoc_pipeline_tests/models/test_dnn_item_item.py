"""The DNN's EASE layer: the sparse inference product equals the dense one it replaces."""

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
    assert torch.allclose(net.item_item_scores(history), dense)  # training keeps the dense product
