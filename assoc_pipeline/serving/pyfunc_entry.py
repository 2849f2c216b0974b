"""The file MLflow stores with the recommender and runs to load it ("models from code").

Kept to an import of the installed package: the logic lives in
:mod:`assoc_pipeline.serving.pyfunc_model`, and the stored file is readable at a glance.
"""

from mlflow.models import set_model

from assoc_pipeline.serving.pyfunc_model import RecommenderPyfunc

set_model(RecommenderPyfunc())
