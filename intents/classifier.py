"""A classifier trained on the FAQ's own phrasings, keywords and titles: logistic regression
over character 1-3 grams and the concepts a text names. Where the lexical matcher asks "which
phrasing is this closest to?", the classifier learns which characters and concepts tell the
entries apart, so it generalises to wordings no phrasing has. Pure code, no I/O.

scikit-learn does the fitting (the maintained implementation, with a solver that converges on
a few hundred short texts in well under a second); training runs once per version of the FAQ,
cached, and off the event loop like the rest of build_brain."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from intents.concepts import ConceptTagger
from intents.normalise import Normaliser, clean

# Stronger regularisation than sklearn's default would flatten the probabilities of the many
# entries that have only ten or so phrasings; weaker overfits the exact wordings (tuned on the
# development set, tests/data/understanding/dev, see `gigdesk kb eval`).
C = 20.0
CONCEPT_WEIGHT = 3  # a concept counts as much as this many character grams


class Classifier:
    def __init__(self, docs: Sequence[tuple[str, str]], normalise: Callable[[str], str],
                 concepts: Callable[[str], set[str]]):
        """docs: (entry id, text) pairs to learn from."""
        self._normalise = normalise
        self._concepts = concepts
        self._vectoriser = TfidfVectorizer(analyzer=self._features, sublinear_tf=True)
        matrix = self._vectoriser.fit_transform([text for _, text in docs])
        labels = [entry_id for entry_id, _ in docs]
        self._model = LogisticRegression(C=C, max_iter=3000).fit(matrix, labels)
        self._classes = list(self._model.classes_)

    def _features(self, text: str) -> list[str]:
        n = self._normalise(text)
        grams = [n[i:i + k] for k in (1, 2, 3) for i in range(len(n) - k + 1)]
        return grams + sorted(self._concepts(text)) * CONCEPT_WEIGHT

    def probabilities(self, text: str) -> dict[str, float]:
        """Each entry's probability for the text (they sum to 1 over all entries)."""
        row = self._model.predict_proba(self._vectoriser.transform([text]))[0]
        return dict(zip(self._classes, row.tolist()))


@functools.lru_cache(maxsize=8)
def trained(docs: tuple[tuple[str, str], ...], synonyms: tuple[tuple[str, str], ...],
            topics: tuple[tuple[str, tuple[str, ...]], ...]) -> Classifier:
    """The classifier for one version of the FAQ, its synonyms and its concepts: every app and
    test built from the same files shares one training run."""
    normalise = Normaliser(dict(synonyms))
    tagger = ConceptTagger(dict(topics), {})
    return Classifier(docs, normalise, lambda text: tagger.features(clean(text), normalise(text)))
