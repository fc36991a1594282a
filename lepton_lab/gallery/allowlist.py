"""What a gallery model file may contain: every type and function named, none by library.

A skops file names the types its loader builds.  The gallery builds a name only when it
is listed here, at registration and again on every load (:mod:`lepton_lab.gallery.audit`
walks the whole file).  Whole libraries are never trusted: NumPy alone holds classes such
as ``numpy.lib._datasource.DataSource``, whose ``__del__`` deletes the folder it was
given, and a file may ask for any of them.  The list:

* **estimators** (:data:`ESTIMATOR_KINDS`): scikit-learn's classifiers, regressors and
  transformers, as ``sklearn.utils.all_estimators`` enumerates them, plus ``Pipeline``
  and the text vectorizers (which it files under no kind).  Those three kinds are what a
  gallery model is made of: its tasks are classification and regression, and
  transformers are the steps before them.  Left out: clusterers that do not also
  transform (no gallery task predicts cluster ids), outlier detectors, density and
  covariance estimators, manifold embeddings (no ``predict``), searches (register
  ``best_estimator_``) and ``FrozenEstimator``.
* **their parts**: the internal types those estimators are made of (trees, tree
  predictors and binning, losses and links, neighbour trees and distances, optimizers,
  calibrators), found by saving every family Lepton Lab trains and the common estimators
  of each kind and recording what skops reports;
* **values**: the containers skops stores, NumPy arrays, dtypes and the scalar types it
  names, random states, and SciPy's compressed sparse matrices;
* **Lepton Lab's own**: its torch estimators and the preprocessing functions in
  :data:`TRUSTED_FUNCTIONS`, and a few NumPy math ufuncs for ``FunctionTransformer``.
  Other functions are refused even from these libraries: a ``FunctionTransformer``
  calling ``numpy.savetxt`` could write files when it predicts.

The estimator list is written out, not computed, so that loading a model imports nothing
(``all_estimators`` imports every scikit-learn module, seconds of a cold load); a test
compares it with :func:`enumerate_estimators` for the installed scikit-learn.  A model
refused for a type it really needs: add the type here, with the estimator it belongs to.
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_TYPES",
    "ESTIMATOR_KINDS",
    "TRUSTED_FUNCTIONS",
    "enumerate_estimators",
    "estimator_names",
    "is_allowed",
]

ESTIMATOR_KINDS = ("classifier", "regressor", "transformer")
"""The ``all_estimators`` kinds a gallery model may be built from."""

TRUSTED_FUNCTIONS = frozenset(
    {
        "lepton_lab.training.preprocess.as_categories",
        "lepton_lab.training.preprocess.as_text",
    }
)
"""Functions a stored model may call: Lepton Lab's preprocessing, which only computes."""

