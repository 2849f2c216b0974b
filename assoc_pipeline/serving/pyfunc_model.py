"""A registered version as an MLflow pyfunc model: ``mlflow models serve`` answers as `serve` does
for that version (for both tasks, also one the gate did not promote it for).

No pickle anywhere: MLflow stores :mod:`~assoc_pipeline.serving.pyfunc_entry` (code) and two
artifacts, our weights-only checkpoint and the baskets the model serves from, and this class
rebuilds the model with the weights-only loader, then builds the same
:class:`~assoc_pipeline.serving.scoring.ScoringState` the HTTP server uses, so both give the same
items for the same query. The request is a DataFrame (``PYFUNC_REQUEST``): a row with a
``user_id`` asks for that customer's next basket, else its ``items`` are a basket to complete; ``k``
items each (default 10). The response holds one row per recommended item, ``request`` naming the
row it answers. The pyfunc carries no mined rules (they are mined after training): ``explanation``
is empty there; `assoc-pipeline serve` adds them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from assoc_pipeline.core.data.baskets import load_basket_set
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.models.checkpoint_files import load_model
from assoc_pipeline.resources.mlflow_tracking import PYFUNC_BASKETS, PYFUNC_CHECKPOINT, PYFUNC_RESPONSE
from assoc_pipeline.services.recommendations import StoredState, served_champion
from assoc_pipeline.serving.scoring import ScoringState

DEFAULT_K = 10


def _given(value: Any) -> bool:
    """A request cell that holds something (not None/NaN/empty)."""
    if value is None:
        return False
    if isinstance(value, float):
        return value == value
    return len(value) > 0 if hasattr(value, "__len__") else True


class RecommenderPyfunc(PythonModel):
    """Loads the checkpoint weights-only and answers next-basket and basket-completion requests."""

    def load_context(self, context: Any) -> None:
        baskets = load_basket_set(context.artifacts[PYFUNC_BASKETS])
        model = load_model(context.artifacts[PYFUNC_CHECKPOINT])  # weights only: refuses pickles
        model_type = str((context.model_config or {}).get("model_type", model.kind))
        served = served_champion(model, baskets, None, model_type)
        stored = StoredState(baskets, None, None, None, None)
        self.state = ScoringState(stored, served, served, precompute=False)

    def answer(self, request: pd.DataFrame) -> pd.DataFrame:
        """One row per recommended item; a user or item the model does not know is an InputError."""
        rows = []
        for i, row in enumerate(request.to_dict("records")):
            k = int(row["k"]) if _given(row.get("k")) else DEFAULT_K
            user, items = row.get("user_id"), row.get("items")
            if _given(user):
                query, answer = str(user), self.state.for_user(str(user), k)
            elif _given(items):
                items = [str(t) for t in items]
                query, answer = ",".join(items), self.state.for_basket(items, k)
            else:
                raise InputError(f"request row {i}: give a user_id or a non-empty items list")
            for item in answer.items:
                rows.append({"request": i, "query": query, **item, "model_type": answer.model.model_type})
        out = pd.DataFrame(rows, columns=list(PYFUNC_RESPONSE))
        return out.astype({"request": "int64", "rank": "int64", "score": "float64"})

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        try:
            return self.answer(pd.DataFrame(model_input))
        except InputError as exc:  # a bad request is a 400 with the reason, not a 500
            raise MlflowException.invalid_parameter_value(str(exc)) from None
