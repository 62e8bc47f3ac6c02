"""sktransfer: transfer learning as a first-class citizen of scikit-learn."""

from ._cache import (
    cache_info,
    clear_cache,
    disk_cache_info,
    set_cache_limit,
    set_disk_cache_limit,
)
from .backbones import WeightsUnavailableError
from .encoders import AudioEncoder, ImageEncoder, TextEncoder, TimeSeriesEncoder
from .finetune import (
    AudioClassifier,
    FineTuningWarning,
    ImageClassifier,
    ImageRegressor,
    TextClassifier,
    TextRegressor,
    TimeSeriesClassifier,
    TimeSeriesRegressor,
)

__version__ = "0.1.0"

__all__ = [
    "AudioClassifier",
    "AudioEncoder",
    "FineTuningWarning",
    "ImageClassifier",
    "ImageEncoder",
    "ImageRegressor",
    "TextClassifier",
    "TextRegressor",
    "TextEncoder",
    "TimeSeriesClassifier",
    "TimeSeriesEncoder",
    "TimeSeriesRegressor",
    "WeightsUnavailableError",
    "cache_info",
    "clear_cache",
    "disk_cache_info",
    "set_cache_limit",
    "set_disk_cache_limit",
]