_ESTIMATORS = {
    "sklearn.calibration": ("CalibratedClassifierCV",),
    "sklearn.cluster._agglomerative": ("FeatureAgglomeration",),
    "sklearn.cluster._birch": ("Birch",),
    "sklearn.cluster._bisect_k_means": ("BisectingKMeans",),
    "sklearn.cluster._kmeans": ("KMeans", "MiniBatchKMeans"),
    "sklearn.compose._column_transformer": ("ColumnTransformer",),
    "sklearn.compose._target": ("TransformedTargetRegressor",),
    "sklearn.cross_decomposition._pls": ("CCA", "PLSCanonical", "PLSRegression", "PLSSVD"),
    "sklearn.decomposition._dict_learning": (
        "DictionaryLearning",
        "MiniBatchDictionaryLearning",
        "SparseCoder",
    ),
    "sklearn.decomposition._factor_analysis": ("FactorAnalysis",),
    "sklearn.decomposition._fastica": ("FastICA",),
    "sklearn.decomposition._incremental_pca": ("IncrementalPCA",),
    "sklearn.decomposition._kernel_pca": ("KernelPCA",),
    "sklearn.decomposition._lda": ("LatentDirichletAllocation",),
    "sklearn.decomposition._nmf": ("MiniBatchNMF", "NMF"),
    "sklearn.decomposition._pca": ("PCA",),
    "sklearn.decomposition._sparse_pca": ("MiniBatchSparsePCA", "SparsePCA"),
    "sklearn.decomposition._truncated_svd": ("TruncatedSVD",),
    "sklearn.discriminant_analysis": (
        "LinearDiscriminantAnalysis",
        "QuadraticDiscriminantAnalysis",
    ),
    "sklearn.dummy": ("DummyClassifier", "DummyRegressor"),
    "sklearn.ensemble._bagging": ("BaggingClassifier", "BaggingRegressor"),
    "sklearn.ensemble._forest": (
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "RandomTreesEmbedding",
    ),
    "sklearn.ensemble._gb": ("GradientBoostingClassifier", "GradientBoostingRegressor"),
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting": (
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    ),
    "sklearn.ensemble._stacking": ("StackingClassifier", "StackingRegressor"),
    "sklearn.ensemble._voting": ("VotingClassifier", "VotingRegressor"),
    "sklearn.ensemble._weight_boosting": ("AdaBoostClassifier", "AdaBoostRegressor"),
    "sklearn.feature_extraction._dict_vectorizer": ("DictVectorizer",),
    "sklearn.feature_extraction._hash": ("FeatureHasher",),
    "sklearn.feature_extraction.image": ("PatchExtractor",),
    "sklearn.feature_extraction.text": (
        "CountVectorizer",
        "HashingVectorizer",
        "TfidfTransformer",
        "TfidfVectorizer",
    ),
    "sklearn.feature_selection._from_model": ("SelectFromModel",),
    "sklearn.feature_selection._rfe": ("RFE", "RFECV"),
    "sklearn.feature_selection._sequential": ("SequentialFeatureSelector",),
    "sklearn.feature_selection._univariate_selection": (
        "GenericUnivariateSelect",
        "SelectFdr",
        "SelectFpr",
        "SelectFwe",
        "SelectKBest",
        "SelectPercentile",
    ),
    "sklearn.feature_selection._variance_threshold": ("VarianceThreshold",),
    "sklearn.gaussian_process._gpc": ("GaussianProcessClassifier",),
    "sklearn.gaussian_process._gpr": ("GaussianProcessRegressor",),
    "sklearn.impute._base": ("MissingIndicator", "SimpleImputer"),
    "sklearn.impute._knn": ("KNNImputer",),
    "sklearn.isotonic": ("IsotonicRegression",),
    "sklearn.kernel_approximation": (
        "AdditiveChi2Sampler",
        "Nystroem",
        "PolynomialCountSketch",
        "RBFSampler",
        "SkewedChi2Sampler",
    ),
    "sklearn.kernel_ridge": ("KernelRidge",),
    "sklearn.linear_model._base": ("LinearRegression",),
    "sklearn.linear_model._bayes": ("ARDRegression", "BayesianRidge"),
    "sklearn.linear_model._coordinate_descent": (
        "ElasticNet",
        "ElasticNetCV",
        "Lasso",
        "LassoCV",
        "MultiTaskElasticNet",
        "MultiTaskElasticNetCV",
        "MultiTaskLasso",
        "MultiTaskLassoCV",
    ),
    "sklearn.linear_model._glm.glm": ("GammaRegressor", "PoissonRegressor", "TweedieRegressor"),
    "sklearn.linear_model._huber": ("HuberRegressor",),
    "sklearn.linear_model._least_angle": (
        "Lars",
        "LarsCV",
        "LassoLars",
        "LassoLarsCV",
        "LassoLarsIC",
    ),
    "sklearn.linear_model._logistic": ("LogisticRegression", "LogisticRegressionCV"),
    "sklearn.linear_model._omp": ("OrthogonalMatchingPursuit", "OrthogonalMatchingPursuitCV"),
    "sklearn.linear_model._passive_aggressive": (
        "PassiveAggressiveClassifier",
        "PassiveAggressiveRegressor",
    ),
    "sklearn.linear_model._perceptron": ("Perceptron",),
    "sklearn.linear_model._quantile": ("QuantileRegressor",),
    "sklearn.linear_model._ransac": ("RANSACRegressor",),
    "sklearn.linear_model._ridge": ("Ridge", "RidgeCV", "RidgeClassifier", "RidgeClassifierCV"),
    "sklearn.linear_model._stochastic_gradient": ("SGDClassifier", "SGDRegressor"),
    "sklearn.linear_model._theil_sen": ("TheilSenRegressor",),
    "sklearn.manifold._isomap": ("Isomap",),
    "sklearn.manifold._locally_linear": ("LocallyLinearEmbedding",),
    "sklearn.manifold._t_sne": ("TSNE",),
    "sklearn.model_selection._classification_threshold": (
        "FixedThresholdClassifier",
        "TunedThresholdClassifierCV",
    ),
    "sklearn.multiclass": ("OneVsOneClassifier", "OneVsRestClassifier", "OutputCodeClassifier"),
    "sklearn.multioutput": (
        "ClassifierChain",
        "MultiOutputClassifier",
        "MultiOutputRegressor",
        "RegressorChain",
    ),
    "sklearn.naive_bayes": (
        "BernoulliNB",
        "CategoricalNB",
        "ComplementNB",
        "GaussianNB",
        "MultinomialNB",
    ),
    "sklearn.neighbors._classification": ("KNeighborsClassifier", "RadiusNeighborsClassifier"),
    "sklearn.neighbors._graph": ("KNeighborsTransformer", "RadiusNeighborsTransformer"),
    "sklearn.neighbors._nca": ("NeighborhoodComponentsAnalysis",),
    "sklearn.neighbors._nearest_centroid": ("NearestCentroid",),
    "sklearn.neighbors._regression": ("KNeighborsRegressor", "RadiusNeighborsRegressor"),
    "sklearn.neural_network._multilayer_perceptron": ("MLPClassifier", "MLPRegressor"),
    "sklearn.neural_network._rbm": ("BernoulliRBM",),
    "sklearn.pipeline": ("FeatureUnion", "Pipeline"),
    "sklearn.preprocessing._data": (
        "Binarizer",
        "KernelCenterer",
        "MaxAbsScaler",
        "MinMaxScaler",
        "Normalizer",
        "PowerTransformer",
        "QuantileTransformer",
        "RobustScaler",
        "StandardScaler",
    ),
    "sklearn.preprocessing._discretization": ("KBinsDiscretizer",),
    "sklearn.preprocessing._encoders": ("OneHotEncoder", "OrdinalEncoder"),
    "sklearn.preprocessing._function_transformer": ("FunctionTransformer",),
    "sklearn.preprocessing._label": ("LabelBinarizer", "LabelEncoder", "MultiLabelBinarizer"),
    "sklearn.preprocessing._polynomial": ("PolynomialFeatures", "SplineTransformer"),
    "sklearn.preprocessing._target_encoder": ("TargetEncoder",),
    "sklearn.random_projection": ("GaussianRandomProjection", "SparseRandomProjection"),
    "sklearn.semi_supervised._label_propagation": ("LabelPropagation", "LabelSpreading"),
    "sklearn.semi_supervised._self_training": ("SelfTrainingClassifier",),
    "sklearn.svm._classes": ("LinearSVC", "LinearSVR", "NuSVC", "NuSVR", "SVC", "SVR"),
    "sklearn.tree._classes": (
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
    ),
}
"""scikit-learn's classifiers, regressors and transformers (1.9), by defining module."""

