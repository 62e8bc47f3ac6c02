"""Self-supervised objectives and the training loop of continued pretraining (torch lives here).

One loop serves every objective: batches of row positions drawn from a
seeded permutation per epoch, AdamW with linear warm-up and decay, a
checkpoint every ``checkpoint_every`` steps (network, objective, optimizer,
schedule, torch RNG) from which an interrupted run resumes to the same
result, and a progress bar. Objectives:

- ``simcse`` (Gao et al. 2021): each text twice through the network with
  dropout on, in-batch negatives: sentence-transformers'
  ``MultipleNegativesRankingLoss`` at its scale 20 (temperature 0.05),
  written on the network's own forward so that every text backbone takes it;
- ``tsdae`` (Wang et al. 2021): a decoder tied to the encoder rebuilds each
  text from the sentence embedding of a copy with 60 % of its words deleted
  (sentence-transformers' ``DenoisingAutoEncoderLoss``; our own deletion
  noise, seeded, since the default one needs nltk data);
- ``mlm`` (Gururangan et al. 2020, domain-adaptive pretraining): masked
  language modelling on the transformer, 15 % of tokens (transformers'
  ``DataCollatorForLanguageModeling``);
- ``simclr`` (Chen et al. 2020): two augmented views of each image,
  NT-Xent with a 2-layer projection head (temperature 0.5). With frozen
  lower blocks their outputs for ``n_views`` augmented views per image are
  computed once and each step draws two of them.
"""

import contextlib
import copy
import math
import os
from pathlib import Path

import numpy as np

from ._deps import require

torch = require("torch", "continued pretraining")
nn = torch.nn


@contextlib.contextmanager
def _quiet_transformers():
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        yield
        return
    before = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bar:
            hf_logging.enable_progress_bar()


def set_trainable(net, n_trainable):
    """Top ``n_trainable`` blocks train; the others are frozen (and kept in eval mode)."""
    n = len(net.blocks)
    first = n - n_trainable
    for p in net.parameters():
        p.requires_grad_(n_trainable == n)
    for i, block in enumerate(net.blocks):
        for p in block.parameters():
            p.requires_grad_(i >= first)
    if hasattr(net, "pool") and n_trainable:
        for p in net.pool.parameters():
            p.requires_grad_(True)
    return first


def train_mode(net, first):
    net.train()
    for block in list(net.blocks)[:first]:
        block.train(False)


# ----------------------------------------------------------------- objectives


class _Objective:
    """What one method adds to the network: extra modules, and the loss of a batch of rows."""

    def __init__(self, net, backbone, rows, config, device):
        self.net = net
        self.backbone = backbone
        self.config = config
        self.device = device
        self.modules = nn.ModuleDict()

    def loss(self, positions, rng):
        raise NotImplementedError


def _texts(rows):
    return [str(v) for v in rows.values]


def delete_words(text, rng, ratio=0.6):
    """TSDAE's noise: delete each word with probability ``ratio``, keeping at least one."""
    words = text.split()
    if len(words) <= 1:
        return text
    keep = rng.random(len(words)) > ratio
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return " ".join(w for w, k in zip(words, keep) if k)


def _st_model(net, method):
    model = getattr(net, "model", None)
    if model is None or getattr(model[0], "auto_model", None) is None:
        raise ValueError(
            f"method={method!r} needs a sentence-transformers model with a transformers "
            f"network; {type(net).__name__} is not one (use method='simcse')."
        )
    return model


class SimCSE(_Objective):
    def __init__(self, net, backbone, rows, config, device):
        super().__init__(net, backbone, rows, config, device)
        self.texts = _texts(rows)
        self.scale = 20.0

    def _embed(self, texts):
        features = self.net.tokenize(texts)
        features = {k: v.to(self.device) for k, v in features.items()}
        return self.net(features)

    def loss(self, positions, rng):
        texts = [self.texts[i] for i in positions]
        a = nn.functional.normalize(self._embed(texts), dim=-1)
        b = nn.functional.normalize(self._embed(texts), dim=-1)
        scores = self.scale * a @ b.T
        target = torch.arange(len(texts), device=scores.device)
        return nn.functional.cross_entropy(scores, target)


class TSDAE(_Objective):
    def __init__(self, net, backbone, rows, config, device):
        super().__init__(net, backbone, rows, config, device)
        require("sentence_transformers", "method='tsdae'")  # the install hint, if missing
        try:  # sentence-transformers >= 6 moved its losses
            from sentence_transformers.sentence_transformer.losses import (
                DenoisingAutoEncoderLoss,
            )
        except ImportError:
            from sentence_transformers.losses import DenoisingAutoEncoderLoss

        self.model = _st_model(net, "tsdae")
        with _quiet_transformers():
            self.loss_fn = DenoisingAutoEncoderLoss(self.model, tie_encoder_decoder=True)
        self.modules["decoder"] = self.loss_fn.decoder
        self.texts = _texts(rows)

    def _features(self, texts):
        features = self.net.tokenize(texts)
        return {k: v.to(self.device) for k, v in features.items()}

    def loss(self, positions, rng):
        texts = [self.texts[i] for i in positions]
        noisy = [delete_words(t, rng) for t in texts]
        return self.loss_fn([self._features(noisy), self._features(texts)], None)


