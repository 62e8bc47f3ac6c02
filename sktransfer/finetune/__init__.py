"""Fine-tuning pretrained networks as scikit-learn estimators (on skorch).

Split by job: the public estimators (:mod:`.estimators`: signature, modality,
documentation), the shared fit/predict with the classifier and regressor hooks
(``_base``), the parameters declared once (``_params``), the fit plan
computed from parameters and data without torch (``_plan``), the trainer that
assembles the module and the skorch net (``_trainer``, torch), and domain
adaptation (``_domain`` torch-free, ``_domain_torch`` with skada.deep).
"""

from ._base import FineTuningWarning
from .estimators import (
    AudioClassifier,
    ImageClassifier,
    ImageRegressor,
    TextClassifier,
    TextRegressor,
    TimeSeriesClassifier,
    TimeSeriesRegressor,
)

__all__ = [
    "AudioClassifier",
    "FineTuningWarning",
    "ImageClassifier",
    "ImageRegressor",
    "TextClassifier",
    "TextRegressor",
    "TimeSeriesClassifier",
    "TimeSeriesRegressor",
]
