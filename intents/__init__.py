"""Recognising what a rider asks: pure code, no I/O.

normalise(text) -> str turns a message into the canonical form the matcher compares;
Matcher, built once from the knowledge base, ranks FAQ entries for a message."""
from intents.normalise import Normaliser
from intents.matcher import Candidate, Matcher, Decision, decide

__all__ = ["Normaliser", "Matcher", "Candidate", "Decision", "decide"]
