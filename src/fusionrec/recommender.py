"""FusionRecommender: the facade that composes the encoder, the towers and a vector store.

It follows scikit-learn's estimator shape (``fit``, ``evaluate``, ``predict``, ``save`` /
``load``); recommending is a similarity search of the user vector against the item vectors
held in the store. It trains on any :class:`~fusionrec.data.dataset.Dataset` (a MovieLens
data set converts): users and items are :class:`~fusionrec.data.dataset.Table` s whose ids
are ints or strings. Stores key items by int64: an int id is its own key, a string id's key
is the item's row in the append-only catalog. Paddle is imported only to train, so loading a
saved recommender and serving from it stays light.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec import catalog
from fusionrec.atomic import current_version, load_directory, replace_directory
from fusionrec.config import ModelConfig
from fusionrec.data.dataset import Dataset, EntityIds, Table, as_dataset, entity_ids
from fusionrec.data.tables import MovieLens, Movies
from fusionrec.errors import ConfigError, ModelDirError, NotFittedError, ValidationError
from fusionrec.features import FeatureEncoder, Features, Schema
from fusionrec.ids import plain
from fusionrec.interactions import SeenItems
from fusionrec.item_keys import item_keys, item_rows, key_decoder, key_rows
from fusionrec.lookup import IdIndex
from fusionrec.recommender_dir import (
    FORMAT_NAME,
    FORMAT_VERSION,
    LEGACY,
    POINTER,
    STATE_FILE,
    check_header,
    read_saved,
    serving_options,
)
from fusionrec.results import (
    EvaluationResult,
    Recommendation,
    recommendations,
)
from fusionrec.serve.bundle import ModelBundle, OneUser
from fusionrec.stores.fields import MOVIE_FIELDS, MetadataField
from fusionrec.user_columns import (
    DEMOGRAPHICS,
    NewUserColumns,
    demographics,
    user_columns,
    user_feature_names,
)

if TYPE_CHECKING:
    from fusionrec.stores import Hit, Predicate, VectorStore
    from fusionrec.train.trainer import History

__all__ = ["EvaluationResult", "FusionRecommender", "Recommendation"]

#: Up to this many hits find their catalog rows through the id index's dict (one user's k).
_FEW_HITS = 64
_hit_id = operator.attrgetter("id")

#: Where the default store (Milvus Lite) keeps its file, relative to the working directory.
DEFAULT_URI = "./fusionrec.db"
#: The default store's collection: "movies" for a MovieLens model (as before), else "items".
DEFAULT_COLLECTION = "movies"
DEFAULT_ITEM_COLLECTION = "items"
#: The facade recommends, so its default model is trained for ratings and top-N together:
#: the rating-only "rating" preset ranks worse than popularity (see docs/benchmarks.md).
DEFAULT_PRESET = "default"
#: What a model trained on implicit feedback (no ratings) uses when no config was given.
IMPLICIT_PRESET = "retrieval"
#: The MovieLens item columns shown beside each vector.
_MOVIE_DISPLAY = tuple(f.name for f in MOVIE_FIELDS)
#: Keys of Recommendation.to_dict() that a metadata field must not shadow.
_RESERVED_DISPLAY = frozenset({"item_id", "movie_id", "score", "rating"})


class FusionRecommender:
    """Train the fusion model, index item vectors in a store, and recommend by similarity.

    ``config`` defaults to the ``default`` preset (rating MSE plus a retrieval softmax), which
    predicts ratings and ranks well; on implicit feedback (no ratings) to the ``retrieval``
    preset. ``store`` is any :class:`~fusionrec.stores.VectorStore`; when omitted, a
    :class:`~fusionrec.stores.MilvusStore` on Milvus Lite (``./fusionrec.db``) is opened the
    first time one is needed, with the model's vector dimension and the items' display
    fields. ``schema`` declares the towers' features (default: the data set's own, e.g.
    :func:`fusionrec.features.movielens_schema` for MovieLens); each feature reads the table
    column of its name.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        store: VectorStore | None = None,
        *,
        progress: bool = True,
        schema: Schema | None = None,
    ) -> None:
        self._config_given = config is not None
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
        self._users: Table | None = None
        self._user_index: IdIndex | None = None
        self._items: Table | None = None
        self._item_index: IdIndex | None = None
        # (catalog, bundle, rating-head vectors): see _hit_rating_vectors
        self._catalog_ratings: tuple[Table, ModelBundle, Any, bool] | None = None
        self._decoder: tuple[Table, Any] | None = None  # the items' key decoder
        self._seen: SeenItems | None = None
        # (bundle, users, occupations, builder): see _new_user_columns
        self._new_users: tuple[ModelBundle, Table, Any, NewUserColumns] | None = None
        #: MovieLens occupation names (None: not MovieLens data, no demographics to normalize)
        self._occupations: tuple[str, ...] | None = None
        self._fields: tuple[MetadataField, ...] = MOVIE_FIELDS
        self._implicit = False

    # ------------------------------------------------------------------ training

    def fit(
        self,
        train: Dataset | MovieLens,
        validation: Dataset | MovieLens | None = None,
        **training_options: Any,
    ) -> FusionRecommender:
        """Train on ``train`` (early stopping on ``validation``, or a slice carved from train).

        ``train`` is a :class:`~fusionrec.data.dataset.Dataset` or a MovieLens data set.
        ``training_options`` override fields of the config for this run, e.g. ``epochs=5``.
        Without a config given to the constructor, implicit feedback trains the
        ``retrieval`` preset, and ratings on another scale than 1..5 set the config's
        ``rating_min``/``rating_max`` to the data's ``rating_scale``.
        """
        from fusionrec.model.fusion import FusionModel
        from fusionrec.train.trainer import Trainer

        data = as_dataset(train, "train")
        valid = None if validation is None else as_dataset(validation, "validation")
        unknown = set(training_options) - {f.name for f in dataclasses.fields(self.config)}
        if unknown:
            raise ConfigError(f"unknown training option(s): {sorted(unknown)}")
        config = dataclasses.replace(self._config_for(data, training_options), **training_options)
        fields = _fields_of(data, isinstance(train, MovieLens))
        encoder = FeatureEncoder.fit(data, self.schema)
        model = FusionModel(config, encoder)
        self.history_ = Trainer(config, progress=self.progress).fit(model, encoder, data, valid)
        self.config = config
        self._model = model
        self._model_dir = None
        self._bundle = ModelBundle.from_model(model, encoder, config)
        self._set_users(data.users)
        self._set_items(data.items)
        self._fields = fields
        self._implicit = data.implicit
        self._occupations = train.occupations if isinstance(train, MovieLens) else None
        pairs = data.interactions
        seen = SeenItems.from_pairs(pairs.user_id, self._item_keys(pairs.item_id))
        if valid is not None:
            held = valid.interactions
            seen = seen.add_pairs(held.user_id, self._item_keys(held.item_id))
        self._seen = seen
        return self

    def _config_for(self, data: Dataset, options: Mapping[str, Any]) -> ModelConfig:
        """The config to train ``data`` with: the given one, or a default that suits it."""
        if self._config_given:
            return self.config
        if data.implicit:
            return ModelConfig.preset(IMPLICIT_PRESET)
        config = self.config
        scale = data.rating_scale
        defaults = (ModelConfig.rating_min, ModelConfig.rating_max)
        if (
            scale is not None
            and (config.rating_min, config.rating_max) == defaults
            and not {"rating_min", "rating_max"} & set(options)
            and tuple(scale) != defaults
        ):
            return dataclasses.replace(
                config, rating_min=float(scale[0]), rating_max=float(scale[1])
            )
        return config

    # ------------------------------------------------------------------ store

    @property
    def store(self) -> VectorStore:
        """The vector store, opened on first use (Milvus Lite by default)."""
        store = self._store
        if store is not None:  # opened: no lock to take (every recommend() reads this)
            return store
        with self._store_lock:
            if self._store is None:
                bundle = self._require_bundle()
                if self._store_settings is not None:
                    from fusionrec.stores import open_store

                    self._store = open_store(self._store_settings, **self._store_options)
                else:
                    from fusionrec.stores import create

                    movies = self._fields == MOVIE_FIELDS
                    self._store = create(
                        "milvus",
                        dim=bundle.dim,
                        uri=DEFAULT_URI,
                        collection=DEFAULT_COLLECTION if movies else DEFAULT_ITEM_COLLECTION,
                        fields=self._fields,
                    )
            return self._store

    @store.setter
    def store(self, store: VectorStore) -> None:
        with self._store_lock:
            self._store = store

    @property
    def fields(self) -> tuple[MetadataField, ...]:
        """The metadata fields kept beside each item vector (what filters can test)."""
        return self._fields

    def index_items(
        self,
        items: Table | Dataset | MovieLens | Movies | None = None,
        *,
        batch_size: int = 1024,
        replace: bool = False,
    ) -> int:
        """Encode items with the item tower and upsert them with their metadata; return the count.

        ``items`` defaults to the catalog (the training items plus added ones); new items join
        it. Re-running updates in place (keys are primary keys), so an interrupted run is
        repaired by running it again. With ``replace=True`` the whole catalog is swapped in at
        once and searches running meanwhile keep answering from the previous one.
        """
        table = self._item_table(items)
        if batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
        self._add_to_catalog(table)
        if replace:
            self.store.replace_all(
                self._item_keys(table.ids), self._item_vectors(table), self._metadata(table)
            )
        else:
            self._upsert_in_batches(table, batch_size)
        return len(table)

    def add_items(
        self, items: Table | Dataset | MovieLens | Movies, *, batch_size: int = 1024
    ) -> int:
        """Make items unseen in training recommendable, from their features alone."""
        if items is None:
            raise ValidationError("add_items needs the items to add")
        return self.index_items(items, batch_size=batch_size)

    #: MovieLens names of :meth:`index_items` and :meth:`add_items`.
    index_movies = index_items
    add_movies = add_items

    def add_users(self, users: Table | Mapping[str, Any]) -> int:
        """Make new users servable by id without retraining; return how many were new.

        ``users`` is a Table or a mapping of columns holding the id column (the training
        users' ``id_name``, e.g. ``user_id``) and any of their feature columns. The model has
        no embedding for a new id (it encodes as unknown), but the features encode, so
        ``recommend(user_id=...)`` ranks from them. A known id's row is replaced. MovieLens
        demographics are normalized as for ``recommend`` (all three of age, gender and
        occupation; occupations by id or name).
        """
        base = self._require_users()
        if isinstance(users, Mapping):
            columns = dict(users)
            if base.id_name not in columns:
                raise ValidationError(
                    f"users needs the id column {base.id_name!r}; got {sorted(columns)}"
                )
            ids = columns.pop(base.id_name)
            table = Table(ids, columns, base.id_name)
        elif isinstance(users, Table):
            table = (
                users
                if users.id_name == base.id_name
                else Table(users.ids, users.columns, base.id_name)
            )
        else:
            raise ValidationError(f"users must be a Table or a mapping, got {type(users).__name__}")
        if len(table) == 0:
            return 0
        self._check_user_columns(table.columns)
        if self._occupations is not None and set(DEMOGRAPHICS) & set(table.columns):
            given = {n: table.columns[n].tolist() for n in DEMOGRAPHICS if n in table.columns}
            table = Table(table.ids, {**table.columns, **self._demographics(given)}, base.id_name)
        known = self._user_index
        assert known is not None
        _, found = known.find(table.ids)
        self._set_users(catalog.merge_tables(base, table))
        return int(np.sum(~found))

    def add_interactions(self, user_ids: Sequence[int | str], item_ids: Sequence[int | str]) -> int:
        """Record that known users have interacted with items, so ``exclude_seen`` leaves them out.

        ``user_ids[i]`` saw ``item_ids[i]``; both must be known (users from training or
        :meth:`add_users`, items from the catalog). Returns how many (user, item) pairs were
        new. The seen index is swapped in whole, so concurrent readers see the old or the new
        one; concurrent calls must be serialized by the caller (the HTTP server does).
        """
        users = entity_ids(user_ids, "user ids")
        items = entity_ids(item_ids, "item ids")
        if len(users) != len(items):
            raise ValidationError(
                f"user_ids and item_ids differ in length: {len(users)} and {len(items)}"
            )
        seen = self._require_seen()
        if len(users) == 0:
            return 0
        self._user_rows(users)
        keys = self._item_keys(items, check=True)
        grown = seen.add_pairs(users, keys)
        self._seen = grown
        return len(grown) - len(seen)

    # ------------------------------------------------------------------ recommending

    def recommend(
        self,
        user_id: int | str | None = None,
        *,
        k: int = 10,
        exclude_seen: bool = True,
        filter: Predicate | None = None,
        **user_features: Any,
    ) -> list[Recommendation]:
        """Top-``k`` items for a known user (by id) or a new one (by features, as keywords).

        A new user gives any of the schema's user features: ``recommend(country="DE")``; a
        MovieLens model takes ``age=``, ``gender=`` and ``occupation=`` together (an
        occupation by id or name). An unknown feature name is a ValidationError.
        """
        _check_k(k)
        if user_id is None and user_features:
            return self._recommend_new_user(user_features, k, filter)
        if user_id is not None and not user_features:
            return self._recommend_known_user(user_id, k, exclude_seen, filter)
        users = {name: [value] for name, value in user_features.items()}
        return self._recommend(
            None if user_id is None else [user_id], users or None, k, exclude_seen, filter
        )[0]

    def recommend_batch(
        self,
        user_ids: Sequence[int | str] | None = None,
        *,
        users: Table | Mapping[str, Sequence[Any]] | None = None,
        ages: Sequence[int | None] | None = None,
        genders: Sequence[str | None] | None = None,
        occupations: Sequence[int | str | None] | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        filter: Predicate | None = None,
    ) -> list[list[Recommendation]]:
        """Recommendations for many users in one store search (the fast path).

        ``user_ids`` names known users; ``users`` gives new users' feature columns (a Table,
        whose ids then serve as ``user_ids``, or a mapping of columns); ``ages``, ``genders``
        and ``occupations`` are the MovieLens shorthand for those columns. One store round
        trip: the hits carry their metadata, and an empty store is told apart from a filter
        nothing passes only when every list comes back empty.
        """
        _check_k(k)
        columns = user_columns(users, ages, genders, occupations)
        if isinstance(users, Table) and user_ids is None:
            user_ids = users.ids.tolist()
        return self._recommend(user_ids, columns, k, exclude_seen, filter)

    def _recommend(
        self,
        user_ids: Sequence[int | str] | None,
        columns: Mapping[str, Sequence[Any]] | None,
        k: int,
        exclude_seen: bool,
        filter: Predicate | None,
    ) -> list[list[Recommendation]]:
        """Encode the users, search the store once, rate and build the results."""
        features, ids = self._user_features(user_ids, columns)
        bundle = self._require_bundle()
        store = self.store
        queries, rating_vectors = bundle.user_serving_vectors(features, trusted=True)
        exclude = None
        if exclude_seen and ids is not None:
            seen = self._require_seen()
            exclude = [seen.of(u) for u in ids.tolist()]
        results = store.search(queries, k, filter=filter, exclude_ids=exclude)
        if not any(results):
            _require_items(store)
        return self._to_recommendations(results, bundle, features, rating_vectors)

    def _recommend_new_user(
        self, values: Mapping[str, Any], k: int, filter: Predicate | None
    ) -> list[Recommendation]:
        """:meth:`_recommend` for one new user by features, the same results by a leaner path.

        The user's raw values go straight into the user tower's one-row pass, and the hits
        are rated as one row: no feature columns, Features or [n, k] bookkeeping.
        """
        bundle = self._require_bundle()
        user = bundle.user_serving_one(self._new_user_columns().one(values))
        return self._one_user_results(bundle, user, k, filter, None)

    def _recommend_known_user(
        self, user_id: int | str, k: int, exclude_seen: bool, filter: Predicate | None
    ) -> list[Recommendation]:
        """:meth:`_recommend` for one known user, the same results by the one-row path.

        The user's stored raw values (their row of the users table) go into the tower's
        one-row pass, as a new user's keywords do; the id is found through a dict (a plain int
        or str as it is; anything else, or an id not found, as the batch path checks it).
        """
        bundle = self._require_bundle()
        users = self._require_users()
        plain_id = type(user_id) is int or type(user_id) is str
        key = user_id if plain_id else entity_ids([user_id], "user ids").tolist()[0]
        assert self._user_index is not None
        found = self._user_index.few_rows([key])
        if found is None:  # the batch path's lookup, and its error for a bad or unknown id
            found = self._user_rows(entity_ids([user_id], "user ids")).tolist()
        row = found[0]
        values = {name: column[row] for name, column in users.columns.items()}
        values[users.id_name] = users.ids[row]
        user = bundle.user_serving_one(values)
        exclude = [self._require_seen().of(key)] if exclude_seen else None
        return self._one_user_results(bundle, user, k, filter, exclude)

    def _one_user_results(
        self,
        bundle: ModelBundle,
        user: OneUser,
        k: int,
        filter: Predicate | None,
        exclude: list[npt.NDArray[np.int64]] | None,
    ) -> list[Recommendation]:
        """Search the store for one user's query, rate the hits as one row, build results."""
        store = self.store
        hits = store.search(user.query, k, filter=filter, exclude_ids=exclude)[0]
        if not hits:
            _require_items(store)
            return []
        if self._implicit:
            ratings: list[float] | list[None] = [None] * len(hits)
        else:
            if bundle.shared_vectors:  # the store's score is the rating head's product
                ip = np.array([h.score for h in hits], dtype=np.float32)
            else:
                # the batch path's vecdot for n = 1: the same dot product per hit
                ip = np.vecdot(self._hit_rating_vectors(hits, bundle), user.rating[0])
            ratings = bundle.ratings_one(ip, user).tolist()
        return recommendations(hits, ratings, self._key_decoder())

    def similar_items(
        self, item_id: int | str, k: int = 10, filter: Predicate | None = None
    ) -> list[Recommendation]:
        """Items whose vectors lie closest to ``item_id``'s; score is that similarity.

        ``score`` is the inner product of the two items' unit vectors (cosine), which the
        list is ranked by; ``rating`` is None (no user to predict for).
        """
        _check_k(k)
        ids = entity_ids([item_id], "item ids")
        self._require_bundle()
        keys = self._item_keys(ids)
        store = self.store
        items = store.get([int(keys[0])]) if len(keys) else []
        if not items:
            _require_items(store)
            raise ValidationError(
                f"item id {ids[0]!r} is not in the store: index it with index_items() "
                "or add_items() first"
            )
        hits = store.search(items[0].vector, k, filter=filter, exclude_ids=[int(keys[0])])[0]
        return recommendations(hits, [None] * len(hits), self._key_decoder())

    #: The MovieLens name of :meth:`similar_items`.
    similar_movies = similar_items

    def predict(
        self, user: int | str | Mapping[str, Any], item_ids: int | str | Sequence[int | str]
    ) -> npt.NDArray[np.float32]:
        """Predicted ratings of ``item_ids`` for one user: a known id or a mapping of features.

        A model trained on implicit feedback predicts no ratings: ValidationError.
        """
        bundle = self._require_bundle()
        self._require_ratings("predict")
        if isinstance(user, Mapping):
            columns = {name: [value] for name, value in user.items()}
            given = columns.pop(self._require_users().id_name, None)
            given = given if given is not None else columns.pop("user_id", None)
            features, _ = self._user_features(
                None if given is None or given[0] is None else given, columns or None
            )
        else:
            features, _ = self._user_features([user], None)
        scalar = isinstance(item_ids, (int, str, np.integer))
        listed = [item_ids] if scalar else item_ids
        if not isinstance(listed, (list, tuple, np.ndarray)):
            listed = list(listed)  # type: ignore[arg-type]
        ids = entity_ids(listed, "item ids")
        items = self._require_items().take(self._item_rows(ids))
        return np.asarray(
            bundle.predict(features, bundle.encoder.encode_items(items.as_columns()))[0],
            dtype=np.float32,
        )

    def evaluate(
        self,
        test: Dataset | MovieLens,
        *,
        k: int | None = None,
        min_rating: float = 4.0,
    ) -> EvaluationResult:
        """RMSE and MAE of predicted ratings on ``test``; with ``k``, also top-N metrics.

        Top-N protocol: relevant = the user's test items rated >= ``min_rating`` (every test
        interaction, without ratings); candidates = every catalog item the user did not see
        in training; ranking by the model's inner product over the full catalog (what an
        exact store returns). A model trained on implicit feedback, or test data without
        ratings, gets top-N metrics only (``k`` defaults to 10 then).
        """
        from fusionrec.eval import metrics

        bundle = self._require_bundle()
        data = as_dataset(test, "test")
        if len(data.interactions) == 0:
            raise ValidationError("test has no interactions to evaluate")
        rated = not self._implicit and data.interactions.rating is not None
        result = EvaluationResult(rmse=None, mae=None, n_ratings=len(data.interactions))
        if rated:
            predicted = self._predict_rows(data)
            truth = data.interactions.rating
            assert truth is not None
            result = dataclasses.replace(
                result,
                rmse=float(metrics.rmse(truth, predicted)),
                mae=float(metrics.mae(truth, predicted)),
            )
        elif k is None:
            k = 10
        if k is None:
            return result
        _check_k(k)
        topn = self._evaluate_topn(data, k, min_rating if rated else None, bundle)
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
        atomic rename), so a crash at any point leaves the previous model or this one. The
        item table's row order is kept: it is the store key of a string id.
        """
        from fusionrec.serve.model_dir import write_model_files

        bundle = self._require_bundle()
        if self._model is None and self._model_dir is None:
            raise NotFittedError("nothing to save: call fit() or load() first")
        target = Path(path)
        header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
        with replace_directory(target, POINTER, header, legacy=LEGACY) as tmp:
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
            assert self._users is not None and self._seen is not None and self._items is not None
            catalog.save_table(self._users, tmp / "users.npz")
            catalog.save_table(self._items, tmp / "items.npz")
            self._seen.save(tmp / "seen.npz")
            settings = self._store.settings() if self._store is not None else self._store_settings
            state = {
                "occupations": None if self._occupations is None else list(self._occupations),
                "store": settings,
                "fields": [f.to_dict() for f in self._fields],
                "implicit": self._implicit,
            }
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        self._model_dir = current_version(target, POINTER) / "model"
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
        saved = load_directory(root, POINTER, check_header, read_saved, legacy=LEGACY)
        state = saved.state
        rec = cls(config=saved.bundle.config, store=store, progress=progress)
        rec.schema = saved.bundle.encoder.schema
        rec._bundle = saved.bundle
        rec._model_dir = saved.path / "model"
        rec._set_users(saved.users)
        rec._set_items(saved.items)
        rec._seen = saved.seen
        rec._occupations = saved.occupations
        rec._fields = saved.fields
        rec._implicit = saved.implicit
        rec._store_settings = state.get("store")
        rec._store_options = serving_options(saved.path / STATE_FILE, store_options)
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
    def implicit(self) -> bool:
        """Whether the model was trained on implicit feedback (then it predicts no ratings)."""
        return self._implicit

    @property
    def occupations(self) -> tuple[str, ...]:
        """Occupation names by id, as in the MovieLens training data (empty for other data)."""
        return self._occupations or ()

    @property
    def user_ids(self) -> EntityIds:
        """The ids of the users known (from training or add_users), ascending."""
        if self._user_index is None:
            raise NotFittedError("no users yet: call fit() or load() first")
        ids: EntityIds = self._user_index.sorted_ids
        return ids

    @property
    def users(self) -> Table:
        """The users known to this recommender (training users plus added ones)."""
        return self._require_users()

    @property
    def items(self) -> Table:
        """The item catalog (training items plus added ones), append-only: rows never move."""
        return self._require_items()

    @property
    def movies(self) -> Movies:
        """The catalog as a MovieLens movie table (a MovieLens model's name for :attr:`items`)."""
        items = self._require_items()
        cols = items.columns
        missing = [c for c in ("title", "year", "genres") if c not in cols]
        if missing or items.string_ids:
            raise ValidationError(
                f"this model's items are not movies (no {missing or 'int ids'}): use .items"
            )
        return Movies(
            movie_id=items.ids,
            title=cols["title"],
            year=cols["year"],
            genres=cols["genres"],
            tags=cols.get("tags"),  # type: ignore[arg-type]
        )

    def item_key(self, item_id: int | str) -> int | None:
        """The int64 key the store holds ``item_id`` under (None: a string id not in the catalog).

        An int id is its own key; a string id's key is its row in the catalog.
        """
        keys = self._item_keys(entity_ids([item_id], "item ids"))
        return int(keys[0]) if len(keys) else None

    def _require_bundle(self) -> ModelBundle:
        if self._bundle is None:
            raise NotFittedError("the model is not trained: call fit() or load() first")
        return self._bundle

    def _require_seen(self) -> SeenItems:
        if self._seen is None:
            raise NotFittedError("the model is not trained: call fit() or load() first")
        return self._seen

    def _require_users(self) -> Table:
        if self._users is None:
            raise NotFittedError("no users yet: call fit() or load() first")
        return self._users

    def _require_items(self) -> Table:
        if self._items is None:
            raise NotFittedError("no items yet: call fit() first")
        return self._items

    def _require_ratings(self, what: str) -> None:
        if self._implicit:
            raise ValidationError(
                f"{what}: this model was trained on implicit feedback (no ratings), so it "
                "predicts no ratings; use recommend() or evaluate() for rankings"
            )

    def _set_users(self, users: Table) -> None:
        self._users = users
        self._user_index = IdIndex(users.ids)

    def _set_items(self, items: Table) -> None:
        self._items = items
        self._item_index = IdIndex(items.ids)

    def _add_to_catalog(self, table: Table) -> None:
        if self._items is None:
            self._set_items(table)
        elif table is not self._items:
            self._set_items(catalog.merge_tables(self._items, table))

    def _item_keys(self, item_ids: npt.ArrayLike, *, check: bool = False) -> npt.NDArray[np.int64]:
        """Store keys of item ids (see :func:`fusionrec.item_keys.item_keys`)."""
        items = self._require_items()
        assert self._item_index is not None
        return item_keys(items, self._item_index, item_ids, check=check)

    def _key_decoder(self) -> Any:
        """A function from a store key to the item id (``int`` for int ids), kept per catalog."""
        cached = self._decoder
        if cached is None or cached[0] is not self._items:
            items = self._require_items()
            cached = self._decoder = (items, key_decoder(items))
        return cached[1]

    def _key_rows(self) -> Any:
        """A function from store keys to catalog rows (keys not in the catalog dropped)."""
        items = self._require_items()
        assert self._item_index is not None
        return key_rows(items, self._item_index)

    def _item_rows(self, item_ids: EntityIds) -> npt.NDArray[np.int64]:
        assert self._item_index is not None
        return item_rows(self._item_index, item_ids)

    def _user_rows(self, user_ids: EntityIds) -> npt.NDArray[np.int64]:
        assert self._user_index is not None
        rows, found = self._user_index.find(user_ids)
        if not np.all(found):
            bad = plain(user_ids[np.argmin(found)])
            raise ValidationError(
                f"unknown user id {bad!r}: pass a user id from the training data (or "
                "add_users()), or a new user's features"
            )
        return rows

    def _user_feature_names(self) -> list[str]:
        return user_feature_names(self._require_bundle().encoder)

    def _check_user_columns(self, columns: Mapping[str, Any]) -> None:
        self._new_user_columns().check(columns)

    def _new_user_columns(self) -> NewUserColumns:
        """The builder of new users' columns for the current model, users and occupations."""
        bundle, users = self._require_bundle(), self._require_users()
        occupations = self._occupations
        cached = self._new_users
        if (
            cached is None
            or cached[0] is not bundle
            or cached[1] is not users
            or cached[2] is not occupations
        ):
            builder = NewUserColumns(bundle.encoder, users.columns, occupations)
            cached = self._new_users = (bundle, users, occupations, builder)
        return cached[3]

    def _user_features(
        self,
        user_ids: Sequence[int | str] | None,
        columns: Mapping[str, Sequence[Any]] | None,
    ) -> tuple[Features, EntityIds | None]:
        """Encoded users: known ids (their rows), or new users' feature columns."""
        bundle = self._require_bundle()
        encoder = bundle.encoder
        ids = None if user_ids is None else entity_ids(user_ids, "user ids")
        if not columns:
            if ids is None:
                raise ValidationError(
                    "pass a user id, or a new user's features "
                    f"(this model's user features: {self._user_feature_names()})"
                )
            users, rows = self._require_users(), self._user_rows(ids)
            # the rows' columns as Table.take(rows).as_columns() holds them, without
            # validating a new Table's columns again on every call
            known = {name: column[rows] for name, column in users.columns.items()}
            known[users.id_name] = users.ids[rows]
            return encoder.encode_users(known), ids
        builder = self._new_user_columns()
        builder.check(columns)
        table = builder.build(columns, ids)
        return encoder.encode_users(table), ids

    def _demographics(self, given: Mapping[str, list[Any]]) -> dict[str, Any]:
        """MovieLens ages, genders and occupations (names or ids) normalized as in training."""
        assert self._occupations is not None
        return demographics(given, self._occupations, self._user_feature_names())

    def _item_table(self, items: Table | Dataset | MovieLens | Movies | None) -> Table:
        if items is None:
            self._require_bundle()
            return self._require_items()
        if isinstance(items, (Dataset, MovieLens)):
            table = as_dataset(items).items
        elif isinstance(items, Movies):
            table = catalog.movie_table(items)
        elif isinstance(items, Table):
            table = items
        else:
            raise ValidationError(
                "items must be a Table, a Dataset, a MovieLens data set or a Movies table, "
                f"got {type(items).__name__}"
            )
        if len(table) == 0:
            raise ValidationError("the item table is empty")
        return table

    def _item_vectors(self, items: Table) -> npt.NDArray[np.float32]:
        bundle = self._require_bundle()
        return bundle.movie_vectors(bundle.encoder.encode_items(items.as_columns()))

    def _metadata(self, items: Table) -> list[dict[str, Any]]:
        """Each item's display fields, as the store keeps them (missing values left out)."""
        names = [f.name for f in self._fields if f.name in items.columns]
        columns = [items.columns[name].tolist() for name in names]
        out: list[dict[str, Any]] = []
        for values in zip(*columns, strict=True) if columns else [()] * len(items):
            out.append(
                {
                    name: list(v) if isinstance(v, tuple) else v
                    for name, v in zip(names, values, strict=True)
                    if v is not None and v == v  # None and NaN: missing
                }
            )
        return out

    def _upsert_in_batches(self, table: Table, batch_size: int) -> None:
        from tqdm.auto import tqdm

        store = self.store
        keys = self._item_keys(table.ids)
        metadata = self._metadata(table)
        with tqdm(
            total=len(table),
            desc="indexing items",
            unit="item",
            disable=None if self.progress else True,
        ) as bar:
            for start in range(0, len(table), batch_size):
                part = table.take(np.arange(start, min(start + batch_size, len(table))))
                store.upsert(
                    keys[start : start + batch_size],
                    self._item_vectors(part),
                    metadata[start : start + batch_size],
                )
                bar.update(len(part))

    def _predict_rows(self, data: Dataset) -> npt.NDArray[np.float32]:
        """Predicted rating of every test interaction, each tower run once per entity."""
        bundle = self._require_bundle()
        pairs = data.interactions
        user_ids, user_inverse = np.unique(pairs.user_id, return_inverse=True)
        item_ids, item_inverse = np.unique(pairs.item_id, return_inverse=True)
        users = _rows_by_id(data.users, user_ids, "user", data.source)
        items = _rows_by_id(data.items, item_ids, "item", data.source)
        user_features = bundle.encoder.encode_users(users.as_columns())
        user_vectors = bundle.user_rating_vectors(user_features)
        item_vectors = bundle.movie_rating_vectors(bundle.encoder.encode_items(items.as_columns()))
        user_inverse, item_inverse = user_inverse.ravel(), item_inverse.ravel()
        scores = np.vecdot(user_vectors[user_inverse], item_vectors[item_inverse])
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

        ``rating_vectors`` are the users' rating-head vectors, one row per result row; a model
        trained on implicit feedback rates nothing (``rating`` None). ``features`` came from
        this bundle's encoder, so the rating head does not check them again.
        """
        n = len(results)
        flat = results[0] if n == 1 else [h for hits in results for h in hits]
        if not flat:
            return [[] for _ in results]
        if self._implicit:
            ratings: list[float] | list[None] = [None] * len(flat)
        else:
            ratings = self._hit_ratings(results, flat, bundle, features, rating_vectors)
        made = recommendations(flat, ratings, self._key_decoder())
        if n == 1:
            return [made]
        out, start = [], 0
        for hits in results:
            out.append(made[start : start + len(hits)])
            start += len(hits)
        return out

    def _hit_ratings(
        self,
        results: list[list[Hit]],
        flat: list[Hit],
        bundle: ModelBundle,
        features: Features,
        rating_vectors: npt.NDArray[np.float32],
    ) -> list[float]:
        """The rating head's prediction for every hit of every row, in ``flat``'s order."""
        n, lengths = len(results), [len(hits) for hits in results]
        shared = bundle.shared_vectors  # then the store's score is the rating head's product
        if shared:
            ip = np.array([h.score for h in flat], dtype=np.float32)
        else:  # a separate retrieval head ranked them: rate them with the rating head
            items = self._hit_rating_vectors(flat, bundle)
        if min(lengths) == max(lengths):  # k hits a row: one [n, k] matrix
            if not shared:
                hits_3d = items.reshape(n, lengths[0], -1)
                ip = np.vecdot(hits_3d, rating_vectors[:, None, :])
            rated = bundle.ratings(ip.reshape(n, -1), features, trusted=True).ravel()
        else:
            rows = np.repeat(np.arange(n), lengths)
            if not shared:
                ip = np.vecdot(rating_vectors[rows], items)
            rated = bundle.ratings(ip[:, None], features.take(rows), trusted=True)[:, 0]
        out: list[float] = rated.tolist()
        return out

    def _hit_rating_vectors(self, hits: list[Hit], bundle: ModelBundle) -> npt.NDArray[np.float32]:
        """Rating-head vectors of the hits' items.

        Taken from the catalog's, computed once per catalog and model (encoding ten titles per
        call doubled recommend()'s latency) and found by the item index (string ids: the key
        is the row); a hit the catalog lacks (indexed by another process) is encoded from the
        metadata the store returned with it.
        """
        items, cached = self._items, self._catalog_ratings
        if items is not None and (
            cached is None or cached[0] is not items or cached[1] is not bundle
        ):
            vectors = bundle.movie_rating_vectors(bundle.encoder.encode_items(items.as_columns()))
            cached = self._catalog_ratings = (items, bundle, vectors, items.string_ids)
        if cached is not None and items is not None:
            keys = list(map(_hit_id, hits))
            if cached[3]:  # string ids: a key is the item's catalog row
                n = len(items)
                if len(keys) <= _FEW_HITS and all(0 <= key < n for key in keys):
                    few: npt.NDArray[np.float32] = cached[2][keys]
                    return few
                rows = np.asarray(keys, dtype=np.int64)
                if np.all((rows >= 0) & (rows < n)):
                    found: npt.NDArray[np.float32] = cached[2][rows]
                    return found
            else:
                assert self._item_index is not None
                is_few = len(keys) <= _FEW_HITS
                listed = self._item_index.few_rows(keys) if is_few else None
                if listed is not None:
                    out: npt.NDArray[np.float32] = cached[2][listed]
                    return out
                if not is_few:
                    rows, known = self._item_index.find(keys)
                    if np.all(known):
                        out = cached[2][rows]
                        return out
        table = self._hit_items(hits)
        return bundle.movie_rating_vectors(bundle.encoder.encode_items(table))

    def _hit_items(self, hits: list[Hit]) -> dict[str, Any]:
        """The hits as item columns, from the metadata the store keeps beside each vector."""
        columns: dict[str, Any] = {}
        for f in self._fields:
            values = [h.metadata.get(f.name, f.default) for h in hits]
            if f.type == "list[str]":
                values = [tuple(v) for v in values]
            column = np.empty(len(values), dtype=object)
            column[:] = values
            columns[f.name] = column
        return columns

    def _evaluate_topn(
        self, test: Dataset, k: int, min_rating: float | None, bundle: ModelBundle
    ) -> Any:
        from fusionrec.eval import metrics

        items = self._require_items()
        seen = self._require_seen()
        held = test.interactions
        relevant_mask = (
            np.ones(len(held), dtype=bool)
            if min_rating is None or held.rating is None
            else held.rating >= min_rating
        )
        kept = held.take(relevant_mask)
        kept = kept.take(self._item_index.find(kept.item_id)[1])  # type: ignore[union-attr]
        eval_users = np.unique(kept.user_id)
        if len(eval_users) == 0:
            raise ValidationError(
                f"no test interaction with a catalog item reaches min_rating={min_rating}"
            )
        users = _rows_by_id(test.users, eval_users, "user", test.source)
        user_vectors = bundle.user_vectors(bundle.encoder.encode_users(users.as_columns()))
        item_vectors = self._item_vectors(items)
        key_rows = self._key_rows()
        seen_mask = np.zeros((len(eval_users), len(items)), dtype=bool)
        for row, user in enumerate(eval_users.tolist()):
            keys = seen.of(user)
            cols = key_rows(keys)
            seen_mask[row, cols] = True
        relevant = metrics.interaction_matrix(kept, eval_users, items.ids)

        def score_fn(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
            return np.asarray(user_vectors[rows] @ item_vectors.T, dtype=np.float32)

        return metrics.evaluate_topn(score_fn, np.arange(len(eval_users)), seen_mask, relevant, k=k)


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")


def _fields_of(data: Dataset, movielens: bool) -> tuple[MetadataField, ...]:
    """The store fields of the items' display columns (see :attr:`Dataset.display`).

    MovieLens keeps exactly :data:`~fusionrec.stores.MOVIE_FIELDS` (title, genres, year), so
    stores made before the generic form stay valid.
    """
    display = data.display
    if (
        display is not None
        and tuple(display) == _MOVIE_DISPLAY
        and (movielens or data.items.id_name == "movie_id")
    ):
        return MOVIE_FIELDS
    items = data.items
    if display is None:  # every storable column but those a recommendation names itself
        kept = {k: v for k, v in items.columns.items() if k not in _RESERVED_DISPLAY}
        return catalog.display_fields(Table(items.ids, kept, items.id_name), None)
    shadowing = sorted(_RESERVED_DISPLAY & set(display))
    if shadowing:
        raise ValidationError(
            f"display column(s) {shadowing} would shadow a recommendation's own keys"
        )
    return catalog.display_fields(items, display)


def _require_items(store: VectorStore) -> None:
    """Raise NotFittedError if ``store`` holds nothing; asked only when a search found nothing."""
    if store.count() == 0:
        raise NotFittedError(
            "the vector store is empty: call index_items() (or index_movies()) first"
        )


def _rows_by_id(table: Table, ids: EntityIds, what: str, source: str) -> Table:
    rows, found = IdIndex(table.ids).find(ids)
    if not np.all(found):
        missing = ids[~found]
        raise ValidationError(
            f"{source}: {len(missing)} {what} id(s) of the interactions missing from the "
            f"{what} table, e.g. {plain(missing[0])!r}"
        )
    return table.take(rows)
