"""``objective="contrastive"``: SetFit's two stages, with pairs drawn inside each batch.

Stage one trains the body alone: each step embeds one batch of training rows
and pulls the cosine similarity of every pair of rows in the batch towards
the pair's target similarity, with the squared error of sentence-transformers'
``CosineSimilarityLoss``, as SetFit does (Tunstall et al., "Efficient Few-Shot
Learning Without Prompts", 2022). The target is 1 for two rows of the same
class and 0 otherwise (the two kinds of pair weigh half each, as SetFit's
oversampling balances them); the overlap (Jaccard) of two rows' label sets
for multi-label y; and for numbers, one minus their distance over the
targets' range: the regression objective Sentence-BERT trained on graded
similarity scores scaled to [0, 1] (Reimers & Gurevych, EMNLP 2019).

Pairs are never listed: a batch of ``batch_size`` rows holds
``batch_size * (batch_size - 1) / 2`` of them, so memory stays that of one
batch whatever the data size (SetFit generates its pairs up front). Only
the trainable blocks run, above the frozen ones' cached outputs.

Stage two fits the head on the trained body's embeddings, as the linear
probe is fitted (a held-out split, when there is one, stops it early and
then scores the result against the probe). For numbers, a linear head is
then solved in closed form as ridge regression, its penalty chosen by
generalised cross-validation (Golub, Heath & Wahba, Technometrics 1979;
scikit-learn's ``RidgeCV``): SetFit's own head is a scikit-learn model, and
on 48 rated sentences the gradient-trained linear head overfitted (R^2
below zero where frozen embeddings + ``RidgeCV`` reached 0.2).
"""

import copy
import json
import time

import numpy as np

from ._checkpoint import rng_state, set_rng_state, to_json
from ._torch import skorch, torch, warmup_cosine, warmup_steps

nn = torch.nn


def pair_targets(y, loss, spread=None):
    """Target similarity of every pair of rows, shape (n, n), in [0, 1].

    ``y`` holds encoded targets: class codes (``loss="cross_entropy"``), a
    binary indicator matrix (``"bce"``), or numbers (``"mse"``), whose
    distance is divided by ``spread`` (per column; the training targets' range).

    Examples
    --------
    >>> pair_targets(np.array([0, 1, 0]), "cross_entropy")
    array([[1., 0., 1.],
           [0., 1., 0.],
           [1., 0., 1.]])
    >>> pair_targets(np.array([[1, 1], [1, 0], [0, 0]]), "bce")
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0. ],
           [0. , 0. , 1. ]])
    >>> pair_targets(np.array([0.0, 1.0, 4.0]), "mse", spread=np.array([4.0]))
    array([[1.  , 0.75, 0.  ],
           [0.75, 1.  , 0.25],
           [0.  , 0.25, 1.  ]])
    """
    y = np.asarray(y)
    if loss == "cross_entropy":
        return (y[:, None] == y[None, :]).astype(np.float64)
    if loss == "bce":
        a = y.astype(bool)
        both = (a[:, None, :] & a[None, :, :]).sum(-1)
        either = (a[:, None, :] | a[None, :, :]).sum(-1)
        return np.where(either == 0, 1.0, both / np.maximum(either, 1))
    y = y.astype(np.float64).reshape(len(y), -1)
    distance = np.abs(y[:, None, :] - y[None, :, :]) / np.maximum(spread, 1e-12)
    return np.clip(1.0 - distance.mean(-1), 0.0, 1.0)


def pair_weights(targets, balanced):
    """Weights of the pairs above the diagonal: half to each kind when ``balanced``.

    Examples
    --------
    >>> t = np.array([1.0, 0.0, 0.0, 0.0])
    >>> pair_weights(t, True).tolist(), pair_weights(t, False).tolist()
    ([0.5, 0.16666666666666666, 0.16666666666666666, 0.16666666666666666], [0.25, 0.25, 0.25, 0.25])
    """
    n = len(targets)
    if not balanced:
        return np.full(n, 1.0 / n)
    same = targets == 1.0
    if same.all() or not same.any():
        return np.full(n, 1.0 / n)
    return np.where(same, 0.5 / same.sum(), 0.5 / (~same).sum())