_NOT_A_KIND = frozenset(
    {
        "sklearn.feature_extraction.text.CountVectorizer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.pipeline.Pipeline",
    }
)
"""Estimators of :data:`_ESTIMATORS` that ``all_estimators`` files under no kind."""

_PARTS = frozenset(
    {
        # trees: forests, extra trees, gradient boosting, AdaBoost, bagging
        "sklearn.tree._tree.Tree",
        # histogram gradient boosting
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # losses and links of gradient boosting, histogram gradient boosting and SGD
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.linear_model._sgd_fast.Hinge",
        "sklearn.linear_model._sgd_fast.ModifiedHuber",
        # nearest neighbours: the search trees and their distances
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        # multilayer perceptrons' optimizers, calibration, stacking and voting
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.utils._bunch.Bunch",
    }
)
"""The internal types the allowed estimators are made of, as skops names them."""

_VALUES = frozenset(
    {
        *(f"builtins.{name}" for name in ("dict", "list", "tuple", "set", "slice")),
        *(f"builtins.{name}" for name in ("str", "int", "float", "bool", "bytes")),
        "collections.OrderedDict",
        "numpy.ndarray",
        "numpy.dtype",
        *(f"numpy.{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)),
        *(f"numpy.float{bits}" for bits in (16, 32, 64)),
        "numpy.bool",
        "numpy.str_",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csr.csr_array",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._csc.csc_array",
    }
)
"""Containers, arrays, dtypes, scalars, random states and sparse matrices."""

_OWN = frozenset(
    {
        "lepton_lab.training.torch_models.TorchClassifier",
        "lepton_lab.training.torch_models.TorchRegressor",
    }
)
"""Lepton Lab's torch estimators (their networks travel as safetensors, not in skops)."""

_UFUNCS = frozenset(
    f"numpy.{name}"
    for name in (
        *("absolute", "sign", "negative", "reciprocal", "square", "sqrt", "cbrt"),
        *("exp", "expm1", "exp2", "log", "log1p", "log2", "log10"),
        *("floor", "ceil", "rint", "trunc", "tanh", "arctan", "arcsinh"),
    )
)
"""NumPy's elementwise math, for ``FunctionTransformer(func=numpy.log1p)``: it computes."""


def estimator_names() -> frozenset[str]:
    """The allowed estimators, ``"module.Name"`` each."""
    return frozenset(f"{module}.{name}" for module, names in _ESTIMATORS.items() for name in names)


ALLOWED_TYPES = estimator_names() | _PARTS | _VALUES | _OWN | _UFUNCS | TRUSTED_FUNCTIONS
"""Every type and function a gallery model file may name."""


def is_allowed(name: str) -> bool:
    """Whether a model file may name the type or function ``name`` (``"module.Name"``).

    Nothing is imported to decide: importing a module runs its code."""
    return name in ALLOWED_TYPES


def enumerate_estimators() -> frozenset[str]:
    """:data:`ESTIMATOR_KINDS` of the installed scikit-learn, as ``all_estimators`` finds
    them, with the ones it files under no kind: what the written list should say.

    Slow (it imports all of scikit-learn); for the test that keeps the list current."""
    from sklearn.utils import all_estimators

    found = {
        f"{kind.__module__}.{kind.__name__}"
        for group in ESTIMATOR_KINDS
        for _, kind in all_estimators(type_filter=group)
    }
    return frozenset(found) | _NOT_A_KIND
