"""
=================================================
Choosing an encoder without fine-tuning: rankings
=================================================

:func:`~sktransfer.selection.rank_encoders` embeds the data once with each candidate
encoder and scores the frozen features against the labels with transferability scores
(LogME, H-score, GBC and a cross-validated k-NN accuracy), so a model can be chosen without
fine-tuning each one. With ``probe_cv`` it also cross-validates a linear probe on each
candidate's features: a ground truth to check the scores against.

The candidates here are four versions of EfficientNet-Lite0 on 150 of scikit-learn's 8x8
handwritten digits (:func:`sktransfer.datasets.load_digit_images`): the final ImageNet
features, the pooled output of two earlier blocks (``layer=``), and the same network with
random weights (``weights=None``).
"""

# %%
# Ranking the candidates
# ----------------------
# Candidates are model names or unfitted encoders. The table comes sorted by the first score,
# LogME.
import matplotlib.pyplot as plt

from sktransfer import ImageEncoder
from sktransfer.datasets import load_digit_images
from sktransfer.selection import rank_encoders

images, digits = load_digit_images()
X, y = images[:150], digits[:150]

candidates = [
    "efficientnet_lite0",
    ImageEncoder("efficientnet_lite0", layer=-2),
    ImageEncoder("efficientnet_lite0", layer=-4),
    ImageEncoder("efficientnet_lite0", weights=None),
]
table = rank_encoders(X, y, candidates, probe_cv=3, random_state=0)
columns = ["rank", "encoder", "n_features", "logme", "h_score", "gbc", "knn", "probe_score"]
print(table[columns].round(3).to_string(index=False))

# %%
# The same features at another scale
# ----------------------------------
# The random network's features are tiny (around 1e-9). Candidates can be any unfitted
# transformer, so the same encoder followed by a :class:`~sklearn.preprocessing.StandardScaler`
# can be ranked next to it: the features come from the cache, only the scores are computed
# again. The probe standardises its input itself, so it gives the same accuracy to both.
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

random_net = ImageEncoder("efficientnet_lite0", weights=None)
scaled = rank_encoders(
    X, y, [random_net, make_pipeline(random_net, StandardScaler())], probe_cv=3, random_state=0
)
scaled["encoder"] = scaled["encoder"].replace({"Pipeline": "lite0 (weights=None) + scaler"})
print(scaled[columns].round(3).to_string(index=False))

# %%
# Do the scores agree with the probe?
# -----------------------------------
# Each panel puts one score against the probe's accuracy; a score that ranks the candidates
# as the probe does rises from left to right. Kendall's tau, in each title, is 1 for the same
# order and -1 for the reverse.
from scipy.stats import kendalltau

short = {
    "efficientnet_lite0": "final",
    "efficientnet_lite0 (layer=-2)": "layer=-2",
    "efficientnet_lite0 (layer=-4)": "layer=-4",
    "efficientnet_lite0 (weights=None)": "random",
}
scores = ["logme", "h_score", "gbc", "knn"]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.6), sharey=True, layout="constrained")
for ax, score in zip(axes, scores):
    ax.scatter(table[score], table["probe_score"], s=40)
    for i, row in table.iterrows():
        ax.annotate(
            short[row["encoder"]],
            (row[score], row["probe_score"]),
            xytext=(0, 7 if i % 2 else -12),
            ha="center",
            textcoords="offset points",
            fontsize=7,
        )
    tau = kendalltau(table[score], table["probe_score"]).statistic
    ax.set_title(f"{score} (Kendall tau {tau:+.2f})", fontsize=9)
    ax.set_xlabel(score)
    ax.margins(x=0.35, y=0.15)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("linear probe accuracy (3-fold CV)")
fig.suptitle(
    "rank_encoders on 150 digits: transferability scores vs the probe "
    "(final: final features, random: weights=None)",
    fontsize=10,
)
plt.show()

# %%
# Reading the figure
# ------------------
# The probe's verdict is clear on these digits: the earlier the block, the better. The pooled
# output of ``layer=-4`` (112 features) does better than the final 1,280 features (about
# 0.93 against 0.78), and the network with *random* weights does as well as the best
# pretrained block.
#
# Only the k-NN score orders the candidates as the probe does (Kendall tau about +0.9).
# The H-score puts the random network first but the final features, the probe's worst,
# second. LogME and GBC rank the random network last. Both are computed on the raw features
# and depend on their scale: GBC floors each class's variance at 1e-4, far above the random
# network's, so every class overlaps every other and it gets its worst possible value, -90
# for ten classes. The second table shows it: standardised, the very same features move
# from -90 to about -0.1, the best GBC of all, and from about -0.22 to 0.04 in LogME, while
# the probe does not move.
#
# So treat the scores as a cheap first filter between pretrained encoders of one kind, and
# pass ``probe_cv`` when the candidates differ in nature (random weights, very different
# layers). The probe costs a few cross-validated logistic regressions on features that are
# already computed.
