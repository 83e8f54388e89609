"""A classifier trained on the FAQ's own phrasings, keywords and titles: logistic regression
over character 1-3 grams and the concepts a text names. Where the lexical matcher asks "which
phrasing is this closest to?", the classifier learns which characters and concepts tell the
entries apart, so it generalises to wordings no phrasing has. Pure code, no I/O.

scikit-learn does the fitting (the maintained implementation); training runs once per version
of the FAQ, cached, and off the event loop like the rest of build_brain. Scoring one message
is the fitted model's arithmetic done directly (TF-IDF weights, one dot product, softmax):
sklearn's per-call checks cost more than the arithmetic for a single short message."""
from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from intents.concepts import ConceptTagger
from intents.normalise import Normaliser, clean

# Stronger regularisation than sklearn's default would flatten the probabilities of the many
# entries that have only ten or so phrasings; weaker overfits the exact wordings (tuned on the
# development set, tests/data/understanding/dev, see `gigdesk kb eval`).
C = 20.0
CONCEPT_WEIGHT = 3  # a concept counts as much as this many character grams
# Fitting keeps a dense weight per feature and entry, with lbfgs's history on top: 52 entries
# take a second and a few MB, but 1,040 (the benchmark's 20x base) asked for 31 GB. Beyond this
# many entries the bot ranks by the lexical matcher alone (Brain.rank), which scales.
MAX_ENTRIES = 300


def features(normalised: str, concepts: Iterable[str]) -> list[str]:
    """Character 1-3 grams of the normalised text, and its concepts (weighted)."""
    grams = [normalised[i:i + k] for k in (1, 2, 3) for i in range(len(normalised) - k + 1)]
    return grams + sorted(concepts) * CONCEPT_WEIGHT


class Classifier:
    def __init__(self, docs: Sequence[tuple[str, list[str]]], c: float = C, balanced: bool = False,
                 max_labels: int | None = None, solver: str = "lbfgs"):
        """docs: (label, features of one text) pairs to learn from; c: sklearn's inverse
        regularisation; balanced: weigh labels as if each had as many texts; max_labels:
        beyond this many labels nothing is fitted (default MAX_ENTRIES); solver: sklearn's."""
        labels = [entry_id for entry_id, _ in docs]
        self._classes = sorted(set(labels))
        self.active = 2 <= len(self._classes) <= (MAX_ENTRIES if max_labels is None else max_labels)
        if not self.active:  # nothing to tell apart (one entry), or too many to fit here
            return
        vectoriser = TfidfVectorizer(analyzer=lambda feats: feats, sublinear_tf=True)
        model = LogisticRegression(C=c, max_iter=3000, solver=solver, class_weight="balanced" if balanced else None)
        model.fit(vectoriser.fit_transform([f for _, f in docs]), labels)
        self._vocabulary = vectoriser.vocabulary_
        self._idf = vectoriser.idf_
        # One row per feature, so a message's few features select a small block.
        self._weights = np.ascontiguousarray(model.coef_.T)
        self._bias = model.intercept_
        self._classes = list(model.classes_)

    def probabilities(self, message_features: Sequence[str]) -> dict[str, float]:
        """Each entry's probability for a message's features (they sum to 1 over all entries),
        exactly as the fitted model's predict_proba would give them."""
        if not self.active:
            return dict.fromkeys(self._classes, 1.0) if len(self._classes) == 1 else {}
        counts = Counter(f for f in message_features if f in self._vocabulary)
        scores = self._bias.copy()
        if counts:
            rows = [self._vocabulary[f] for f in counts]
            weights = np.array([1.0 + math.log(n) for n in counts.values()]) * self._idf[rows]
            weights /= np.linalg.norm(weights)
            scores = scores + weights @ self._weights[rows]
        if len(scores) == 1:  # two entries: sklearn fits one logistic score for the second
            p = 1.0 / (1.0 + math.exp(-float(scores[0])))
            return dict(zip(self._classes, (1.0 - p, p)))
        exp = np.exp(scores - scores.max())
        return dict(zip(self._classes, (exp / exp.sum()).tolist()))


@functools.lru_cache(maxsize=8)
def trained(docs: tuple[tuple[str, str], ...], synonyms: tuple[tuple[str, str], ...],
            topics: tuple[tuple[str, tuple[str, ...]], ...]) -> Classifier:
    """The classifier for one version of the FAQ, its synonyms and its concepts: every app and
    test built from the same files shares one training run."""
    normalise = Normaliser(dict(synonyms))
    tagger = ConceptTagger(dict(topics), {})
    # newton-cg: lbfgs took 10 s for 53 entries x 24k features (each of its steps costs entries
    # x features, with a history of ten), so every FAQ save waited that long for its reload;
    # newton-cg reaches the same fit (probabilities within 0.01 on the phrasings, the same
    # figures on the understanding sets, bar one first choice in 2,902) in 4 s.
    return Classifier([(entry_id, features(normalise(text), tagger.features(clean(text), normalise(text))))
                       for entry_id, text in docs], solver="newton-cg")
