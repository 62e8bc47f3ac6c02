"""Domain losses while fine-tuning: skada.deep's losses around our transfer networks.

Imported lazily (torch, skorch and skada.deep at the top) by the trainer when
a ``domain_loss`` is set; :mod:`sktransfer.finetune._domain` holds the
torch-free checks. What comes from
skada.deep: the criterion that adds a weighted domain loss to the task loss
(``DomainAwareCriterion``), the losses themselves (``DANNLoss``,
``DeepCoralLoss``, ``DANLoss``, ``MCCLoss``), the gradient reversal layer, and the sampler
that pairs source and target rows in every batch (``DomainBalancedSampler``).
What is ours: the module that hands skada's criterion the backbone's pooled
features (the input of our new head: "the feature layer"), a domain
classifier, and the dataset/collation that carry ``sample_domain`` next to
our inputs (texts, images, cached features or cached token states).
"""

import math

import numpy as np

from .._deps import require
from ._torch import TransferNetClassifier, TransferNetRegressor, grouped_order, row_lengths

torch = require("torch", "domain adaptation")
require("skada", purpose="domain adaptation while fine-tuning (domain_loss=...)")
from skada.deep import DANLoss, DANNLoss, DeepCoralLoss, MCCLoss  # noqa: E402
from skada.deep.base import BaseDALoss, DomainAwareCriterion, DomainBalancedSampler  # noqa: E402
from skada.deep.modules import GradientReversalLayer  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

nn = torch.nn

_LOSSES = {"dann": DANNLoss, "deepcoral": DeepCoralLoss, "dan": DANLoss, "mcc": MCCLoss}


class DomainClassifier(nn.Module):
    """DANN's domain classifier (Ganin et al. 2016): gradient reversal, then a 100-unit MLP.

    It returns one logit per row (source 0, target 1). skada 0.6's own
    ``DomainClassifier`` ends with a softmax over its single output, which is
    always 1: its domain loss is constant and gives no gradient. This one's
    logits go to ``BCEWithLogitsLoss`` inside skada's ``DANNLoss``.
    """

    def __init__(self, n_features, hidden=100):
        super().__init__()
        self.alpha = 0.0
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x):
        return self.layers(GradientReversalLayer.apply(x, self.alpha)).squeeze(-1)


class DomainAdaptNet(nn.Module):
    """A transfer network whose forward also returns what skada's criterion needs.

    In training, on batches of ``{"X": inputs, "sample_domain": domains}``, it
    returns ``(y_pred, domain_pred, features, sample_domain, None)``, the
    tuple ``DomainAwareCriterion`` unpacks; ``features`` are the input of the
    network's head (the backbone's pooled output), standardised over the
    batch as the head standardises them. Otherwise (validation, prediction)
    it is the wrapped network.
    """

    def __init__(self, net, domain_classifier=None):
        super().__init__()
        self.net = net
        self.domain_classifier = domain_classifier

    # The fine-tuning machinery (freeze depth, gradual unfreezing, LP-FT)
    # addresses the wrapped network's blocks and head.
    @property
    def blocks(self):
        return self.net.blocks

    @property
    def head(self):
        return self.net.head

    def set_trainable(self, n_trainable):
        self.net.set_trainable(n_trainable)

    def _net(self, X, features):
        if X is None:
            return self.net(**features)
        return self.net(**X) if isinstance(X, dict) else self.net(X)

    def forward(self, X=None, sample_domain=None, **features):
        if not self.training or sample_domain is None:
            return self._net(X, features)
        captured = []
        handle = self.net.head.register_forward_pre_hook(
            lambda module, args: captured.append(args[0])
        )
        try:
            y_pred = self._net(X, features)
        finally:
            handle.remove()
        features = standardise(captured[-1])
        domain_pred = (
            self.domain_classifier(features) if self.domain_classifier is not None else None
        )
        return y_pred, domain_pred, features, sample_domain, None


def standardise(features, eps=1e-5):
    """Each feature to zero mean and unit variance over the batch (source and target rows together).

    As the head's own input normalisation does. It makes the losses' scale
    the same for every backbone: skada's DeepCORAL loss (covariance gap over
    4 d^2) is 1e-7 on all-MiniLM-L6-v2's unit-norm embeddings and 5e-5 on
    EfficientNet-Lite0's pooled features as they come, and about 0.02 on
    both once standardised.
    """
    features = features.float()
    return (features - features.mean(0)) / (features.std(0) + eps)


class SumOfLosses(BaseDALoss):
    """Several skada domain losses added up (``domain_loss="dann+mcc"``)."""

    def __init__(self, losses):
        super().__init__()
        self.losses = nn.ModuleList(losses)

    def forward(self, **kwargs):
        return sum(loss(**kwargs) for loss in self.losses)


def make_criterion(domain_loss, weight, base_criterion):
    """skada's ``DomainAwareCriterion``: task loss on source rows + weight x domain loss.

    ``domain_loss`` names one of skada's losses, or several joined by "+".
    """
    losses = [
        DANNLoss(domain_criterion=nn.BCEWithLogitsLoss()) if name == "dann" else _LOSSES[name]()
        for name in domain_loss.split("+")
    ]
    adapt = losses[0] if len(losses) == 1 else SumOfLosses(losses)
    return DomainAwareCriterion(
        base_criterion=base_criterion, adapt_criterion=adapt, reg=float(weight)
    )


class DomainDataset(torch.utils.data.Dataset):
    """Rows of another dataset as ``({"X": x, "sample_domain": d}, y)``."""

    def __init__(self, inner, sample_domain, y):
        self.inner = inner
        self.sample_domain = np.asarray(sample_domain, dtype=np.int64)
        self.y = y

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        x, _ = self.inner[i]
        return {"X": x, "sample_domain": self.sample_domain[i]}, self.y[i]