def batches(n, batch_size, rng):
    """One epoch's batches of row positions; a last batch of one row joins the one before."""
    order = rng.permutation(n)
    cuts = list(range(batch_size, n, batch_size))
    if cuts and n - cuts[-1] < 2:
        cuts.pop()
    return np.split(order, cuts)


def _optimizer(trainer, module):
    """AdamW over the blocks the module trains, at the fine-tuners' layer-wise rates."""
    from fnmatch import fnmatch

    patterns = trainer.param_groups(module)
    groups = [{"params": [], **options} for _, options in patterns]
    for name, p in module.named_parameters():
        if not p.requires_grad or name.startswith("head."):
            continue
        for (pattern, _), group in zip(patterns, groups):
            if fnmatch(name, pattern):
                group["params"].append(p)
                break
    groups = [g for g in groups if g["params"]]
    return torch.optim.AdamW(groups, weight_decay=0.01)


def train_body(trainer, net, data, y, saved=None):
    """Stage one on ``net.module_`` (already initialised); returns the history rows.

    ``saved``: (checkpoint file, its state or None, what else to save), with
    ``checkpoint_dir``: every epoch is saved, and a saved one is resumed from.
    """
    from ._trainer import headless

    params, plan = trainer.params, trainer.plan
    module = net.module_
    loss_name = trainer.encoded.loss
    y, spread = np.asarray(y), None
    if loss_name == "mse":
        y2 = y.astype(np.float64).reshape(len(y), -1)
        spread = y2.max(0) - y2.min(0)
    balanced = loss_name == "cross_entropy"
    if len(y) < 2:
        raise ValueError(
            f'{trainer.name}: objective="contrastive" learns from pairs of rows and needs at '
            f"least 2 training samples; got {len(y)} sample."
        )
    class_weight = trainer.encoded.class_weight if balanced else None
    seed = params["random_state"]
    rng = np.random.default_rng(
        None if seed is None else int(np.random.RandomState(seed).randint(2**31))
    )
    view = headless(module)
    optimizer = _optimizer(trainer, module)
    per_epoch = len(batches(len(y), params["batch_size"], np.random.default_rng(0)))
    total = per_epoch * plan.max_epochs
    warmup = warmup_steps(params["warmup_fraction"], total)
    base = [g["lr"] for g in optimizer.param_groups]
    collate = getattr(module, "collate", None) or torch.utils.data.default_collate
    history, step = [], 0
    run, state, extra = saved or (None, None, None)
    if state is not None:
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        history = json.loads(state["history"])
        step = int(state["step"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        set_rng_state(state["rng"])
    for epoch in range(len(history) + 1, plan.max_epochs + 1):
        start, losses = time.perf_counter(), []
        module.train()
        for rows in batches(len(y), params["batch_size"], rng):
            for group, lr in zip(optimizer.param_groups, base):
                group["lr"] = lr * warmup_cosine(step, warmup, total)
            x = skorch.utils.to_device(collate([data[i] for i in rows])[0], net.device)
            with net._autocast():
                emb = view(**x) if isinstance(x, dict) else view(x)
            z = nn.functional.normalize(emb.float(), dim=-1)
            upper = torch.triu_indices(len(rows), len(rows), 1, device=z.device)
            cos = (z @ z.T)[upper[0], upper[1]]
            t = pair_targets(y[rows], loss_name, spread)[tuple(upper.cpu().numpy())]
            w = pair_weights(t, balanced)
            if class_weight is not None:
                # A pair weighs as much as both its rows' classes do (class_weight).
                cw = np.asarray(class_weight)[y[rows]]
                w = w * (cw[:, None] * cw[None, :])[tuple(upper.cpu().numpy())]
                w = w / w.sum()
            w = torch.as_tensor(w, dtype=torch.float32, device=z.device)
            t = torch.as_tensor(t, dtype=torch.float32, device=z.device)
            loss = (w * (cos - t) ** 2).sum()
            if not torch.isfinite(loss):
                raise ValueError(
                    f"{trainer.name}: contrastive training diverged: the loss is {loss.item()} at "
                    f"epoch {epoch}. Lower lr (now {params['lr']}) or backbone_lr_scale."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
        history.append(
            {
                "epoch": epoch,
                "contrastive_loss": float(np.mean(losses)),
                "dur": time.perf_counter() - start,
            }
        )
        if run is not None:
            run.save(
                {
                    "done": False,
                    "module": module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": to_json(history),
                    "step": step,
                    "numpy_rng": to_json(rng.bit_generator.state),
                    "rng": rng_state(net.device),
                    **extra,
                }
            )
    module.train(False)
    return history


def fit(trainer, net, train_data, valid_data, y, split, saved=None):
    """Both stages on the initialised ``net``; returns the net, its head fitted on the new body.

    ``saved``: see :func:`train_body`.
    """
    from ._trainer import embed

    modality = trainer.backbone.modality
    y_train = y if split is None else y[split[0]]
    history = train_body(trainer, net, train_data, y_train, saved)
    module = net.module_
    pooled = np.empty((len(y), module.head.norm.num_features), np.float32)
    if split is None:
        pooled[:] = embed(net, train_data, modality)
    else:
        pooled[split[0]] = embed(net, train_data, modality)
        pooled[split[1]] = embed(net, valid_data, modality)
    head = trainer.fit_head(pooled, y, split)
    module.head = copy.deepcopy(head.module_.head).to(net.device)
    if trainer.encoded.loss == "mse":
        ridge_head(module.head, pooled if split is None else pooled[split[0]], y_train)
    module.train(False)
    net.history = skorch.history.History(
        history + [{**row, "epoch": len(history) + row["epoch"]} for row in head.history]
    )
    return net


#: Ridge penalties tried by generalised cross-validation (on standardised features).
RIDGE_ALPHAS = np.logspace(-2, 4, 13)


def ridge_head(head, pooled, y):
    """Set a linear regression ``head`` to ridge regression on ``pooled``, in place.

    Its standardisation takes the rows' own mean and variance, and its
    linear layer the ``RidgeCV`` solution (one penalty per output, by
    leave-one-out error). A head with a hidden layer is left as trained.

    Examples
    --------
    >>> from sktransfer.finetune._torch import Head
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5)).astype(np.float32)
    >>> y = (X @ [1.0, -2.0, 0.0, 0.0, 0.5])[:, None]
    >>> head = ridge_head(Head(5, 1), X, y).eval()
    >>> with torch.no_grad():
    ...     out = head(torch.from_numpy(X)).numpy()
    >>> bool(np.corrcoef(out[:, 0], y[:, 0])[0, 1] > 0.99)
    True
    """
    from sklearn.linear_model import RidgeCV

    linear = [m for m in head.layers if not isinstance(m, nn.Dropout)]
    if len(linear) != 1 or not isinstance(linear[0], nn.Linear):
        return head
    y = np.asarray(y, np.float64)
    known = np.isfinite(y).all(1)  # unlabelled (target-domain) rows carry NaN
    x = np.asarray(pooled, dtype=np.float64)[known]
    mean, var = x.mean(0), x.var(0)
    z = (x - mean) / np.sqrt(var + head.norm.eps)
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(z, y[known])
    coef = np.atleast_2d(ridge.coef_)
    device = linear[0].weight.device
    with torch.no_grad():
        head.norm.running_mean.copy_(torch.as_tensor(mean, dtype=torch.float32, device=device))
        head.norm.running_var.copy_(torch.as_tensor(var, dtype=torch.float32, device=device))
        linear[0].weight.copy_(torch.as_tensor(coef, dtype=torch.float32, device=device))
        linear[0].bias.copy_(
            torch.as_tensor(np.atleast_1d(ridge.intercept_), dtype=torch.float32, device=device)
        )
    return head