class MLM(_Objective):
    def __init__(self, net, backbone, rows, config, device):
        super().__init__(net, backbone, rows, config, device)
        transformers = require("transformers", "method='mlm'")
        model = _st_model(net, "mlm")
        auto = model[0].auto_model
        with _quiet_transformers():
            mlm = transformers.AutoModelForMaskedLM.from_config(auto.config)
        # The encoder is the sentence-transformers model's own transformer:
        # what MLM teaches it is what the saved backbone keeps.
        setattr(mlm, mlm.base_model_prefix, auto)
        mlm.tie_weights()
        self.mlm = mlm.to(device)
        self.modules["mlm"] = mlm
        self.tokenizer = model.tokenizer
        self.texts = _texts(rows)
        self.max_length = model.max_seq_length

    def loss(self, positions, rng):
        texts = [self.texts[i] for i in positions]
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
            return_special_tokens_mask=True,
        )
        ids = enc["input_ids"].clone()
        labels = ids.clone()
        special = enc.pop("special_tokens_mask").bool() | (enc["attention_mask"] == 0)
        draws = torch.from_numpy(rng.random(ids.shape)).float()
        masked = (draws < 0.15) & ~special
        if not masked.any():
            candidates = (~special).nonzero()
            if len(candidates):
                r, c = candidates[rng.integers(len(candidates))]
                masked[r, c] = True
        labels[~masked] = -100
        # BERT's recipe: of the masked tokens 80 % become [MASK], 10 % a random token.
        kind = torch.from_numpy(rng.random(ids.shape)).float()
        ids[masked & (kind < 0.8)] = self.tokenizer.mask_token_id
        swap = masked & (kind >= 0.8) & (kind < 0.9)
        ids[swap] = torch.from_numpy(rng.integers(len(self.tokenizer), size=int(swap.sum())))
        enc["input_ids"] = ids
        enc = {k: v.to(self.device) for k, v in enc.items()}
        return self.mlm(**enc, labels=labels.to(self.device)).loss


class SimCLR(_Objective):
    """NT-Xent on two augmented views; the frozen prefix's outputs of ``n_views`` views cached."""

    def __init__(self, net, backbone, rows, config, device):
        super().__init__(net, backbone, rows, config, device)
        self.first = config["first"]
        self.samples = backbone.modality.samples(rows, "continue_pretraining")
        self.preprocess = backbone.preprocess
        self.temperature = 0.5
        dim = backbone.output_dim()
        self.modules["projection"] = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 128)
        ).to(device)
        self._augment = None
        self.views = None
        if self.first:
            self.views = self._cache_views(config["n_views"], config["max_cache_bytes"])

    def augment(self, img):
        if self._augment is None:
            from torchvision.transforms import v2

            size = self.preprocess.crop_size
            self._augment = v2.Compose(
                [
                    v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
                    v2.RandomHorizontalFlip(),
                    v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                    v2.RandomGrayscale(p=0.2),
                    v2.PILToTensor(),
                ]
            )
        return self._augment(img)

    def _inputs(self, positions):
        batch = torch.stack([self.augment(self.samples[i].load()) for i in positions])
        return self.backbone.modality.to_device(batch, self.backbone)

    def _prefix(self, positions):
        with torch.no_grad():
            return self.net.run_blocks(self._inputs(positions), 0, self.first - 1)

    def _cache_views(self, n_views, max_bytes):
        n = len(self.samples)
        shape = tuple(self._prefix([0]).shape[1:])
        if n * n_views * math.prod(shape) * 4 > max_bytes:
            return None  # too big to keep: the prefix runs on every step instead
        views = torch.empty((n, n_views, *shape), dtype=torch.float32)
        self.net.eval()
        for start in range(0, n, 64):
            idx = list(range(start, min(n, start + 64)))
            for v in range(n_views):
                views[idx, v] = self._prefix(idx).float().cpu()
        return views

    def _view(self, positions, which):
        if self.views is None:
            h = self._prefix(positions) if self.first else self._inputs(positions)
        else:
            h = self.views[positions, which].to(self.device)
        x = self.net.run_blocks(h, self.first, len(self.net.blocks) - 1)
        return self.modules["projection"](self.net.pool(x))

    def loss(self, positions, rng):
        positions = np.asarray(positions)
        if self.views is not None:
            n_views = self.views.shape[1]
            a = rng.integers(n_views, size=len(positions))
            b = (a + rng.integers(1, n_views, size=len(positions))) % n_views
        else:
            a = b = None
        z = torch.cat([self._view(positions, a), self._view(positions, b)])
        z = nn.functional.normalize(z, dim=1)
        sim = z @ z.T / self.temperature
        n = len(positions)
        sim.fill_diagonal_(float("-inf"))
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
        return nn.functional.cross_entropy(sim, target)


