"""The FAQ files staff edit (lexicon.yaml, messages.yaml, faq/*.yaml) and the loader that
turns them into frozen objects."""
from knowledge.loader import KnowledgeError, Problem, load_knowledge
from knowledge.model import Entry, KnowledgeBase, Source, TriggerPhrases

__all__ = ["Entry", "KnowledgeBase", "KnowledgeError", "Problem", "Source", "TriggerPhrases",
           "load_knowledge"]