class DomainCollate:
    """Collate ``({"X": x, "sample_domain": d}, y)`` rows with the inputs' own collation.

    Plain ``(x, y)`` rows (prediction after fit) are collated as before.
    """

    def __init__(self, inner=None):
        self.inner = inner

    def __call__(self, batch):
        inner = self.inner or torch.utils.data.default_collate
        if not (isinstance(batch[0][0], dict) and "sample_domain" in batch[0][0]):
            return inner(batch)
        X, y = inner([(b[0]["X"], b[1]) for b in batch])
        domains = torch.as_tensor(np.asarray([b[0]["sample_domain"] for b in batch]))
        if isinstance(X, dict):
            # Tokenised texts or cached token states: their keys stay at the
            # top, where skorch looks for "input_ids" to count a batch's rows.
            return {**X, "sample_domain": domains}, y
        return {"X": X, "sample_domain": domains}, y


def _domains(dataset):
    """``sample_domain`` of a DomainDataset or of skorch's / torch's subset of one."""
    if isinstance(dataset, torch.utils.data.Subset):
        return _domains(dataset.dataset)[np.asarray(dataset.indices)]
    return dataset.sample_domain


class _BalancedSampler(DomainBalancedSampler):
    """skada's sampler (a source row, then a target row, ...) without decoding every row.

    skada's finds each row's domain by loading the row (every image decoded
    and augmented once more per epoch); this reads ``sample_domain``. Each
    epoch covers the larger domain once, cycling the smaller one, in full
    batches only: skada's rounds both domains down to whole batches, which
    leaves no step at all when a domain has fewer rows than a batch.
    """

    def __init__(self, dataset, batch_size):
        self.dataset = dataset
        domains = _domains(dataset)
        self.positive_indices = np.flatnonzero(domains >= 0).tolist()
        self.negative_indices = np.flatnonzero(domains < 0).tolist()
        longest = max(len(self.positive_indices), len(self.negative_indices))
        self.num_samples = int(math.ceil(longest / batch_size) * batch_size)
        self.batch_size = batch_size

    def __iter__(self):
        lengths = row_lengths(self.dataset)
        if lengths is None:
            yield from super().__iter__()
            return
        # Texts: each domain's rows come in runs of similar length (see TrainLoader).
        streams = [
            self._cycle(self.positive_indices, lengths),
            self._cycle(self.negative_indices, lengths),
        ]
        for _ in range(self.num_samples):
            yield next(streams[0])
            yield next(streams[1])

    def _cycle(self, rows, lengths):
        while True:
            yield from grouped_order(rows, lengths, self.batch_size).tolist()


class BalancedLoader(torch.utils.data.DataLoader):
    """Batches of ``batch_size`` source and ``batch_size`` target rows (an ``iterator_train``)."""

    def __init__(self, dataset, batch_size, shuffle=None, **kwargs):
        # The sampler shuffles each domain itself.
        super().__init__(
            dataset,
            batch_size=2 * batch_size,
            sampler=_BalancedSampler(dataset, batch_size),
            **kwargs,
        )


class GradientReversalSchedule(Callback):
    """DANN's schedule for the reversed gradient: 2 / (1 + exp(-10 p)) - 1, p the training progress.

    The domain classifier learns at full strength from the start, while the
    gradient that pushes the features to fool it grows from 0 to 1 (Ganin
    et al. 2016, section 5.2.2): early in training the classifier's signal is
    noise.
    """

    def on_train_begin(self, net, **kwargs):
        self.step_ = 0
        self.total_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.total_ is None:
            self.total_ = len(net.get_iterator(dataset_train, training=True)) * net.max_epochs

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training or net.module_.domain_classifier is None:
            return
        p = min(1.0, self.step_ / max(1, self.total_))
        net.module_.domain_classifier.alpha = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
        self.step_ += 1


def labelled_loss(criterion, y_pred, y_true):
    """The task loss on labelled rows only (validation batches hold unlabelled target rows too)."""
    base = criterion.base_criterion
    if y_true.dtype.is_floating_point:
        mask = ~torch.isnan(y_true)
        if mask.dim() > 1:
            mask = mask.all(dim=1)
    else:
        mask = y_true != -1
    if not bool(mask.any()):
        return y_pred.sum() * 0.0
    return base(y_pred[mask], y_true[mask])


def softmax(x):
    """Class probabilities from logits (skorch's ``predict_nonlinearity``)."""
    return torch.softmax(x, dim=-1)


class _DomainLossMixin:
    """skorch's loss: skada's criterion in training, the task loss on labelled rows otherwise."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        from skorch.utils import to_tensor

        y_true = to_tensor(y_true, device=self.device)
        if isinstance(y_pred, tuple):
            return self.criterion_(y_pred, y_true)
        return labelled_loss(self.criterion_, y_pred, y_true)


class DomainNetClassifier(_DomainLossMixin, TransferNetClassifier):
    pass


class DomainNetRegressor(_DomainLossMixin, TransferNetRegressor):
    pass


def wrap(module, base_criterion, domain_loss, weight, n_features, classifier):
    """The module, criterion and extra net arguments that add ``domain_loss`` to the task loss.

    ``base_criterion`` is the task loss instance (built with the user's
    ``criterion__*`` parameters); skada's criterion wraps it.
    """
    classifier_net = DomainClassifier(n_features) if "dann" in domain_loss.split("+") else None
    extra = {}
    if classifier:
        # skorch infers softmax from a CrossEntropyLoss criterion only.
        extra["predict_nonlinearity"] = softmax
    return (
        DomainAdaptNet(module, classifier_net),
        make_criterion(domain_loss, weight, base_criterion),
        extra,
    )