OBJECTIVES = {"simcse": SimCSE, "tsdae": TSDAE, "mlm": MLM, "simclr": SimCLR}


# ----------------------------------------------------------------- the loop


def _trained_state(net):
    """The weights a step can change (frozen blocks are the backbone's own), and every buffer."""
    trained = {name for name, p in net.named_parameters() if p.requires_grad}
    params = {name for name, _ in net.named_parameters()}
    return {
        name: value
        for name, value in net.state_dict().items()
        if name in trained or name not in params
    }


def _save_checkpoint(folder, state):
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "state.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / "state.pt")


def load_checkpoint(folder):
    path = Path(folder) / "state.pt"
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a checkpoint torn by a crash: start again
        return None


def train(backbone, rows, config, *, checkpoint_dir=None, resume=None):
    """Run the objective of ``config`` on ``rows``; return (trained full network, summary).

    ``config`` holds: method, first (frozen blocks), epochs, batch_size, lr,
    seed, warmup_fraction, n_views, max_cache_bytes, checkpoint_every,
    verbose, key (the run's identity). ``resume`` is a checkpoint of this
    run (:func:`load_checkpoint`); checkpoints are written to ``checkpoint_dir``.
    """
    from tqdm.auto import tqdm

    device = backbone.device
    n = len(rows)
    batch = min(config["batch_size"], n)
    steps_per_epoch = n // batch  # a last, smaller batch would be a weaker contrastive batch
    total = steps_per_epoch * config["epochs"]
    seed = config["seed"]
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    state = resume if resume is not None and resume.get("key") == config["key"] else None
    with torch.random.fork_rng(
        devices=[torch.cuda.current_device()] if device.startswith("cuda") else []
    ):
        torch.manual_seed(seed)
        net = copy.deepcopy(backbone.net).to(device)
        first = set_trainable(net, len(net.blocks) - config["first"])
        objective = OBJECTIVES[config["method"]](net, backbone, rows, config, device)
        params = [p for p in net.parameters() if p.requires_grad]
        seen = {id(p) for p in params}
        params += [
            p for p in objective.modules.parameters() if id(p) not in seen and p.requires_grad
        ]
        optimizer = torch.optim.AdamW(params, lr=config["lr"], weight_decay=0.01)
        warmup = max(1, int(config["warmup_fraction"] * total))

        def factor(step):
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / max(1, total - warmup))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        step, losses = 0, []
        if state is not None:
            net.load_state_dict(state["net"], strict=False)
            objective.modules.load_state_dict(state["objective"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            torch.set_rng_state(state["torch_rng"])
            step, losses = int(state["step"]), list(state["losses"])
        resumed_at = step
        bar = tqdm(
            total=total,
            initial=step,
            disable=not config["verbose"],
            desc=f"continue_pretraining({config['method']})",
            unit="step",
        )
        try:
            while step < total:
                epoch, k = divmod(step, steps_per_epoch)
                order = np.random.default_rng([seed, epoch]).permutation(n)
                positions = order[k * batch : (k + 1) * batch]
                rng = np.random.default_rng([seed, epoch, k, 1])
                train_mode(net, first)
                objective.modules.train()
                loss = objective.loss(positions.tolist(), rng)
                if not torch.isfinite(loss):
                    raise ValueError(
                        f"continue_pretraining: the {config['method']} loss is {loss.item()} at "
                        f"step {step}; lower lr (now {config['lr']})."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                schedule.step()
                step += 1
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                if (
                    folder is not None
                    and (step % config["checkpoint_every"] == 0 or step % steps_per_epoch == 0)
                    and step < total
                ):
                    _save_checkpoint(
                        folder,
                        {
                            "key": config["key"],
                            "seed": seed,
                            "net": _trained_state(net),
                            "objective": objective.modules.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "schedule": schedule.state_dict(),
                            "torch_rng": torch.get_rng_state(),
                            "step": step,
                            "losses": losses,
                        },
                    )
        finally:
            bar.close()
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    summary = {
        "steps": total,
        "resumed_at_step": resumed_at,
        "first_loss": losses[0] if losses else None,
        "final_loss": float(np.mean(losses[-max(1, steps_per_epoch) :])) if losses else None,
    }
    return net.to("cpu"), summary
