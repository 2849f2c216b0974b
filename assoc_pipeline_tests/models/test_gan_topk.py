"""The GAN's exactly-k sampler: a threshold read from the top places only is the same threshold."""

from __future__ import annotations

import torch

from assoc_pipeline.core.recsys.models.gan.topk import sample_topk, soft_topk_threshold


def test_threshold_from_the_top_places_equals_the_full_sort() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 300, generator=gen, requires_grad=True)
    sizes = torch.randint(1, 40, (64,), generator=gen).float()
    top = logits.detach().topk(int(sizes.max()) + 1, dim=-1).values
    full = soft_topk_threshold(logits, sizes, 0.5)
    (grad_full,) = torch.autograd.grad(full.sum(), logits)
    part = soft_topk_threshold(logits, sizes, 0.5, ordered=top)
    (grad_part,) = torch.autograd.grad(part.sum(), logits)
    assert torch.equal(full, part) and torch.equal(grad_full, grad_part)


def test_samples_hold_exactly_their_size_and_the_forced_item() -> None:
    torch.manual_seed(1)
    logits = torch.randn(32, 50, requires_grad=True)
    sizes = torch.tensor([1.0, 49.0, 50.0] + [5.0] * 29)  # one row asks for every item
    force = torch.randint(0, 50, (32,))
    basket = sample_topk(logits, sizes, 0.5, force=force)
    assert torch.equal(basket.detach().sum(-1), sizes)
    assert bool((basket.detach().gather(-1, force.unsqueeze(-1)) == 1).all())
    basket.sum().backward()  # the relaxed basket carries a gradient to the logits
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
