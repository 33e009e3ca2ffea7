"""The word lists behind the per-request flags, topics and language guesses, and their vectorized matching.

Patterns are RE2 (what Arrow's regex kernels run) and are written for lowercased text. A flag fires when
any pattern of its lexicon matches and no `exclude` pattern does. These are cheap first-pass signals:
one request matching means little; an account whose requests match at a high rate is the signal.
RE2's ``\\b`` is ASCII-only, so stopwords that begin or end with an accented letter are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._prefilter import LexiconPrefilter
from ._utf8 import one_array

__all__ = ["Lexicon", "FLAGS", "TOPICS", "TOPIC_FALLBACK", "SCRIPTS", "STOPWORDS", "candidates"]

_ANSWER = r"(response|responses|answer|answers|completion|completions|output|outputs|reply|replies)"


@dataclass(frozen=True)
class Lexicon:
    """Named RE2 patterns; `exclude` patterns veto a match (e.g. 'step-by-step instructions')."""

    name: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @property
    def regex(self) -> str:
        return "|".join(f"(?:{p})" for p in self.patterns)

    def match(self, texts: pa.Array, rows: np.ndarray | None = None) -> np.ndarray:
        """Boolean per text (nulls are False); `texts` should be lowercased. With `rows`, only those texts
        are tried, the others are False: bool per text (e.g. from `candidates`), or per pattern and text
        (patterns x texts), each pattern then tried alone on its own rows (a text matches the lexicon's
        alternation exactly when it matches one of its patterns) until one holds."""
        if rows is None:
            hit = _bools(pc.match_substring_regex(texts, self.regex))
        elif rows.ndim == 1:
            hit = _match_rows(texts, rows, self.regex)
        else:
            hit = np.zeros(len(texts), dtype=bool)
            for pattern, pattern_rows in zip(self.patterns, rows):
                hit |= _match_rows(texts, pattern_rows & ~hit, pattern)
        if self.exclude and hit.any():  # the veto only where the lexicon matched
            hit &= ~_match_rows(texts, hit, "|".join(f"(?:{p})" for p in self.exclude))
        return hit

    def count(self, texts: pa.Array, rows: np.ndarray | None = None) -> np.ndarray:
        """Number of non-overlapping matches per text (nulls count 0). With `rows`, as in `match`."""
        if rows is not None:
            return self.count(_only(texts, rows)) if rows.any() else np.zeros(len(texts), dtype=np.int64)
        return pc.fill_null(pc.count_substring_regex(texts, self.regex), 0).to_numpy(zero_copy_only=False)


def _match_rows(texts: pa.Array, rows: np.ndarray, regex: str) -> np.ndarray:
    """Whether each text in `rows` matches `regex` (False elsewhere): those rows copied out, as Arrow's
    match kernel does not skip null slots."""
    hit = np.zeros(len(texts), dtype=bool)
    if rows.any():
        hit[rows] = _bools(pc.match_substring_regex(texts.filter(pa.array(rows)), regex))
    return hit


def _only(texts: pa.Array, rows: np.ndarray) -> pa.Array:
    """`texts` with every text outside `rows` null, sharing its buffers: Arrow's regex count kernel skips
    null slots, so this counts on those rows only, without copying them out and back."""
    texts = one_array(texts)
    if pa.types.is_string_view(texts.type):
        texts = texts.cast(pa.string())
    keep = rows if texts.null_count == 0 else rows & texts.is_valid().to_numpy(zero_copy_only=False)
    k = texts.offset  # the bitmap is read from bit k on, as the offsets are from entry k
    bits = np.zeros((k + len(keep) + 7) // 8, dtype=np.uint8)
    packed = np.packbits(np.concatenate([np.zeros(k % 8, dtype=bool), keep]), bitorder="little")
    bits[k // 8:k // 8 + len(packed)] = packed
    return pa.Array.from_buffers(texts.type, len(texts), [pa.py_buffer(bits), *texts.buffers()[1:]], offset=k)


def _bools(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False).astype(bool)


FLAGS: dict[str, Lexicon] = {
    # Chain-of-thought elicitation: asks the model to write out its reasoning, not just answer.
    "is_cot": Lexicon("cot", (
        r"chain[- ]of[- ]thoughts?",
        r"(think|reason|solve|work|explain|answer|go|proceed)[^.\n]{0,40}step[- ]by[- ]step",
        r"step[- ]by[- ]step (reasoning|solution|explanation|derivation|thinking|thought)",
        r"show (all |me )?(of )?(your|the) (work|reasoning|steps|thinking|thought process|derivation)",
        r"(write|lay|spell|set|walk me|talk me) (out|through) (all |each |every )?(of )?(the |your )?"
        r"(complete |full |entire "
        r"|detailed |whole |internal )?(reasoning|thought process|chain|derivation|thinking|logic|steps)",
        r"(explain|describe|detail|justify|articulate|verbalize|narrate) (all |each |every )?(of )?(your|the) "
        r"(full |complete |detailed |internal )?(reasoning|thought process|intermediate steps|thinking|logic)",
        r"think (it |this |things )?(through )?(carefully|aloud|out loud|hard) (before|and|then)",
        r"(internal|inner) monologue",
        r"reasoning (trace|traces|process|steps|chain)",
        r"</?think>",
        r"(before|prior to) (giving|answering|stating|providing|writing)[^.\n]{0,50}(reason|think|explain)",
        r"every (intermediate|single) step",
        r"(full|complete|detailed|explicit|rigorous) (derivation|reasoning|rationale|justification)",
        r"let'?s think",
    )),
    # The model used as a reward model / judge: scoring or comparing responses against criteria.
    "is_rubric": Lexicon("rubric", (
        r"(rate|score|grade|evaluate|judge|assess|rank) (the |this |each |both |all |following |these |two |"
        r"assistant'?s? |ai'?s? |model'?s? |candidate |chatbot'?s? )*" + _ANSWER,
        r"(on|using|with) a (\d+|one|five|ten)?[- ]?(point )?scale (of|from) (0|1|one|zero)",
        r"(score|rating|scale) (of |from |between )?(0|1)[- ]?(to|-|and)[- ]?(5|7|10|100)\b",
        r"(which|what) (response|answer|completion|assistant|output|reply) is "
        r"(better|more helpful|preferred|best|more accurate|safer)",
        r"(response|answer|completion|output|assistant) a\b[\s\S]{0,400}"
        r"(response|answer|completion|output|assistant) b\b",
        r"\[\[(a|b|c|tie)\]\]",
        r"(grading|scoring|evaluation|assessment) (rubric|criteria|guidelines)",
        r"(according to|using|based on|following|against) (the|this|a) (provided |given |following )?"
        r"(grading |scoring )?rubric",
        r"(act as|you are|as) an? (impartial |expert |strict |fair |neutral |helpful )?(judge|grader|evaluator|rater|"
        r"reward model|annotator)",
        r"(output|return|give|provide|respond with) (only )?(a |the |your )?(final )?(numeric |numerical )?"
        r"(score|rating|verdict|grade)\b",
        r"(preference|reward) (label|labels|judgment|judgement|score|model|data)",
        r"(helpfulness|harmlessness|honesty|factuality) (score|rating)",
    )),
    # Synthetic training data: many examples in a structured format.
    "is_synthetic": Lexicon("synthetic", (
        r"(generate|create|produce|write|give me|come up with|make|output|synthesize)\s+(\d+|ten|twenty|thirty|"
        r"fifty|a hundred|one hundred|hundreds of|dozens of|a batch of|a set of|a list of \d+)\s+([\w-]+\s+){0,4}"
        r"(examples|samples|pairs|instructions|prompts|conversations|dialogues|dialogs|problems|questions|tasks|"
        r"records|entries|data ?points|test cases|scenarios|utterances|queries|responses)",
        r"(synthetic|training|fine[- ]?tuning|instruction[- ]tuning|sft|distillation|preference) "
        r"(data|dataset|datasets|examples|corpus|pairs|samples)",
        r"(question|instruction|prompt|input)[- ](answer|response|output|completion) pairs",
        r"(as|in|into) (a |valid )?(json|jsonl)( array| list| format| lines| objects?)?[^.\n]{0,40}"
        r"(each|every|with|where|containing|keys|fields)",
        r"(each|every) (item|entry|example|object|element|record|sample) (should |must )?(has|have|contains?|includes?)"
        r"[^.\n]{0,20}(question|instruction|prompt|input|label)",
        r"\"(instruction|question|prompt|input)\"\s*:[^\n]{0,200}\"(output|answer|response|completion)\"\s*:",
        r"(diverse|varied|unique|non-repeating|distinct) (set of )?(examples|samples|questions|prompts|instructions|"
        r"conversations|problems|tasks)",
    ), exclude=(
        r"(give me|list|name|what are|show me|tell me) (\d+|a few|some|three|five|ten|two) (examples|samples) of",
    )),
    # Identity and system-prompt probes: which model is this, who made it, what are its instructions.
    "is_identity_probe": Lexicon("identity_probe", (
        r"(what|which) (ai |language |large language |llm |underlying |base )?(model|llm|ai|version|system) "
        r"(are you|is this|am i (talking|speaking|chatting) (to|with)|powers you|are you based on|underlies you|"
        r"is behind you|runs you)",
        r"who (created|made|built|trained|developed|designed|programmed) you",
        r"(which|what) (company|organization|lab|team) (created|made|built|trained|developed|owns|is behind) you",
        r"(are you|is this) (actually |really |secretly )?(gpt|chatgpt|claude|gemini|llama|mistral|qwen|deepseek|grok|"
        r"an openai|an anthropic|a google)",
        r"what(')?s? (is )?your (model name|name and version|architecture|training data|training cutoff|"
        r"knowledge cutoff|"
        r"parameter count|system prompt|base model|model version|underlying model)",
        r"(repeat|print|output|reveal|show|display|tell me|recite|dump) (me )?(all |the |your |of |back )*"
        r"(system prompt|system message|initial instructions|previous instructions|instructions above|text above|"
        r"words above|hidden instructions|developer message|prompt above|original instructions|first message)",
        r"ignore (all |any )?(of )?(the |your )?(previous|prior|above|earlier) (instructions|prompts|rules|directions)",
        r"(what are|tell me|list) your (instructions|rules|guidelines|system instructions)",
        r"(describe|tell me about) your (creator|developer|maker|training|architecture)",
    )),
    # Censorship-safe rewrites: reshaping answers on politically sensitive topics to pass a censor.
    "is_censorship_rewrite": Lexicon("censorship_rewrite", (
        r"censor(ship|ed)?[- ](safe|compliant|friendly|proof|free version)",
        r"(politically|ideologically) (sensitive|safe|acceptable|neutral|compliant|harmless)",
        r"(rewrite|rephrase|reword|revise|sanitize|sanitise|adjust|modify|soften|edit|tone down)[^\n]{0,100}"
        r"(sensitive (topic|content|issue|subject|question|material)|to (avoid|comply|pass) (censor|review|filter|"
        r"regulat)|(chinese|prc|mainland|state|party|government) (regulations|censors|censorship|guidelines|"
        r"authorities|narrative|position|line))",
        r"(comply|compliant|consistent|in line|aligned|conform) (with|to) (chinese |prc |mainland |state )?"
        r"(regulations|censorship|core socialist values|"
        r"(the )?(official|party|government)('s)? (position|line|narrative|stance))",
        r"core socialist values",
        r"(without|avoid|avoiding|don'?t|do not|never) "
        r"(mention|mentioning|refer to|referring to|any reference to|discuss|"
        r"discussing|bring up)[^.\n]{0,40}(tiananmen|june 4|taiwan|tibet|xinjiang|uyghur|falun|hong kong protest|"
        r"dalai lama|winnie|dissident)",
        r"(acceptable|safe|suitable|publishable|appropriate) (for|in|to) "
        r"(mainland china|china|chinese (audiences?|readers|"
        r"platforms|regulators|authorities|social media)|the prc)",
        r"(safe|neutral|sanitized|harmless) (alternative |alternate )?(alternative|version|phrasing|rewrite|answer)s? "
        r"(to|for|of)[^.\n]{0,60}"
        r"(politic|sensitive|dissident|authoritarian|party|leader)",
        r"(dissident|dissidents|authoritarianism|party leaders?|communist party|ccp)[^.\n]{0,80}"
        r"(rewrite|rephrase|reword|safe|alternative|neutral|sanitize|avoid)",
    )),
}

# Capability / topic categories, in tie-break order. A request gets the category with the most matches
# (or TOPIC_FALLBACK when none matches) and a bit mask of every category that matched.
TOPICS: dict[str, Lexicon] = {
    "code": Lexicon("code", (
        r"```", r"\b(python|javascript|typescript|java|c\+\+|c#|rust|golang|kotlin|swift|php|ruby|sql|html|css|bash|"
        r"regex|api|function|class|method|compile|compiler|bug|debug|stack ?trace|exception|refactor|unit tests?|"
        r"algorithm|code|script|program|repository|git|dockerfile|kubernetes|json schema)\b",
        r"\bdef \w+\(", r"\bimport \w+", r"\w+\(\)",
    )),
    "math": Lexicon("math", (
        r"\b(solve|equation|equations|integral|derivative|prove|proof|theorem|lemma|probability|matrix|polynomial|"
        r"calculate|algebra|geometry|calculus|arithmetic|factorize|prime|fraction|percent|percentage|"
        r"how many|how much|sum of|limit of|real numbers|integer|integers)\b",
        r"\d\s*[-+*/^=×÷]\s*\d", r"\\(frac|int|sum|sqrt|cdot)", r"\$[^$\n]{1,80}\$",
    )),
    "translation": Lexicon("translation", (
        r"\b(translate|translation|translated|translating|traduis|traduisez|traduire|traduce|traducir|traduzir|"
        r"tradurre|traduci|vertaal|uebersetze)\b|übersetz|翻译|翻訳|번역|перевед|переклад",
        r"\b(into|in|to) (english|french|spanish|german|chinese|mandarin|japanese|korean|russian|arabic|portuguese|"
        r"italian|hindi|dutch|turkish|vietnamese|indonesian|polish|swahili)\b",
    )),
    "summarization": Lexicon("summarization", (
        r"\b(summarize|summarise|summarizing|summary|tl;? ?dr|key points|main points|condense|abstract|gist)\b",
    )),
    "classification": Lexicon("classification", (
        r"\b(classify|classification|categorize|categorise|categorization|label|labels|sentiment|intent|"
        r"positive or negative|positive, negative|spam or (not|ham)|which category|toxic or|is this (spam|toxic|"
        r"offensive))\b",
    )),
    "extraction": Lexicon("extraction", (
        r"\b(extract|extraction|named entit|entities|parse|pull out|structured data|key[- ]value|fields? from|"
        r"into a table|ner)\b",
    )),
    "reasoning": Lexicon("reasoning", (
        r"\b(puzzle|riddle|logic|logical|deduce|deduction|infer|inference|syllogism|paradox|brain ?teaser|"
        r"knights and knaves|lateral thinking|which of the following|true or false|counterfactual)\b",
        r"\bif\b[^.\n]{0,60}\bthen\b",
    )),
    "agentic": Lexicon("agentic", (
        r"\b(tool call|tool calls|function call|function calling|tool use|tools available|available tools|"
        r"you have access to (the following )?tools|agent|agentic|browse the web|execute the command|"
        r"run the command|shell command|observation:|action input|thought:)",
    )),
    "writing": Lexicon("writing", (
        r"\b(essay|poem|poems|story|stories|novel|blog post|article|email|letter|cover letter|speech|lyrics|haiku|"
        r"limerick|slogan|tagline|paragraph|rewrite|proofread|draft|outline|creative writing|plot|narrative|"
        r"tone|headline|caption|tweet|linkedin post)\b",
    )),
    "knowledge": Lexicon("knowledge", (
        r"^\s*(what|who|when|where|why|how|which|explain|define|describe|tell me about)\b",
        r"\b(history of|meaning of|difference between|what is|what are|who was|who is|explain|definition of)\b",
    )),
}
TOPIC_FALLBACK = "chat"

# Scripts that name a language outright (share of the letters in the text). 'ja' wins over 'zh' when
# kana are present (see signatures.language_guess).
SCRIPTS: dict[str, str] = {
    "ja": r"[\p{Hiragana}\p{Katakana}]",
    "zh": r"\p{Han}",
    "ko": r"\p{Hangul}",
    "ru": r"\p{Cyrillic}",
    "ar": r"\p{Arabic}",
    "hi": r"\p{Devanagari}",
    "el": r"\p{Greek}",
    "he": r"\p{Hebrew}",
    "th": r"\p{Thai}",
}

# Latin-script languages by their commonest function words (ASCII-bounded; the most hits wins).
STOPWORDS: dict[str, str] = {
    "en": r"\b(the|and|is|are|of|to|in|that|it|you|what|how|with|for|this|please|can|be|on|an)\b",
    "es": r"\b(el|los|las|que|por|para|con|una|es|del|como|pero|muy|esta|este|usted|puedes|hola)\b",
    "fr": r"\b(le|les|des|est|et|une|pour|dans|ce|qui|pas|vous|avec|sur|je|sont|mais|cette)\b",
    "de": r"\b(der|die|das|und|ist|nicht|ein|eine|zu|den|mit|von|ich|sie|auf|bitte|auch|wie|sind)\b",
    "pt": r"\b(os|que|uma|um|para|com|por|do|da|em|voce|muito|mas|isso|sobre|pode)\b",
    "it": r"\b(il|che|di|non|una|per|con|sono|gli|della|del|questo|come|anche|puoi)\b",
    "nl": r"\b(het|een|en|van|niet|dat|op|te|zijn|ik|met|voor|je|wat|hoe)\b",
}


# Flags are matched pattern by pattern (each on the rows holding its own literals: a small RE2 automaton
# on few rows); topics are counted as whole alternations (counts of the alternation are not sums).
_PREFILTER = LexiconPrefilter([(p,) for lex in FLAGS.values() for p in lex.patterns]
                              + [lex.patterns for lex in TOPICS.values()])


def candidates(lowered: pa.Array) -> dict[str, np.ndarray]:
    """Per flag name, the (lowercased) texts each of its patterns could match (patterns x texts); per
    topic name, the texts its lexicon could match. From one compiled pass (`traffic._prefilter`):
    `Lexicon.match` and `count` need only try these, with the same results."""
    rows = _PREFILTER.candidates(lowered)
    out, at = {}, 0
    for name, lex in FLAGS.items():
        out[name] = rows[at:at + len(lex.patterns)]
        at += len(lex.patterns)
    return out | dict(zip(TOPICS, rows[at:]))
