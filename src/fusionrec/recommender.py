"""FusionRecommender: the facade that composes the encoder, the towers and a vector store.

It follows scikit-learn's estimator shape (``fit``, ``evaluate``, ``predict``, ``save`` /
``load``); recommending is a similarity search of the user vector against the movie vectors
held in the store. Paddle is imported only to train, so loading a saved recommender and
serving from it stays light.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec import catalog
from fusionrec.atomic import Version, current_version, load_directory, replace_directory
from fusionrec.config import ModelConfig
from fusionrec.data.tables import ML1M_OCCUPATIONS, MovieLens, Movies, Ratings, Users
from fusionrec.demographics import normalize_many
from fusionrec.errors import ConfigError, ModelDirError, NotFittedError, ValidationError
from fusionrec.features import FeatureEncoder, Features, Schema
from fusionrec.ids import exact_ids
from fusionrec.interactions import SeenItems
from fusionrec.lookup import IdIndex
from fusionrec.serve.bundle import ModelBundle
from fusionrec.serve.model_dir import read_model_files, reading

if TYPE_CHECKING:
    from fusionrec.stores import Hit, Predicate, VectorStore
    from fusionrec.train.trainer import History

#: Where the default store (Milvus Lite) keeps its file, relative to the working directory.
DEFAULT_URI = "./fusionrec.db"
DEFAULT_COLLECTION = "movies"
#: The facade recommends, so its default model is trained for ratings and top-N together:
#: the rating-only "rating" preset ranks worse than popularity (see docs/benchmarks.md).
DEFAULT_PRESET = "default"
#: Version 2: files in a v-<hex> subdirectory named by recommender.json, with checksums.
FORMAT_VERSION = 2
_FORMAT_NAME = "fusionrec-recommender"
#: The pointer file at the top of a saved directory: format, current version, checksums.
_POINTER = "recommender.json"
#: Occupation names and store settings, inside each version.
_STATE_FILE = "state.json"
#: What a version 1 directory held at its top level; removed once a new version is saved.
_LEGACY = ("model", "users.npz", "movies.json", "seen.npz")


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie, in the order of a ranked list.

    ``score`` is what the list is ranked by, so it never rises down a list: the store's
    similarity, the inner product of unit vectors (cosine, in [-1, 1]). ``rating`` is the
    model's predicted rating of the movie for the user, where there is one (``recommend``);
    it need not fall down the list when a separate retrieval head ranks (the ``default``
    preset), and it is None for :meth:`FusionRecommender.similar_movies`.
    """

    movie_id: int
    title: str
    genres: tuple[str, ...]
    year: int
    score: float
    rating: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (genres as a list): the one JSON form of a recommendation."""
        return {
            "movie_id": self.movie_id,
            "title": self.title,
            "genres": list(self.genres),
            "year": self.year,
            "score": self.score,
            "rating": self.rating,
        }


@dataclass(frozen=True)
class EvaluationResult:
    """Rating-prediction error on a test set, plus top-N metrics when ``k`` was asked for."""

    rmse: float
    mae: float
    n_ratings: int
    k: int | None = None
    recall: float | None = None
    ndcg: float | None = None
    hit_rate: float | None = None
    n_users: int | None = None


class FusionRecommender:
    """Train the fusion model, index movie vectors in a store, and recommend by similarity.

    ``config`` defaults to the ``default`` preset (rating MSE plus a retrieval softmax), which
    predicts ratings and ranks well. ``store`` is any :class:`~fusionrec.stores.VectorStore`;
    when omitted, a :class:`~fusionrec.stores.MilvusStore` on Milvus Lite (``./fusionrec.db``)
    is opened the first time one is needed, with the model's vector dimension. ``schema``
    declares the towers' features (default: :func:`fusionrec.features.movielens_schema`, or
    :func:`~fusionrec.features.movielens_csv_schema` for data without demographics);
    each feature reads the table column of its name.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        store: VectorStore | None = None,
        *,
        progress: bool = True,
        schema: Schema | None = None,
    ) -> None:
        self.config = config if config is not None else ModelConfig.preset(DEFAULT_PRESET)
        self.schema = schema
        self.progress = progress
        self.history_: History | None = None
        self._store = store
        self._store_settings: dict[str, Any] | None = None
        self._store_options: dict[str, Any] = {}
        self._store_lock = threading.Lock()
        self._bundle: ModelBundle | None = None
        self._model: Any = None
        self._model_dir: Path | None = None
        self._users: Users | None = None
        self._user_index: IdIndex | None = None
        self._movies: Movies | None = None
        # (catalog, bundle, its id index, rating-head vectors): see _hit_rating_vectors
        self._catalog_ratings: tuple[Movies, ModelBundle, IdIndex, Any] | None = None
        self._seen: SeenItems | None = None
        self._occupations: tuple[str, ...] = ML1M_OCCUPATIONS

    # ------------------------------------------------------------------ training

    def fit(
        self,
        train: MovieLens,
        validation: MovieLens | None = None,
        **training_options: Any,
    ) -> FusionRecommender:
        """Train on ``train`` (early stopping on ``validation``, or a slice carved from train).

        ``training_options`` override fields of the config for this run, e.g. ``epochs=5``.
        """
        from fusionrec.model.fusion import FusionModel
        from fusionrec.train.trainer import Trainer

        if not isinstance(train, MovieLens):
            raise ValidationError(f"train must be a MovieLens data set, got {type(train).__name__}")
        unknown = set(training_options) - {f.name for f in dataclasses.fields(self.config)}
        if unknown:
            raise ConfigError(f"unknown training option(s): {sorted(unknown)}")
        config = dataclasses.replace(self.config, **training_options)
        encoder = FeatureEncoder.fit(train, self.schema)
        model = FusionModel(config, encoder)
        self.history_ = Trainer(config, progress=self.progress).fit(
            model, encoder, train, validation
        )
        self.config = config
        self._model = model
        self._model_dir = None
        self._bundle = ModelBundle.from_model(model, encoder, config)
        self._set_users(train.users)
        self._movies = train.movies
        self._occupations = train.occupations
        seen = SeenItems.from_ratings(train.ratings)
        self._seen = seen.add(validation.ratings) if validation is not None else seen
        return self

    # ------------------------------------------------------------------ store

    @property
    def store(self) -> VectorStore:
        """The vector store, opened on first use (Milvus Lite by default)."""
        with self._store_lock:
            if self._store is None:
                bundle = self._require_bundle()
                if self._store_settings is not None:
                    from fusionrec.stores import open_store

                    self._store = open_store(self._store_settings, **self._store_options)
                else:
                    from fusionrec.stores import create

                    self._store = create(
                        "milvus", dim=bundle.dim, uri=DEFAULT_URI, collection=DEFAULT_COLLECTION
                    )
            return self._store

    @store.setter
    def store(self, store: VectorStore) -> None:
        with self._store_lock:
            self._store = store

    def index_movies(
        self,
        movies: Movies | MovieLens | None = None,
        *,
        batch_size: int = 1024,
        replace: bool = False,
    ) -> int:
        """Encode movies with the movie tower and upsert them with their metadata; return the count.

        Re-running updates in place (ids are primary keys), so an interrupted run is repaired by
        running it again. With ``replace=True`` the whole catalog is swapped in at once and
        searches running meanwhile keep answering from the previous one.
        """
        table = self._movie_table(movies)
        if batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
        if replace:
            vectors = self._movie_vectors(table)
            self.store.replace_all(table.movie_id, vectors, _metadata(table))
        else:
            self._upsert_in_batches(table, batch_size)
        self._movies = table if self._movies is None else catalog.merge_movies(self._movies, table)
        return len(table)

    def add_movies(self, movies: Movies | MovieLens, *, batch_size: int = 1024) -> int:
        """Make movies unseen in training recommendable, from their genres and title alone."""
        table = self._movie_table(movies)
        self._upsert_in_batches(table, batch_size)
        self._movies = table if self._movies is None else catalog.merge_movies(self._movies, table)
        return len(table)

    def add_interactions(self, user_ids: Sequence[int], movie_ids: Sequence[int]) -> int:
        """Record that known users have seen movies, so ``exclude_seen`` leaves them out.

        ``user_ids[i]`` saw ``movie_ids[i]``; both must be known (users from training, movies
        from the catalog). Returns how many (user, movie) pairs were new. The seen index is
        swapped in whole, so concurrent readers see the old or the new one; concurrent calls
        must be serialized by the caller (the HTTP server does).
        """
        users = exact_ids(user_ids, "user ids")
        movies = exact_ids(movie_ids, "movie ids")
        if len(users) != len(movies):
            raise ValidationError(
                f"user_ids and movie_ids differ in length: {len(users)} and {len(movies)}"
            )
        seen = self._require_seen()
        if len(users) == 0:
            return 0
        self._user_rows(users)
        self._catalog_rows(movies)
        pairs = Ratings(
            user_id=users,
            movie_id=movies,
            rating=np.zeros(len(users), dtype=np.float32),
            timestamp=np.zeros(len(users), dtype=np.int64),
        )
        grown = seen.add(pairs)
        self._seen = grown
        return len(grown) - len(seen)

    # ------------------------------------------------------------------ recommending

    def recommend(
        self,
        user_id: int | None = None,
        *,
        age: int | None = None,
        gender: str | None = None,
        occupation: int | str | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        filter: Predicate | None = None,
    ) -> list[Recommendation]:
        """Top-``k`` movies for a known user (by id) or a new one (by age, gender, occupation)."""
        demographic = age is not None or gender is not None or occupation is not None
        return self.recommend_batch(
            None if user_id is None else [user_id],
            ages=[age] if demographic else None,
            genders=[gender] if demographic else None,
            occupations=[occupation] if demographic else None,
            k=k,
            exclude_seen=exclude_seen,
            filter=filter,
        )[0]

    def recommend_batch(
        self,
        user_ids: Sequence[int] | None = None,
        *,
        ages: Sequence[int | None] | None = None,
        genders: Sequence[str | None] | None = None,
        occupations: Sequence[int | str | None] | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        filter: Predicate | None = None,
    ) -> list[list[Recommendation]]:
        """Recommendations for many users in one store search (the fast path).

        One store round trip: the hits carry their metadata, and an empty store is told
        apart from a filter nothing passes only when every list comes back empty.
        """
        _check_k(k)
        features, ids = self._user_features(user_ids, ages, genders, occupations)
        bundle = self._require_bundle()
        store = self.store
        queries, rating_vectors = bundle.user_serving_vectors(features)
        exclude = None
        if exclude_seen and ids is not None:
            seen = self._require_seen()
            exclude = [seen.of(int(u)) for u in ids]
        results = store.search(queries, k, filter=filter, exclude_ids=exclude)
        if not any(results):
            _require_items(store)
        return self._to_recommendations(results, bundle, features, rating_vectors)

    def similar_movies(
        self, movie_id: int, k: int = 10, filter: Predicate | None = None
    ) -> list[Recommendation]:
        """Movies whose vectors lie closest to ``movie_id``'s; score is that similarity.

        ``score`` is the inner product of the two movies' unit vectors (cosine), which the
        list is ranked by; ``rating`` is None (no user to predict for).
        """
        _check_k(k)
        movie_id = int(exact_ids([movie_id], "movie ids")[0])
        self._require_bundle()
        store = self.store
        items = store.get([movie_id])
        if not items:
            _require_items(store)
            raise ValidationError(
                f"movie id {movie_id} is not in the store: index it with index_movies() "
                "or add_movies() first"
            )
        hits = store.search(items[0].vector, k, filter=filter, exclude_ids=[movie_id])[0]
        return [_recommendation(hit, None) for hit in hits]

    def predict(
        self, user: int | Mapping[str, Any], movie_ids: int | Sequence[int]
    ) -> npt.NDArray[np.float32]:
        """Predicted ratings of ``movie_ids`` for one user: a known id or a demographics mapping."""
        bundle = self._require_bundle()
        if isinstance(user, Mapping):
            extra = set(user) - {"user_id", "age", "gender", "occupation"}
            if extra:
                raise ValidationError(f"unknown user field(s) {sorted(extra)}")
            features, _ = self._user_features(
                None if user.get("user_id") is None else [user["user_id"]],
                [user.get("age")],
                [user.get("gender")],
                [user.get("occupation")],
            )
        else:
            features, _ = self._user_features([user], None, None, None)
        ids = exact_ids(movie_ids, "movie ids")
        movies = bundle.encoder.encode_items(self._catalog_rows(ids))
        return np.asarray(bundle.predict(features, movies)[0], dtype=np.float32)

    def evaluate(
        self, test: MovieLens, *, k: int | None = None, min_rating: float = 4.0
    ) -> EvaluationResult:
        """RMSE and MAE of predicted ratings on ``test``; with ``k``, also top-N metrics.

        Top-N protocol: relevant = the user's test movies rated >= ``min_rating``; candidates =
        every catalog movie the user did not rate in training; ranking by the model's inner
        product over the full catalog (what an exact store returns).
        """
        from fusionrec.eval import metrics

        bundle = self._require_bundle()
        if len(test.ratings) == 0:
            raise ValidationError("test has no ratings to evaluate")
        predicted = self._predict_rows(test)
        truth = test.ratings.rating
        result = EvaluationResult(
            rmse=float(metrics.rmse(truth, predicted)),
            mae=float(metrics.mae(truth, predicted)),
            n_ratings=len(truth),
        )
        if k is None:
            return result
        _check_k(k)
        topn = self._evaluate_topn(test, k, min_rating, bundle)
        return dataclasses.replace(
            result,
            k=k,
            recall=float(topn.recall),
            ndcg=float(topn.ndcg),
            hit_rate=float(topn.hit_rate),
            n_users=int(topn.n_users),
        )

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the model directory plus catalog and store settings, atomically.

        The files go to a new version subdirectory that ``recommender.json`` then names (one
        atomic rename), so a crash at any point leaves the previous model or this one.
        """
        from fusionrec.serve.model_dir import write_model_files

        bundle = self._require_bundle()
        if self._model is None and self._model_dir is None:
            raise NotFittedError("nothing to save: call fit() or load() first")
        target = Path(path)
        header = {"format": _FORMAT_NAME, "format_version": FORMAT_VERSION}
        with replace_directory(target, _POINTER, header, legacy=_LEGACY) as tmp:
            model_dir = tmp / "model"
            if self._model is not None:
                model_dir.mkdir()
                write_model_files(model_dir, self._model, bundle.encoder, self.config)
            else:
                assert self._model_dir is not None
                try:
                    shutil.copytree(self._model_dir, model_dir)
                except OSError as exc:
                    raise ModelDirError(
                        f"{self._model_dir}: the loaded model's files are gone ({exc.strerror}); "
                        "load the model again before saving"
                    ) from None
            assert self._users is not None and self._seen is not None and self._movies is not None
            catalog.save_users(self._users, tmp / "users.npz")
            catalog.save_movies(self._movies, tmp / "movies.json")
            self._seen.save(tmp / "seen.npz")
            settings = self._store.settings() if self._store is not None else self._store_settings
            state = {
                "occupations": list(self._occupations),
                "store": settings,
            }
            (tmp / _STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        self._model_dir = current_version(target, _POINTER) / "model"
        return target

    @classmethod
    def load(
        cls,
        path: str | Path,
        store: VectorStore | None = None,
        *,
        progress: bool = True,
        store_options: Mapping[str, Any] | None = None,
    ) -> FusionRecommender:
        """Load what :meth:`save` wrote; the store reopens from its saved settings unless given.

        A model directory is untrusted data. Every file is checked against the checksums
        ``recommender.json`` lists and validated; any damage is a ModelDirError naming the
        file. The saved store is opened read-only (an existing Faiss file or Milvus
        collection; nothing is created or written) and credentials go only where the caller
        says: ``store_options`` override saved settings, and a ``token`` needs a ``uri`` beside
        it (``{"uri": ..., "token": ...}``), else ConfigError. To index into the saved store,
        pass ``{"read_only": False}`` or a store.
        """
        root = Path(path)
        if not root.is_dir():
            raise ModelDirError(f"{root}: no such model directory (train and save one first)")
        saved = load_directory(root, _POINTER, _check_header, _read_saved, legacy=_LEGACY)
        state = saved.state
        rec = cls(config=saved.bundle.config, store=store, progress=progress)
        rec.schema = saved.bundle.encoder.schema
        rec._bundle = saved.bundle
        rec._model_dir = saved.path / "model"
        rec._set_users(saved.users)
        rec._movies = saved.movies
        rec._seen = saved.seen
        rec._occupations = saved.occupations
        rec._store_settings = state.get("store")
        rec._store_options = _serving_options(saved.path / _STATE_FILE, store_options)
        return rec

    def close(self) -> None:
        """Close the store if this recommender opened or was given one."""
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> FusionRecommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    @property
    def bundle(self) -> ModelBundle:
        """The trained towers and encoder, as a paddle-free inference bundle."""
        return self._require_bundle()

    @property
    def occupations(self) -> tuple[str, ...]:
        """Occupation names by id, as in the training data."""
        return self._occupations

    @property
    def user_ids(self) -> npt.NDArray[np.int64]:
        """The ids of the users known from training, ascending."""
        if self._user_index is None:
            raise NotFittedError("no users yet: call fit() or load() first")
        ids: npt.NDArray[np.int64] = self._user_index.sorted_ids
        return ids

    @property
    def movies(self) -> Movies:
        """The movie catalog known to this recommender (training movies plus added ones)."""
        if self._movies is None:
            raise NotFittedError("no movies yet: call fit() first")
        return self._movies

    def _require_bundle(self) -> ModelBundle:
        if self._bundle is None:
            raise NotFittedError("the model is not trained: call fit() or load() first")
        return self._bundle

    def _require_seen(self) -> SeenItems:
        if self._seen is None:
            raise NotFittedError("the model is not trained: call fit() or load() first")
        return self._seen

    def _set_users(self, users: Users) -> None:
        self._users = users
        self._user_index = IdIndex(users.user_id)

    def _user_rows(self, user_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        assert self._user_index is not None
        rows, found = self._user_index.find(user_ids)
        if not np.all(found):
            bad = int(user_ids[np.argmin(found)])
            raise ValidationError(
                f"unknown user id {bad}: pass a user id from the training data, or "
                "age=, gender= and occupation= for a new user"
            )
        return rows

    def _user_features(
        self,
        user_ids: Sequence[int] | None,
        ages: Sequence[int | None] | None,
        genders: Sequence[str | None] | None,
        occupations: Sequence[int | str | None] | None,
    ) -> tuple[Features, npt.NDArray[np.int64] | None]:
        bundle = self._require_bundle()
        ids = None if user_ids is None else exact_ids(user_ids, "user ids")
        given = [x for x in (ages, genders, occupations) if x is not None]
        if not given:
            if ids is None:
                raise ValidationError(
                    "pass a user id, or age=, gender= and occupation= for a new user"
                )
            rows = self._user_rows(ids)
            assert self._users is not None
            users = self._users.take(rows)
            return bundle.encoder.encode_users(users), ids
        if not {"gender", "age", "occupation"} & {f.name for f in bundle.encoder.schema.user}:
            raise ValidationError(
                "this model's users have no demographic features (e.g. trained on ml-25m): "
                "pass the id of a user from the training data"
            )
        columns = [ages, genders, occupations]
        if any(c is None for c in columns) or any(v is None for c in columns for v in (c or [])):
            raise ValidationError(
                "a new user needs all of age=, gender= and occupation= "
                "(e.g. age=25, gender='F', occupation=4)"
            )
        assert ages is not None and genders is not None and occupations is not None
        age, gender, occ = normalize_many(ages, genders, occupations, self._occupations)
        if ids is not None and len(ids) != len(age):
            raise ValidationError(
                f"{len(ids)} user ids but {len(age)} sets of demographics were given"
            )
        encoder = bundle.encoder
        n = len(age)
        table: dict[str, Any] = {f.name: [None] * n for f in encoder.schema.user}
        table.update(gender=gender, age=age, occupation=occ)
        user_id = encoder.schema.id_of("user")
        if ids is not None and user_id is not None:
            table[user_id.name] = ids
        return encoder.encode_users(table), ids

    def _movie_table(self, movies: Movies | MovieLens | None) -> Movies:
        if isinstance(movies, MovieLens):
            return movies.movies
        if movies is None:
            self._require_bundle()
            if self._movies is None:
                raise NotFittedError("no movies to index: pass a movie table")
            return self._movies
        if not isinstance(movies, Movies):
            raise ValidationError(
                "movies must be a Movies table or a MovieLens data set, "
                f"got {type(movies).__name__}"
            )
        if len(movies) == 0:
            raise ValidationError("the movie table is empty")
        return movies

    def _movie_vectors(self, movies: Movies) -> npt.NDArray[np.float32]:
        bundle = self._require_bundle()
        features = bundle.encoder.encode_items(movies)
        return bundle.movie_vectors(features)

    def _upsert_in_batches(self, table: Movies, batch_size: int) -> None:
        from tqdm.auto import tqdm

        store = self.store
        metadata = _metadata(table)
        with tqdm(
            total=len(table),
            desc="indexing movies",
            unit="movie",
            disable=None if self.progress else True,
        ) as bar:
            for start in range(0, len(table), batch_size):
                part = table.take(np.arange(start, min(start + batch_size, len(table))))
                store.upsert(
                    part.movie_id, self._movie_vectors(part), metadata[start : start + batch_size]
                )
                bar.update(len(part))

    def _catalog_rows(self, movie_ids: npt.NDArray[np.int64]) -> Movies:
        movies = self.movies
        rows, found = IdIndex(movies.movie_id).find(movie_ids)
        if not np.all(found):
            bad = int(movie_ids[np.argmin(found)])
            raise ValidationError(
                f"unknown movie id {bad}: it is not in the catalog (add it with add_movies())"
            )
        return movies.take(rows)

    def _predict_rows(self, data: MovieLens) -> npt.NDArray[np.float32]:
        """Predicted rating of every row of ``data.ratings``, each tower run once per entity."""
        bundle = self._require_bundle()
        ratings = data.ratings
        user_ids, user_inverse = np.unique(ratings.user_id, return_inverse=True)
        movie_ids, movie_inverse = np.unique(ratings.movie_id, return_inverse=True)
        users = _rows_by_id(data.users, data.users.user_id, user_ids, "user", data.source)
        movies = _rows_by_id(data.movies, data.movies.movie_id, movie_ids, "movie", data.source)
        user_features = bundle.encoder.encode_users(users)
        user_vectors = bundle.user_rating_vectors(user_features)
        movie_vectors = bundle.movie_rating_vectors(bundle.encoder.encode_items(movies))
        scores = np.einsum("ij,ij->i", user_vectors[user_inverse], movie_vectors[movie_inverse])
        rows = user_features.take(user_inverse)
        return np.asarray(bundle.ratings(scores[:, None], rows)[:, 0], dtype=np.float32)

    def _to_recommendations(
        self,
        results: list[list[Hit]],
        bundle: ModelBundle,
        features: Features,
        rating_vectors: npt.NDArray[np.float32],
    ) -> list[list[Recommendation]]:
        """Each row's hits, scored by the store's similarity and rated in one pass for all rows.

        ``rating_vectors`` are the users' rating-head vectors, one row per result row.
        """
        flat = [h for hits in results for h in hits]
        if not flat:
            return [[] for _ in results]
        n, lengths = len(results), [len(hits) for hits in results]
        shared = bundle.shared_vectors  # then the store's score is the rating head's product
        if shared:
            ip = np.asarray([h.score for h in flat], dtype=np.float32)
        else:  # a separate retrieval head ranked them: rate them with the rating head
            movies = self._hit_rating_vectors(flat, bundle)
        if min(lengths) == max(lengths):  # the common case, k hits a row: one [n, k] matrix
            if not shared:
                hits_3d = movies.reshape(n, lengths[0], -1)
                ip = np.einsum("nkd,nd->nk", hits_3d, rating_vectors)
            rated = bundle.ratings(ip.reshape(n, -1), features).ravel()
        else:
            rows = np.repeat(np.arange(n), lengths)
            if not shared:
                ip = np.einsum("ij,ij->i", rating_vectors[rows], movies)
            rated = bundle.ratings(ip[:, None], features.take(rows))[:, 0]
        ratings = iter(rated.tolist())
        return [[_recommendation(h, next(ratings)) for h in hits] for hits in results]

    def _hit_rating_vectors(self, hits: list[Hit], bundle: ModelBundle) -> npt.NDArray[np.float32]:
        """Rating-head vectors of the hits' movies.

        Taken from the catalog's, computed once per catalog and model (encoding ten titles per
        call doubled recommend()'s latency) and found by a dict from movie id to row; a hit the
        catalog lacks (indexed by another process) is encoded from the metadata the store
        returned with it.
        """
        movies, cached = self._movies, self._catalog_ratings
        if movies is not None and (
            cached is None or cached[0] is not movies or cached[1] is not bundle
        ):
            vectors = bundle.movie_rating_vectors(bundle.encoder.encode_items(movies))
            cached = self._catalog_ratings = (movies, bundle, IdIndex(movies.movie_id), vectors)
        if cached is not None:
            rows, found = cached[2].find([h.id for h in hits])
            if np.all(found):
                out: npt.NDArray[np.float32] = cached[3][rows]
                return out
        return bundle.movie_rating_vectors(bundle.encoder.encode_items(_hit_movies(hits)))

    def _evaluate_topn(
        self, test: MovieLens, k: int, min_rating: float, bundle: ModelBundle
    ) -> Any:
        from fusionrec.eval import metrics

        movies = self.movies
        seen = self._require_seen()
        relevant_mask = test.ratings.rating >= min_rating
        eval_users = np.unique(test.ratings.user_id[relevant_mask])
        if len(eval_users) == 0:
            raise ValidationError(f"no test rating reaches min_rating={min_rating}")
        users = _rows_by_id(test.users, test.users.user_id, eval_users, "user", test.source)
        features = bundle.encoder.encode_users(users)
        user_vectors = bundle.user_vectors(features)
        movie_vectors = self._movie_vectors(movies)
        movie_pos = {int(m): i for i, m in enumerate(movies.movie_id)}
        n_items = len(movies)
        seen_mask = np.zeros((len(eval_users), n_items), dtype=bool)
        relevant = np.zeros((len(eval_users), n_items), dtype=bool)
        for row, user in enumerate(eval_users):
            cols = [movie_pos[m] for m in seen.of(int(user)).tolist() if m in movie_pos]
            seen_mask[row, cols] = True
        user_row = np.searchsorted(eval_users, test.ratings.user_id[relevant_mask])
        for row, movie in zip(user_row, test.ratings.movie_id[relevant_mask], strict=True):
            if int(movie) in movie_pos:
                relevant[row, movie_pos[int(movie)]] = True

        def score_fn(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
            return np.asarray(user_vectors[rows] @ movie_vectors.T, dtype=np.float32)

        return metrics.evaluate_topn(score_fn, np.arange(len(eval_users)), seen_mask, relevant, k=k)


#: Store options that carry credentials: sent only to a URI named by the caller.
_CREDENTIAL_OPTIONS = ("token", "password", "api_key")


def _saved_store_settings(state_file: Path, settings: Any) -> dict[str, Any] | None:
    """The store settings a model directory holds: None or a mapping naming a backend."""
    if settings is None:
        return None
    if not isinstance(settings, dict) or not isinstance(settings.get("backend"), str):
        raise ModelDirError(f"{state_file}: 'store' must be an object with a string 'backend'")
    return settings


def _serving_options(state_file: Path, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """How load reopens the saved store: read-only unless asked, credentials to a given URI."""
    out: dict[str, Any] = {"read_only": True, **dict(options or {})}
    credentials = [name for name in _CREDENTIAL_OPTIONS if out.get(name)]
    if credentials and "uri" not in out:
        raise ConfigError(
            f"store_options {credentials} would go to the store URI saved in {state_file}; a "
            "model directory is not trusted with credentials: pass the server's 'uri' in "
            "store_options too, or open the store yourself and pass store="
        )
    return out


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")


def _metadata(movies: Movies) -> list[dict[str, Any]]:
    return [
        {"title": str(t), "genres": list(g), "year": int(y)}
        for t, g, y in zip(movies.title, movies.genres, movies.year, strict=True)
    ]


def _hit_movies(hits: list[Hit]) -> Movies:
    """The hits as a movie table, from the metadata the store keeps beside each vector."""
    genres = np.empty(len(hits), dtype=object)
    genres[:] = [tuple(h.metadata.get("genres", ())) for h in hits]
    return Movies(
        movie_id=np.asarray([h.id for h in hits], dtype=np.int64),
        title=np.asarray([str(h.metadata.get("title", "")) for h in hits], dtype=object),
        year=np.asarray([int(h.metadata.get("year", 0)) for h in hits], dtype=np.int64),
        genres=genres,
    )


def _recommendation(hit: Hit, rating: float | None) -> Recommendation:
    meta = hit.metadata
    return Recommendation(
        int(hit.id),
        str(meta.get("title", "")),
        tuple(meta.get("genres", ())),
        int(meta.get("year", 0)),
        float(hit.score),
        rating,
    )


def _require_items(store: VectorStore) -> None:
    """Raise NotFittedError if ``store`` holds nothing; asked only when a search found nothing."""
    if store.count() == 0:
        raise NotFittedError("the vector store is empty: call index_movies() first")


def _rows_by_id(
    table: Any, column: npt.NDArray[np.int64], ids: npt.NDArray[np.int64], what: str, source: str
) -> Any:
    rows, found = IdIndex(column).find(ids)
    if not np.all(found):
        missing = ids[~found]
        raise ValidationError(
            f"{source}: {len(missing)} rated {what} id(s) missing from the {what} table, "
            f"e.g. {int(missing[0])}"
        )
    return table.take(rows)


@dataclass(frozen=True)
class _Saved:
    """Everything one saved version holds, read and validated."""

    path: Path
    bundle: ModelBundle
    users: Users
    movies: Movies
    seen: SeenItems
    occupations: tuple[str, ...]
    state: dict[str, Any]


def _check_header(header: dict[str, Any], pointer: Path) -> None:
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"{pointer}: format version {header.get('format_version')!r} is not supported "
            f"(this fusionrec reads version {FORMAT_VERSION}; save the model again)"
        )
    if header.get("format") != _FORMAT_NAME:
        raise ModelDirError(f"{pointer} is not a fusionrec recommender directory")


def _read_saved(version: Version) -> _Saved:
    """Read and validate the files of one saved version (see :meth:`FusionRecommender.save`)."""
    root = version.path
    missing = [
        n
        for n in (_STATE_FILE, "model", "users.npz", "movies.json", "seen.npz")
        if not (root / n).exists()
    ]
    if missing:
        raise ModelDirError(f"{root}: not a complete fusionrec model directory, missing {missing}")
    state_file = root / _STATE_FILE
    with reading(state_file):
        state = json.loads(state_file.read_bytes().decode("utf-8"))
    if not isinstance(state, dict):
        raise ModelDirError(f"{state_file}: expected a JSON object, got {type(state).__name__}")
    occupations = state.get("occupations")  # empty for data without demographics (ml-25m)
    if not isinstance(occupations, list) or not all(isinstance(o, str) and o for o in occupations):
        raise ModelDirError(
            f"{state_file}: occupations must be a list of names, got {occupations!r:.80}"
        )
    _saved_store_settings(state_file, state.get("store"))
    return _Saved(
        path=root,
        bundle=read_model_files(root / "model"),
        users=catalog.load_users(root / "users.npz"),
        movies=catalog.load_movies(root / "movies.json"),
        seen=SeenItems.load(root / "seen.npz"),
        occupations=tuple(occupations),
        state=state,
    )
