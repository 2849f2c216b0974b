"""The basket GAN (``model.py``) and the pieces it is built from; see model.py's docstring."""

from assoc_pipeline.core.recsys.models.gan.model import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.models.gan.references import CooccurrenceChain, IndependentItems

__all__ = ["BasketGANModel", "CooccurrenceChain", "GANParams", "IndependentItems"]
