import time, json, sys
import _finetune_common as common
import numpy as np
common.setup(2)
from bench_fit_cost import passages
from sktransfer import TextClassifier, clear_cache
from sktransfer.adapt import domain_arrays
from sktransfer.datasets import load_sentiment_snippets
X_src, y_src = passages(1000)
movies = load_sentiment_snippets("movies").sample(500, random_state=0)
movies = movies[movies["label"] != "neutral"]
X_tgt, y_tgt = movies["text"].tolist(), (movies["label"] == "positive").to_numpy().astype(int)
X, y, domain = domain_arrays(X_src, y_src, X_tgt)
clear_cache()
clf = TextClassifier(n_trainable_blocks=2, random_state=0, device="cpu", domain_loss="dann+mcc", domain_loss_weight=0.3, max_epochs=int(sys.argv[1]))
t = time.perf_counter(); clf.fit(X, y, sample_domain=domain); wall = time.perf_counter() - t
print(json.dumps({"max_epochs": clf.max_epochs_, "wall_s": wall, "target_accuracy": float((clf.predict(X_tgt) == y_tgt).mean())}))
