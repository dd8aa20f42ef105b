# %% [markdown]
# # fusionrec in a notebook
# Cells are marked with `# %%` (VS Code, Jupytext, Spyder). Run as a script to get the two
# PNGs: the training curves and a 2-D projection of the movie vectors coloured by genre.
# Needs matplotlib (`pip install matplotlib`). Pass a MovieLens path as the first argument,
# or it uses synthetic data.

# %%
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from fusionrec import FaissStore, FusionRecommender, ModelConfig, random_split
from fusionrec.data import load_movielens, synthetic_movielens

out = Path(sys.argv[2] if len(sys.argv) > 2 else ".")
if len(sys.argv) > 1 and sys.argv[1] != "--synthetic":
    data = load_movielens(sys.argv[1])
else:
    data = synthetic_movielens(n_users=1500, n_movies=800, n_ratings=100_000, seed=0)
train, test = random_split(data, test_fraction=0.1, seed=0)
print(data)

# %% Train with early stopping; the store is an in-memory Faiss index
rec = FusionRecommender(ModelConfig.preset("rating", epochs=15), progress=False)
rec.fit(train)
rec.store = FaissStore(dim=rec.bundle.dim)
rec.index_movies()
print(rec.evaluate(test, k=10))

# %% Training curves
history = rec.history_
assert history is not None
epochs = [e.epoch for e in history.epochs]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(epochs, [np.sqrt(e.train_loss) for e in history.epochs], marker="o", label="train (√MSE)")
ax.plot(epochs, [e.val_rmse for e in history.epochs], marker="o", label="validation RMSE")
ax.axvline(history.best_epoch, color="grey", linestyle=":", label="kept epoch")
ax.set_xlabel("epoch")
ax.set_ylabel("RMSE")
ax.legend()
fig.tight_layout()
fig.savefig(out / "training_curves.png", dpi=120)

# %% The movie vectors in 2-D (PCA by SVD), coloured by each movie's first genre
vectors = rec.bundle.movie_vectors(rec.bundle.encoder.encode_movies(rec.movies))
centered = vectors - vectors.mean(axis=0)
_, _, vt = np.linalg.svd(centered, full_matrices=False)
xy = centered @ vt[:2].T
first_genre = np.array([g[0] if g else "(none)" for g in rec.movies.genres])
fig, ax = plt.subplots(figsize=(7, 6))
palette = plt.get_cmap("tab20")
for i, genre in enumerate(sorted(set(first_genre))):
    mask = first_genre == genre
    ax.scatter(xy[mask, 0], xy[mask, 1], s=8, label=genre, alpha=0.7, color=palette(i % 20))
ax.set_title("movie vectors, first two principal components")
ax.legend(fontsize=6, markerscale=2, ncol=2)
fig.tight_layout()
fig.savefig(out / "movie_vectors.png", dpi=120)

# %% Recommend for a new user and for a known one
for r in rec.recommend(age=25, gender="F", occupation=4, k=5):
    print(f"{r.title} ({r.year}) score {r.score:.3f}, predicted rating {r.rating:.2f}")
print(rec.similar_movies(int(rec.movies.movie_id[0]), k=3))
print("wrote", out / "training_curves.png", "and", out / "movie_vectors.png")
