"""Reading a message within the conversation so far: a follow-up (那要什么材料, 北京的呢) is
answered within the topic under discussion; a message naming a new subject wins over it."""
from __future__ import annotations


from bot.conversation.model import Turn
from intents import decide
from intents.question import asks
from knowledge import Entry

SHORT_REPLY = 3  # characters: 对, 签了, 4米2 (greetings, thanks and sounds are answered before)
SHORT_FOLLOW_UP = 8  # characters: 北京的呢, 众包的也算吗
PLACE_ASPECT = "地区"  # concepts.yaml's aspect for a city or province named in a follow-up
# A situation stated as the ordinary one (本地户口, 户口也是这边的), which leads nowhere new.
USUAL_CASE = ("本地", "当地", "本市", "也是", "这边的", "这里的")
OWN_ANSWER_IN_CONTEXT = 45.0  # above Thresholds.answer (40): leaving a topic takes more than starting one

Sure = tuple[Entry, float | None, str, str, bool]  # (entry, score, outcome, the words it answers, a guess)


def sure_answer(turn: Turn, candidates: list, decision) -> Sure | None:
    """(entry, score, outcome, the words it answers, whether it is a guess) when the bot is sure
    enough to answer, else None.
    A new topic wins; a message that asks something of the topic (an aspect such as 材料,
    or a short 北京的呢) without a confident answer of its own is read within the last one."""
    brain, reading, context = turn.brain, turn.reading, turn.context
    found = reading.found
    # A message the bot cannot answer on its own is read within the topic, unless it is
    # off-topic (no candidates): riders go on in few words (咋参加, 学完给发证不, 我不是会员).
    # Only who the rider is (我是专送的, 快递员也有吗) does not change the subject.
    subject = found.topics - set(brain.kb.concepts.rider_topics)
    current = brain.kb.entry(context.get("entry", "")) if context else None
    if current is not None and len(turn.cleaned) <= SHORT_REPLY and not (found.topics or found.aspects):
        # 对, 签了, 4米2, 八百: a word or two in answer, about the topic under way.
        return current, None, "followup", context["text"] + "，" + reading.text, False
    if current is not None and subject and _states_the_situation(turn, subject):
        # 没合同, 本地户口, 签过一个劳务协议: a fact for the topic under way, not a question of its
        # own. Where the entry declares where the fact leads (受伤 + 有劳动合同 -> 工伤认定), there.
        led_to = next((brain.kb.entry(current.related[name]) for name in sorted(subject)
                       if name in current.related and not _the_usual_case(turn)), None)
        return led_to or current, None, "followup", context["text"] + "，" + reading.text, False
    # Within a topic, a message's own answer wins only when it is clearly its own question
    # (要啥条件才能申请 after hardship help is still about hardship help, not legal aid).
    own_answer = decision.kind == "answer" and candidates[0].score >= OWN_ANSWER_IN_CONTEXT
    # A guess (an answer on the readings' agreement alone) is only a guess after the earlier words.
    sure_alone = decision.kind == "answer" and not decision.guess
    if context and not (own_answer and subject) and \
            (_asks_more(turn) or (not sure_alone and candidates)):
        if new := _new_subject(turn, candidates):
            return new
        if followed := _follow_up(turn, candidates):
            return followed[0], followed[1], "followup", context["text"] + "，" + reading.text, False
    if decision.kind == "answer":
        return brain.kb.entry(candidates[0].entry_id), candidates[0].score, "answer", reading.text, decision.guess
    return None


def _new_subject(turn: Turn, candidates: list) -> Sure | None:
    """A message naming a topic the conversation had not (医药费 after a crash, 仲裁 after a
    closed account) is its own question: its best entry, if plausible, rather than the old
    topic that the earlier words would pull towards."""
    brain, context, thresholds = turn.brain, turn.context, turn.engine.thresholds
    current = brain.kb.entry(context.get("entry", ""))
    before = brain.concepts_in(context["text"]).topics | \
        (brain.concepts_in(current.title).topics if current else frozenset()) | set(brain.kb.concepts.rider_topics)
    if not (turn.reading.found.topics - before) or not candidates:
        return None
    top = candidates[0]
    if top.score < thresholds.clarify or top.entry_id == context.get("entry") or \
            (entry := brain.kb.entry(top.entry_id)) is None:
        return None
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    if top.score - runner_up < thresholds.margin:
        return None
    return entry, top.score, "answer", turn.reading.text, False


def _follow_up(turn: Turn, candidates: list) -> tuple[Entry, float | None] | None:
    """The entry a follow-up asks for, within the topic under discussion: first what the
    topic's entry declares for the aspect asked (材料 -> its evidence entry), then the
    rider's earlier words and these together, as one question."""
    brain, context, thresholds = turn.brain, turn.context, turn.engine.thresholds
    found = turn.reading.found
    current = brain.kb.entry(context.get("entry", ""))
    if current is None:
        return None
    # In the order concepts.yaml lists them: a set's order changes from run to run.
    for aspect in (a for a in brain.kb.concepts.aspects if a in found.aspects):
        if (target := brain.kb.entry(current.related.get(aspect, ""))) is not None:
            return target, 100.0
    # The message's own best entry, when it is a neighbour of the topic (the same FAQ file:
    # 那我咋加入 after the members' benefits), rather than the earlier words' entry again.
    # Not for a place alone (武汉的呢 after the pilot regions): that asks the same topic of a city.
    own = candidates[0] if candidates and found.aspects != {PLACE_ASPECT} else None
    if own and own.entry_id != current.id and own.score >= thresholds.clarify and \
            (neighbour := brain.kb.entry(own.entry_id)) and \
            (neighbour.file == current.file or neighbour.id in current.related.values()):
        return neighbour, own.score
    if not found.topics and found.aspects <= {PLACE_ASPECT} and not own:
        # 在西安 美团的, 饿了么的: where, or for which platform; still the same question.
        return current, None
    together = brain.rank(context["text"] + "，" + turn.reading.text)
    top = together[0] if together else None
    if top is None or (entry := brain.kb.entry(top.entry_id)) is None:
        return None
    if decide(together, thresholds).kind == "answer":
        return entry, top.score
    # Within the topic, the topic's own entries need less evidence than a new subject.
    if top.entry_id in {current.id, *current.related.values()} and top.score >= thresholds.clarify:
        return entry, top.score
    # Nothing of its own (北京的呢, 要啥手续): the rider is still on the same topic.
    if not found.topics:
        return current, None
    return None


def _states_the_situation(turn: Turn, subject: set[str]) -> bool:
    """The message names only the rider's situation (合同, 户口: concepts.yaml's situation_topics),
    perhaps a place (户口在六安农村 人在合肥), and asks nothing."""
    return subject <= set(turn.brain.kb.concepts.situation_topics) and \
        turn.reading.found.aspects <= {PLACE_ASPECT} and not asks(turn.inbound.text, turn.cleaned)


def _the_usual_case(turn: Turn) -> bool:
    """本地户口, 户口也是重庆的: the fact is the ordinary case, so what it would lead to (paying
    social insurance away from one's hukou) does not apply."""
    return any(word in turn.cleaned for word in USUAL_CASE)


def _asks_more(turn: Turn) -> bool:
    cleaned, found = turn.cleaned, turn.reading.found
    return bool(found.aspects or found.topics) or \
        (len(cleaned) <= SHORT_FOLLOW_UP and cleaned.endswith(("呢", "吗")))


