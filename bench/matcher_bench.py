"""Classify latency per message: the matcher's ranking plus the engine's decision rule, as the
bot runs them for every text a rider sends.

Two bases: the real knowledge files, and a synthetic one 20 times larger (every entry copied
19 times with new ids and lightly perturbed phrasings, so the index really grows rather than
holding the same grams twice). The TF-IDF baseline from knowledge/evaluate.py is timed in the
same run on the same messages, so the figures can be quoted as ratios, which survive a change
of machine better than milliseconds do.

Targets to report against: p99 < 2 ms on the real base, < 10 ms on the 20x base. Nothing here
asserts them; this prints numbers.

    python bench/matcher_bench.py [--repeat 20] [--scale 20] [--seed 7]
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.brain import build_brain
from bot.settings import KNOWLEDGE_DIR
from intents import decide
from knowledge import KnowledgeBase, load_knowledge
from knowledge.evaluate import load_questions, tfidf_matcher

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "heldout.yaml"
TARGET_P99_MS = {"real": 2.0, "x20": 10.0}


def enlarged(kb: KnowledgeBase, scale: int, rng: random.Random) -> KnowledgeBase:
    """kb with every entry plus scale-1 perturbed copies of it."""
    pool = sorted({ch for e in kb.entries for x in e.examples for ch in x if not ch.isspace()})
    entries = list(kb.entries)
    for copy in range(1, scale):
        for entry in kb.entries:
            entries.append(dataclasses.replace(
                entry, id=f"{entry.id}-copy{copy:02d}",
                examples=tuple(_perturb(x, pool, rng) for x in entry.examples),
                keywords=tuple(_perturb(k, pool, rng) for k in entry.keywords)))
    return dataclasses.replace(kb, entries=tuple(entries), _by_id={})


def _perturb(text: str, pool: Sequence[str], rng: random.Random) -> str:
    """Swap a few characters for characters from anywhere in the base and add a two-character
    prefix or suffix: new grams for the index, still text shaped like the real phrasings."""
    chars = list(text)
    for _ in range(min(3, max(1, len(chars) // 5))):
        chars[rng.randrange(len(chars))] = rng.choice(pool)
    affix = "".join(rng.choices(pool, k=2))
    return affix + "".join(chars) if rng.random() < 0.5 else "".join(chars) + affix


def latencies_ms(classify: Callable[[str], object], messages: Sequence[str]) -> list[float]:
    for text in messages[:50]:  # warm caches (OpenCC, the normaliser's regex) before timing
        classify(text)
    gc.collect()  # start each series from the same heap; gc stays on, as in the server
    timings = []
    for text in messages:
        start = time.perf_counter_ns()
        classify(text)
        timings.append((time.perf_counter_ns() - start) / 1e6)
    return sorted(timings)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, round(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def ours(kb: KnowledgeBase) -> Callable[[str], object]:
    """All the understanding one message gets: danger, asking for a person, the concepts it
    names, the ranking (lexical matcher and classifier) and the decision."""
    brain = build_brain(kb)

    def classify(text: str) -> object:
        reading = brain.read(text)  # as the engine does: cleaned and tagged once per message
        return (brain.danger_in(reading), brain.asks_for_a_person(reading),
                decide(brain.rank(reading), names_a_topic=bool(reading.found.topics)))

    return classify


def timed_build(factory: Callable[[KnowledgeBase], Callable[[str], object]],
                kb: KnowledgeBase) -> tuple[Callable[[str], object], float]:
    start = time.perf_counter()
    classify = factory(kb)
    return classify, (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kb, problems = load_knowledge(args.knowledge_dir)
    if kb is None:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    texts = [q.text for q in load_questions(args.heldout)]
    # The baseline imports scikit-learn lazily; import it now so "build ms" is only the build.
    import sklearn.feature_extraction.text  # noqa: F401
    messages = texts * args.repeat
    bases = {"real": kb, "x20" if args.scale == 20 else f"x{args.scale}": enlarged(kb, args.scale,
                                                                                  random.Random(args.seed))}
    print(f"{len(messages)} messages per series ({len(texts)} held-out texts x {args.repeat})\n")
    header = (f"{'base':<5} {'entries':>7} {'phrasings':>9}  {'method':<8} {'build ms':>8} "
              f"{'p50 ms':>7} {'p99 ms':>7}  {'vs tfidf p50/p99':>16}  target p99")
    print(header)
    print("-" * len(header))
    for name, base in bases.items():
        phrasings = sum(len(e.examples) for e in base.entries)
        rows = {}
        for method, factory in (("gigdesk", ours), ("tfidf", tfidf_matcher)):
            classify, build_ms = timed_build(factory, base)
            timings = latencies_ms(classify, messages)
            rows[method] = (build_ms, percentile(timings, 50), percentile(timings, 99))
        for method, (build_ms, p50, p99) in rows.items():
            ratios = f"{p50 / rows['tfidf'][1]:.2f}x / {p99 / rows['tfidf'][2]:.2f}x"
            target = TARGET_P99_MS.get(name)
            verdict = (f"< {target:g} ms {'met' if p99 < target else 'MISSED'}"
                       if method == "gigdesk" and target else "")
            print(f"{name:<5} {len(base.entries):>7} {phrasings:>9}  {method:<8} {build_ms:>8.1f} "
                  f"{p50:>7.3f} {p99:>7.3f}  {ratios:>16}  {verdict}".rstrip())
    print(f"\ncommand: {shlex.join([Path(sys.executable).as_posix(), *sys.argv])}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--knowledge-dir", default=str(KNOWLEDGE_DIR))
    p.add_argument("--heldout", default=str(HELDOUT))
    p.add_argument("--repeat", type=int, default=20, help="times the held-out texts are sent")
    p.add_argument("--scale", type=int, default=20, help="size of the synthetic base (x the real one)")
    p.add_argument("--seed", type=int, default=7, help="for the synthetic base's perturbations")
    return p


if __name__ == "__main__":
    sys.exit(main())
