"""Groups near-identical unanswered questions, so FAQ staff review one row per question that
riders keep asking rather than a hundred rows of the same words. Pure code: no I/O.

How: exact duplicates (the same normalised text) collapse first, which in practice is most of
the volume. The distinct texts are then clustered greedily, most frequent first: a text joins
the group whose anchors (its first ANCHORS distinct texts, the most asked ones) it is closest
to, if rapidfuzz's ratio reaches THRESHOLD; otherwise it starts a group of its own.

Bound: each distinct text is compared once with at most ANCHORS texts of every group so far,
in rapidfuzz's C loop (process.extractOne), so the work grows with distinct texts × groups:
about distinct²/2 comparisons when nothing groups, the worst case. The caller caps the rows
(storage.unanswered.MAX_ROWS = 3,000): 3,000 all-different questions of 8-20 characters took
about 0.5 s on the project's 2-core machine (0.1 µs a comparison), run off the event loop;
real questions repeat, which makes it far less."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

# Calibrated on rider phrasings: 外卖超时罚款怎么办 / 外卖超时被罚款怎么办 score 95 and
# 外卖超时罚款怎么办 / 超时罚款怎么办啊 82, while two different questions of the same shape
# (被狗咬了怎么办 / 被车撞了怎么办) score 71.
THRESHOLD = 78.0
ANCHORS = 3  # distinct texts per group that newcomers are compared with
EXAMPLES = 5  # distinct example texts shown per group
SORTS = ("frequent", "newest")


@dataclass(frozen=True)
class Question:
    """One unanswered row, as the review needs it. `text` is what is shown (already masked)."""
    id: int
    text: str
    normalised: str
    outcome: str
    top_entry: str | None
    created_at: float
    top_score: float | None = None  # the matcher's score for top_entry


@dataclass
class Group:
    ids: list[int] = field(default_factory=list)
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    examples: list[str] = field(default_factory=list)  # distinct texts, most recent first
    suggestion: str | None = None  # the entry the matcher most often came close to
    outcomes: dict[str, int] = field(default_factory=dict)  # e.g. {"fallback": 3, "clarify": 1}


def group_questions(questions: Iterable[Question], sort: str = "frequent", threshold: float = THRESHOLD,
                    suggest_from: float = 0.0) -> list[Group]:
    """Near-identical questions as groups, most frequent first (then newest), or with
    sort="newest" the most recently asked first (then most frequent). A group's suggestion
    counts only top entries that scored at least `suggest_from`: a far-off nearest entry is
    no suggestion at all."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}")
    by_text: dict[str, list[Question]] = {}
    for q in questions:
        by_text.setdefault(q.normalised or q.text, []).append(q)
    clusters = _cluster(by_text, threshold)
    groups = [_summarise([q for text in texts for q in by_text[text]], suggest_from) for texts in clusters]
    if sort == "newest":
        groups.sort(key=lambda g: (-g.last_seen, -g.count, g.ids[0]))
    else:
        groups.sort(key=lambda g: (-g.count, -g.last_seen, g.ids[0]))
    return groups


def _cluster(by_text: dict[str, list[Question]], threshold: float) -> list[list[str]]:
    """Lists of normalised texts that belong together (greedy, most asked text first)."""
    order = sorted(by_text, key=lambda t: (-len(by_text[t]), -max(q.created_at for q in by_text[t]), t))
    clusters: list[list[str]] = []
    anchors: list[str] = []  # texts to compare with ...
    owner: list[int] = []  # ... and the cluster each belongs to
    for text in order:
        best = process.extractOne(text, anchors, scorer=fuzz.ratio, score_cutoff=threshold) if anchors else None
        if best is None:
            clusters.append([text])
            anchors.append(text)
            owner.append(len(clusters) - 1)
            continue
        cluster = owner[best[2]]
        clusters[cluster].append(text)
        if len(clusters[cluster]) <= ANCHORS:
            anchors.append(text)
            owner.append(cluster)
    return clusters


def _summarise(members: list[Question], suggest_from: float) -> Group:
    members.sort(key=lambda q: (-q.created_at, -q.id))  # most recent first
    examples: list[str] = []
    for q in members:
        if q.text not in examples:
            examples.append(q.text)
            if len(examples) == EXAMPLES:
                break
    entries = Counter(q.top_entry for q in members
                      if q.top_entry and (q.top_score is None or q.top_score >= suggest_from))
    # Ties go to the entry suggested most recently: members are newest first, and Counter
    # keeps first-seen order among equal counts.
    suggestion = entries.most_common(1)[0][0] if entries else None
    return Group(ids=sorted(q.id for q in members), count=len(members),
                 first_seen=min(q.created_at for q in members), last_seen=members[0].created_at,
                 examples=examples, suggestion=suggestion,
                 outcomes=dict(Counter(q.outcome for q in members)))
