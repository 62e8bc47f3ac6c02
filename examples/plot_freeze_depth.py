"""
====================================================
How many blocks to fine-tune: the freeze-depth curve
====================================================

:class:`~sktransfer.ImageClassifier` fine-tunes a pretrained network with a new head.
``n_trainable_blocks`` is the freeze depth, counted from the top: 0 trains the head alone on
frozen features (a linear probe), ``k`` also trains the top ``k`` blocks, ``"all"`` every
block. ``weights=None`` gives the same architecture with random weights, which shows what
the pretrained weights bring.

We fine-tune EfficientNet-Lite0 (ImageNet weights) on 20 handwritten digits per class
(:func:`sktransfer.datasets.load_digit_images`, 8x8 grey images that the network sees
upsampled to 224x224 colour) and measure the accuracy on held-out digits for each depth.
"""

# %%
# The data
# --------
# 200 training images (20 per class) and 100 test images, stratified.
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from sktransfer.datasets import load_digit_images

images, digits = load_digit_images()
X_train, X_test, y_train, y_test = train_test_split(
    images, digits, train_size=200, test_size=100, stratify=digits, random_state=0
)

fig, axes = plt.subplots(1, 8, figsize=(7, 1.2))
for ax, image, digit in zip(axes, X_train, y_train):
    ax.imshow(image, cmap="gray_r")
    ax.set_title(str(digit), fontsize=9)
    ax.axis("off")

# %%
# The fine-tuners
# ---------------
# Apart from the depth, every fit uses the same settings: 5 epochs of batches of 16, no
# augmentation, ``random_state=0``. Without augmentation the frozen lower blocks see the same
# input at every epoch, so sktransfer runs them once and caches their outputs
# (``cached_blocks_``): each epoch then only runs the trainable top blocks, and depths 0, 1
# and 2 cost about one pass of the network over the images each.
from sktransfer import ImageClassifier

settings = dict(augment=False, max_epochs=5, batch_size=16, random_state=0)
depths = [0, 1, 2]
pretrained = {}
for k in depths:
    clf = ImageClassifier(model="efficientnet_lite0", n_trainable_blocks=k, **settings)
    clf.fit(X_train, y_train)
    pretrained[k] = clf.score(X_test, y_test)
    print(f"n_trainable_blocks={k}: accuracy {pretrained[k]:.2f}, cached {clf.cached_blocks_}")

# %%
# A reference without pretraining
# -------------------------------
# Training *every* block (``n_trainable_blocks="all"``, or from scratch with
# ``weights=None``) runs the whole network forwards and backwards at every epoch: minutes on
# a CPU even for these 200 images, too long for this example. The cheap question to ask
# instead is what the same architecture gives *without* pretraining: the frozen features of
# EfficientNet-Lite0 with random weights (``ImageEncoder(weights=None)``) under a logistic
# regression. The random network's raw features are tiny (around 1e-9), so a scaler comes
# first.
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer import ImageEncoder

random_features = make_pipeline(
    ImageEncoder(model="efficientnet_lite0", weights=None),
    StandardScaler(),
    LogisticRegression(max_iter=2000),
)
random_score = random_features.fit(X_train, y_train).score(X_test, y_test)
print(f"weights=None, frozen features + logistic regression: accuracy {random_score:.2f}")

# %%
# The curve
# ---------
# The linear probe on frozen ImageNet features reaches about 0.84, and each block trained on
# top adds a few points: about 0.89 with one, 0.91 with two. With 100 test images one image
# is one point of accuracy, so these steps are small, but they go one way.
#
# The reference is the surprise: the *random* network's features, with a logistic
# regression, do at least as well as the best pretrained depth (about 0.94 against 0.91,
# three test images). On tiny grey digits, far from ImageNet's photos, the ImageNet weights
# bring nothing that the architecture alone does not. The freeze depth chooses how to use a
# pretrained model; whether pretraining helps at all is a separate question, which
# :func:`~sktransfer.selection.transfer_report` answers (see the example on transfer
# reports).
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(depths, [pretrained[k] for k in depths], marker="o", label="ImageNet weights, fine-tuned")
for k in depths:
    ax.annotate(
        f"{pretrained[k]:.2f}",
        (k, pretrained[k]),
        xytext=(0, -14),
        ha="center",
        textcoords="offset points",
        fontsize=8,
    )
ax.axhline(
    random_score, color="C3", ls="--", label=f"weights=None, frozen + LR ({random_score:.2f})"
)
ax.axhline(0.1, color="grey", ls=":", label="chance (0.10)")
ax.set_xticks(depths)
ax.set_xlabel("n_trainable_blocks")
ax.set_ylabel("test accuracy (100 digits)")
ax.set_ylim(0, 1.05)
ax.set_title("EfficientNet-Lite0 on 20 digits per class, 5 epochs")
ax.legend(fontsize=8, loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
