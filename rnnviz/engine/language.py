"""A generated language with a known answer: subject–verb number agreement.

Linzen, Dupoux & Goldberg 2016 ("Assessing the ability of LSTMs to learn syntax-sensitive
dependencies", TACL) ask a network to read an English sentence up to its main verb and say
whether that verb is singular or plural. The answer is the number of the subject, which may
lie many words back, and nouns of the other number in between ("attractors") pull a network
that forgot the subject towards the wrong answer:

    the keys to the old cabinet are
        ^^^^ subject (plural)   ^^^^^^^ attractor (singular)   -> "are" (plural)

Here the sentences come from a small grammar over a fixed vocabulary of 100 words (no
downloads), so every answer is known and the controls a page offers hold exactly:

    sentence = "the" adjective{0,2} SUBJECT modifier* adverb{0,2} VERB
    modifier = preposition "the" adjective{0,2} NOUN              3 to 5 words
             | "that" "the" adjective{0,2} NOUN RELATIVE-VERB       4 to 6 (object relative)
             | "that" RELATIVE-VERB "the" adjective{0,2} NOUN       4 to 6 (subject relative)

A relative clause's verb agrees with the noun just before it: in the object relative that is
the clause's own noun ("that the dog sees"), in the subject relative the noun the clause
follows ("the authors that like the dog": the low attachment, the natural reading). Adverbs
before the verb ("probably are") let every distance be made, 2 and 3 included.

The network reads every token before the main verb; label 0 = singular, 1 = plural. The
*distance* is the number of tokens from the subject to the verb (T − subject index: 1 for
"the keys are"), *attractors* are intervening nouns of the other number, and the *nearest
noun* baseline is the number of the last noun before the verb (what a network that forgot
the subject says). Linzen et al. store the same quantities per dependency.

The smallest distance a sentence can have (`min_distance`) is

    1 + 3·max(attractors, relative) + relative

because every attractor needs its own noun phrase of at least 3 words ("on the cabinets"),
and a relative clause needs at least 4 ("that the dog sees").

Pure NumPy and the standard library; no JAX, no Streamlit.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np

# --- The vocabulary ---------------------------------------------------------------------------

PAD_WORD, UNK_WORD = "<pad>", "<unk>"
PAD, UNK = 0, 1
NUMBERS = ("singular", "plural")
SINGULAR, PLURAL = 0, 1

DETERMINER = "the"
RELATIVE_PRONOUN = "that"
# (singular, plural) pairs. A few irregular plurals, so that number is not just a final "s".
NOUNS = (
    ("key", "keys"), ("cabinet", "cabinets"), ("author", "authors"), ("dog", "dogs"),
    ("cat", "cats"), ("teacher", "teachers"), ("student", "students"), ("book", "books"),
    ("table", "tables"), ("house", "houses"), ("friend", "friends"), ("doctor", "doctors"),
    ("painting", "paintings"), ("car", "cars"), ("window", "windows"), ("letter", "letters"),
    ("farmer", "farmers"), ("child", "children"), ("man", "men"), ("woman", "women"),
)
# Adjectives in English order (opinion, size, age, colour): a noun phrase takes at most one
# from each group, in this order, so "the famous old dog" but never "the old famous dog" or
# "the big small dog".
ADJECTIVE_GROUPS = (("famous", "quiet", "happy"), ("big", "small", "tall"),
                    ("old", "new", "young"), ("red", "green", "dark"))
ADJECTIVES = tuple(w for group in ADJECTIVE_GROUPS for w in group)
PREPOSITIONS = ("of", "to", "on", "in", "near", "behind", "with", "under", "beside", "from")
# Number-neutral fillers before the main verb ("the keys probably are"). Two of them are one
# of each group, in this order ("probably never", not "never probably").
ADVERB_GROUPS = (("probably", "also", "still"), ("often", "never", "always"))
ADVERBS = tuple(w for group in ADVERB_GROUPS for w in group)
# Verbs inside relative clauses, (singular, plural); disjoint from the main verbs, so the
# first main-verb word of a typed sentence is its main verb.
RELATIVE_VERBS = (
    ("likes", "like"), ("sees", "see"), ("knows", "know"), ("loves", "love"),
    ("hates", "hate"), ("helps", "help"), ("follows", "follow"), ("meets", "meet"),
)
MAIN_VERBS = (
    ("is", "are"), ("was", "were"), ("has", "have"), ("seems", "seem"), ("looks", "look"),
    ("remains", "remain"),
)

ROLES = ("padding", "unknown", "determiner", "relative pronoun", "noun", "adjective",
         "preposition", "adverb", "relative verb", "main verb")


def _build_vocabulary():
    """(words, roles, numbers) in one deterministic order: the ids are positions in it."""
    entries = [(PAD_WORD, "padding", None), (UNK_WORD, "unknown", None),
               (DETERMINER, "determiner", None), (RELATIVE_PRONOUN, "relative pronoun", None)]
    entries += [(w, "noun", n) for pair in NOUNS for n, w in enumerate(pair)]
    entries += [(w, "adjective", None) for w in ADJECTIVES]
    entries += [(w, "preposition", None) for w in PREPOSITIONS]
    entries += [(w, "adverb", None) for w in ADVERBS]
    entries += [(w, "relative verb", n) for pair in RELATIVE_VERBS for n, w in enumerate(pair)]
    entries += [(w, "main verb", n) for pair in MAIN_VERBS for n, w in enumerate(pair)]
    words, roles, numbers = zip(*entries)
    return tuple(words), tuple(roles), tuple(numbers)


VOCAB, ROLE, NUMBER = _build_vocabulary()  # ROLE[i], NUMBER[i] (0, 1 or None) of word i
VOCAB_SIZE = len(VOCAB)
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
assert len(WORD_ID) == VOCAB_SIZE, "a word appears twice in the vocabulary"
assert VOCAB[PAD] == PAD_WORD and VOCAB[UNK] == UNK_WORD

# --- Bounds -----------------------------------------------------------------------------------

MAX_DISTANCE = 30  # tokens from the subject to the verb
MAX_SUBJECT_ADJECTIVES = 2
MAX_WORDS = 40  # tokens a sentence (generated or typed) may have before its verb
MAX_CHARS = 500  # characters of typed text that are read
MAX_WORD_CHARS = 24  # a longer typed "word" is shown cut, with an ellipsis
MIN_NOUN_PHRASE = 3  # "on the cabinets": the shortest modifier, one noun
MAX_ADJECTIVES = 2  # per noun phrase (of the 4 groups)
MAX_ADVERBS = 2  # before the main verb
# The longest generated prefix: "the" + adjectives + subject, then the distance.
assert 1 + MAX_SUBJECT_ADJECTIVES + MAX_DISTANCE <= MAX_WORDS


def min_distance(attractors: int = 0, relative: bool = False) -> int:
    """The smallest subject–verb distance a sentence with these controls can have.

    1 (the subject itself) + 3 words for each noun phrase that holds an attractor (at least
    one phrase when there is a relative clause) + 1 more word for the relative clause
    ("that the dog sees" is 4 words, "on the dogs" 3).
    """
    phrases = max(int(attractors), 1 if relative else 0)
    return 1 + MIN_NOUN_PHRASE * phrases + (1 if relative else 0)


def max_attractors(distance: int, relative: bool = False) -> int:
    """The most attractors a sentence of this distance can hold (0 if even that is too short)."""
    budget = int(distance) - 1 - (1 if relative else 0)
    return max(budget // MIN_NOUN_PHRASE, 0)


MAX_ATTRACTORS = min(max_attractors(MAX_DISTANCE, False), max_attractors(MAX_DISTANCE, True))


# --- What a word is ---------------------------------------------------------------------------

def word_id(word_or_id) -> int:
    """The id of a word (unknown words: UNK), or the id itself after a range check."""
    if isinstance(word_or_id, str):
        return WORD_ID.get(word_or_id.casefold(), UNK)
    i = int(word_or_id)
    if not 0 <= i < VOCAB_SIZE:
        raise ValueError(f"token id {i} is outside the vocabulary (0 to {VOCAB_SIZE - 1})")
    return i


def word_role(word_or_id) -> str:
    """One of ROLES: "noun", "main verb", ... ("unknown" for words not in the vocabulary)."""
    return ROLE[word_id(word_or_id)]


def word_number(word_or_id) -> int | None:
    """0 (singular) or 1 (plural) for nouns and verbs, None for every other word."""
    return NUMBER[word_id(word_or_id)]


def noun_number(word_or_id) -> int | None:
    """0 or 1 if the word is a noun, else None."""
    i = word_id(word_or_id)
    return NUMBER[i] if ROLE[i] == "noun" else None


def verb_number(word_or_id) -> int | None:
    """0 or 1 if the word is a verb (main or relative), else None."""
    i = word_id(word_or_id)
    return NUMBER[i] if ROLE[i] in ("main verb", "relative verb") else None


def is_noun(word_or_id) -> bool:
    return word_role(word_or_id) == "noun"


def is_main_verb(word_or_id) -> bool:
    return word_role(word_or_id) == "main verb"


def inflect(word: str, number: int) -> str:
    """The form of a noun or verb in the given number: inflect("key", 1) == "keys"."""
    for pairs in (NOUNS, RELATIVE_VERBS, MAIN_VERBS):
        for pair in pairs:
            if word in pair:
                return pair[number]
    raise ValueError(f"{word!r} is not a noun or verb of the vocabulary")


def ids_of(words: Iterable[str]) -> np.ndarray:
    """Ids of words (unknown: UNK), np.int32."""
    return np.array([word_id(w) for w in words], dtype=np.int32)


def words_of(ids) -> tuple[str, ...]:
    """Words of ids; raises ValueError for an id outside the vocabulary."""
    return tuple(VOCAB[word_id(int(i))] for i in np.asarray(ids).reshape(-1))


def _noun_positions(words: Sequence[str]) -> tuple[int, ...]:
    return tuple(i for i, w in enumerate(words) if noun_number(w) is not None)


def _count_attractors(words: Sequence[str], subject: int, end: int) -> int:
    """Nouns of the other number than words[subject] strictly between subject and end."""
    label = noun_number(words[subject])
    return sum(1 for w in words[subject + 1:end] if noun_number(w) not in (None, label))


# --- Generated sentences ----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # eq=False: a dataclass __eq__ cannot compare arrays
class Sentence:
    """One generated sentence, cut before its main verb.

    ids: np.int32 (T,), read-only, the tokens before the verb (what the network reads).
    words: those tokens as words. label: the verb's number (0 singular, 1 plural), which is
    the subject's. subject: index of the subject noun in words. verb: the main verb that
    follows (e.g. "are"). distance: T − subject. attractors: nouns of the other number between
    subject and verb. nearest_label: number of the last noun before the verb. relative:
    whether the sentence has a relative clause.
    """
    ids: np.ndarray
    words: tuple[str, ...]
    label: int
    subject: int
    verb: str
    distance: int
    attractors: int
    nearest_label: int
    relative: bool

    @property
    def text(self) -> str:
        """The whole sentence, verb included: what the page's text box shows."""
        return " ".join(self.words + (self.verb,))

    @property
    def nouns(self) -> tuple[int, ...]:
        """Indices of every noun in words, the subject first."""
        return _noun_positions(self.words)


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return int(value)


def _check_controls(distance, attractors, relative) -> tuple[int, int, bool]:
    distance = _check_int("distance", distance, 1, MAX_DISTANCE)
    attractors = _check_int("attractors", attractors, 0, MAX_ATTRACTORS)
    relative = bool(relative)
    shortest = min_distance(attractors, relative)
    if distance < shortest:
        what = f"{attractors} attractor{'s' if attractors != 1 else ''}"
        if relative:
            what += " and a relative clause"
        raise ValueError(
            f"a subject–verb distance of {distance} is too short for {what}: each intervening "
            f"noun needs at least 3 words (\"on the cabinets\") and a relative clause at least "
            f"4 (\"that the dog sees\"), so the smallest distance is {shortest}")
    return distance, attractors, relative


def feasible_distance(distance: int, attractors: int = 0, relative: bool = False) -> int:
    """The distance clamped into what these controls allow: [min_distance, MAX_DISTANCE].

    For a page whose sliders may ask for "distance 2 with 3 attractors": it shows the
    distance it can make instead of failing. attractors must be within 0..MAX_ATTRACTORS.
    """
    attractors = _check_int("attractors", attractors, 0, MAX_ATTRACTORS)
    return int(min(max(int(distance), min_distance(attractors, bool(relative))), MAX_DISTANCE))


def _relative_range(phrases: int, budget: int, relative: bool) -> tuple[int, int]:
    """How many of `phrases` modifiers may be relative clauses to fill `budget` words.

    m phrases with r relatives span 3m + r words bare and 5m + r + 2 with every adjective and
    adverb slot filled; relative=False means no relative clause, True at least one.
    """
    low, high = (1, phrases) if relative else (0, 0)
    low = max(low, budget - (MIN_NOUN_PHRASE + MAX_ADJECTIVES) * phrases - MAX_ADVERBS)
    high = min(high, budget - MIN_NOUN_PHRASE * phrases)
    return low, high


def _fits(phrases: int, budget: int, relative: bool) -> bool:
    low, high = _relative_range(phrases, budget, relative)
    return low <= high


def _pick(rng: np.random.Generator, population: int, k: int) -> list[int]:
    """k distinct indices of range(population), in random order."""
    if k == 0:
        return []
    return [int(i) for i in rng.choice(population, size=k, replace=False)]


def _plan(rng: np.random.Generator, distance: int, attractors: int, relative: bool):
    """How many modifiers, which are relative, how many adjectives each, how many adverbs.

    Returns (kinds, adjectives, adverbs): kinds[i] is "pp" or "rc" for modifier i. The
    words between subject and verb add up to distance − 1 exactly.
    """
    budget = distance - 1
    fewest = max(attractors, 1 if relative else 0)
    # Every count in this list fits (the spans of consecutive counts overlap, so once the
    # controls pass min_distance the list is not empty); each is equally likely.
    counts = [m for m in range(fewest, budget // MIN_NOUN_PHRASE + 1)
              if _fits(m, budget, relative)]
    phrases = int(counts[int(rng.integers(len(counts)))])
    low, high = _relative_range(phrases, budget, relative)
    relatives = int(rng.integers(low, high + 1))
    kinds = ["pp"] * phrases
    for i in _pick(rng, phrases, relatives):
        kinds[i] = "rc"
    # The words left over go to adjective slots (2 per phrase) and adverb slots (2), each
    # slot filled at most once, so every spread of adjectives is possible.
    slack = budget - MIN_NOUN_PHRASE * phrases - relatives
    slots = np.zeros(MAX_ADJECTIVES * phrases + MAX_ADVERBS, dtype=int)
    slots[_pick(rng, slots.size, slack)] = 1
    adjectives = [int(slots[MAX_ADJECTIVES * i:MAX_ADJECTIVES * (i + 1)].sum())
                  for i in range(phrases)]
    adverbs = int(slots[MAX_ADJECTIVES * phrases:].sum())
    return kinds, adjectives, adverbs


def _from_groups(rng: np.random.Generator, groups, k: int) -> list[str]:
    """One word from each of k distinct groups, the groups in their order."""
    chosen = sorted(_pick(rng, len(groups), k))
    return [groups[g][int(rng.integers(len(groups[g])))] for g in chosen]


def _noun_phrase(rng: np.random.Generator, noun: str, adjectives: int) -> list[str]:
    """"the" + adjectives (in English order) + noun."""
    return [DETERMINER] + _from_groups(rng, ADJECTIVE_GROUPS, adjectives) + [noun]


def _modifier(rng, kind: str, noun: str, adjectives: int, previous_number: int) -> list[str]:
    """One modifier around `noun`; previous_number is that of the noun before it."""
    phrase = _noun_phrase(rng, noun, adjectives)
    if kind == "pp":
        return [PREPOSITIONS[int(rng.integers(len(PREPOSITIONS)))]] + phrase
    verb = RELATIVE_VERBS[int(rng.integers(len(RELATIVE_VERBS)))]
    if rng.random() < 0.5:  # object relative: its verb agrees with its own noun
        return [RELATIVE_PRONOUN] + phrase + [verb[noun_number(noun)]]
    return [RELATIVE_PRONOUN, verb[previous_number]] + phrase  # subject relative


def generate(rng: np.random.Generator, distance: int, attractors: int = 0,
             relative: bool = False) -> Sentence:
    """One sentence with exactly these controls.

    distance: tokens from the subject to the verb, 1..MAX_DISTANCE (1: "the keys are").
    attractors: exactly this many nouns of the other number between subject and verb; the
      other intervening nouns (there may be some, to fill the distance) share the subject's
      number.
    relative: True gives at least one relative clause, False none.
    The smallest feasible distance is min_distance(attractors, relative); a shorter one (or
    a value out of bounds) raises ValueError; feasible_distance clamps.
    """
    distance, attractors, relative = _check_controls(distance, attractors, relative)
    label = int(rng.integers(2))
    kinds, adjectives, adverbs = _plan(rng, distance, attractors, relative)
    attracting = set(_pick(rng, len(kinds), attractors))

    lemma = int(rng.integers(len(NOUNS)))
    # Other nouns use other lemmas: "the key to the key" reads as a mistake.
    others = [i for i in range(len(NOUNS)) if i != lemma]
    words = _noun_phrase(rng, NOUNS[lemma][label], int(rng.integers(MAX_SUBJECT_ADJECTIVES + 1)))
    subject = len(words) - 1
    previous = label
    for i, (kind, adj) in enumerate(zip(kinds, adjectives)):
        number = 1 - label if i in attracting else label
        noun = NOUNS[others[int(rng.integers(len(others)))]][number]
        words += _modifier(rng, kind, noun, adj, previous)
        previous = number
    words += ([ADVERBS[int(rng.integers(len(ADVERBS)))]] if adverbs == 1
              else _from_groups(rng, ADVERB_GROUPS, adverbs))
    verb = MAIN_VERBS[int(rng.integers(len(MAIN_VERBS)))][label]

    ids = ids_of(words)
    ids.setflags(write=False)
    words = tuple(words)
    return Sentence(ids=ids, words=words, label=label, subject=subject, verb=verb,
                    distance=len(words) - subject,
                    attractors=_count_attractors(words, subject, len(words)),
                    nearest_label=noun_number(words[_noun_positions(words)[-1]]),
                    relative=RELATIVE_PRONOUN in words)


class Batch(NamedTuple):
    """Sentences as arrays, right-padded with PAD.

    ids (n, width) int32; lengths, labels (0/1), nearest (the nearest noun's number),
    distance, attractors, subject (index of the subject noun): (n,) int32; relative (n,) bool.
    """
    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    nearest: np.ndarray
    distance: np.ndarray
    attractors: np.ndarray
    subject: np.ndarray
    relative: np.ndarray


def _check_range(name: str, bounds, low: int, high: int) -> tuple[int, int]:
    try:
        first, last = bounds
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), not {bounds!r}") from None
    first = _check_int(f"{name}[0]", first, low, high)
    last = _check_int(f"{name}[1]", last, low, high)
    if first > last:
        raise ValueError(f"{name} must be (low, high) with low <= high, not {bounds!r}")
    return first, last


def _draw_controls(rng, distances, attractors, relative_rate) -> tuple[int, int, bool]:
    """One sentence's distance (uniform), relative flag and attractor count.

    Distance comes first, so accuracy by distance has even support; a relative clause is
    dropped where the distance is too short for one, and attractors are capped at what the
    distance holds (Batch.attractors says how many each sentence got).
    """
    distance = int(rng.integers(distances[0], distances[1] + 1))
    relative = bool(rng.random() < relative_rate) and distance >= min_distance(0, True)
    cap = max_attractors(distance, relative)
    high = min(attractors[1], cap)
    low = min(attractors[0], high)
    return distance, int(rng.integers(low, high + 1)), relative


def sample(seed: int, n: int, distances: tuple[int, int] = (1, 10),
           attractors: tuple[int, int] = (0, 0), relative_rate: float = 0.0,
           width: int | None = None) -> Batch:
    """n generated sentences, the same for the same arguments.

    distances: (low, high), each sentence's distance uniform in it (inclusive).
    attractors: (low, high), uniform, capped at what each sentence's distance holds.
    relative_rate: the chance that a sentence has a relative clause (where it fits).
    width: columns of ids (default the longest sentence; MAX_WORDS fits every sentence, for
      one compiled shape). Subject numbers are drawn at random, so labels are balanced up to
      chance. Sentence i is the same for every n > i (one generator, drawn in order).
    """
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    n = _check_int("n", n, 1, 10**6)
    distances = _check_range("distances", distances, 1, MAX_DISTANCE)
    attractors = _check_range("attractors", attractors, 0, MAX_ATTRACTORS)
    relative_rate = float(relative_rate)
    if not 0.0 <= relative_rate <= 1.0:  # also catches NaN
        raise ValueError(f"relative_rate must be between 0 and 1, not {relative_rate}")

    rng = np.random.default_rng(seed)
    sentences = [generate(rng, *_draw_controls(rng, distances, attractors, relative_rate))
                 for _ in range(n)]
    lengths = np.array([len(s.ids) for s in sentences], dtype=np.int32)
    longest = int(lengths.max())
    width = longest if width is None else _check_int("width", width, longest, 10**4)
    ids = np.full((n, width), PAD, dtype=np.int32)
    for row, s in zip(ids, sentences):
        row[:len(s.ids)] = s.ids

    def column(field, dtype=np.int32):
        return np.array([getattr(s, field) for s in sentences], dtype=dtype)

    return Batch(ids=ids, lengths=lengths, labels=column("label"),
                 nearest=column("nearest_label"), distance=column("distance"),
                 attractors=column("attractors"), subject=column("subject"),
                 relative=column("relative", bool))


# --- Baselines --------------------------------------------------------------------------------

def _labels_array(labels) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("no labels: a baseline needs at least one sentence")
    return labels


def majority_label(labels) -> int:
    """The more frequent label (ties: singular, 0)."""
    labels = _labels_array(labels)
    return int(np.mean(labels == PLURAL) > 0.5)


def majority_accuracy(labels) -> float:
    """Accuracy of always answering the more frequent label: max(p, 1 − p)."""
    labels = _labels_array(labels)
    plural = float(np.mean(labels == PLURAL))
    return max(plural, 1.0 - plural)


def nearest_noun_accuracy(batch: Batch) -> float:
    """Accuracy of agreeing with the nearest noun (a network that forgot the subject)."""
    labels = _labels_array(batch.labels)
    return float(np.mean(np.asarray(batch.nearest).reshape(-1) == labels))


def accuracy_by_distance(correct, distance) -> tuple[np.ndarray, np.ndarray]:
    """(distances, accuracies): each distance that occurs (ascending, int) and the mean of
    `correct` over the sentences at that distance (float64). Empty input: two empty arrays."""
    correct = np.asarray(correct, dtype=np.float64).reshape(-1)
    distance = np.asarray(distance).reshape(-1)
    if correct.shape != distance.shape:
        raise ValueError(f"correct has {correct.size} entries but distance {distance.size}")
    values, where = np.unique(distance.astype(np.int64), return_inverse=True)
    counts = np.bincount(where, minlength=values.size)
    sums = np.bincount(where, weights=correct, minlength=values.size)
    return values, sums / np.maximum(counts, 1)


# --- Typed text -------------------------------------------------------------------------------

EXAMPLE = "the keys to the old cabinet are"
# A token is a run of letters and digits, or one non-space character that is neither (kept
# only when it is a symbol such as an emoji, see _keep). Underscores split words too.
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")


class Tokens(NamedTuple):
    """Typed text as tokens.

    ids: np.int32 (T,) vocabulary ids (UNK for unknown words; never PAD). words: the tokens
    as read (lower case; a word over MAX_WORD_CHARS shown cut, with "…"); they hold only
    letters, digits and single symbols, so they are safe in markdown. unknown: the words
    read as <unk>, unique, in order. truncated: whether characters or words were cut.
    notices: plain sentences for the page.
    """
    ids: np.ndarray
    words: tuple[str, ...]
    unknown: tuple[str, ...]
    truncated: bool
    notices: list[str]


def _keep(token: str) -> bool:
    """Words, and symbols such as emoji (read as unknown words); punctuation is dropped."""
    if token[0].isalnum():
        return True
    return unicodedata.category(token) == "So"


def _shown(word: str) -> str:
    return word if len(word) <= MAX_WORD_CHARS else word[:MAX_WORD_CHARS] + "…"


def _quoted_list(words: Sequence[str], most: int = 10) -> str:
    listed = ", ".join(f"“{w}”" for w in words[:most])
    return listed + (f" and {len(words) - most} more" if len(words) > most else "")


def tokenize(text: str | None) -> Tokens:
    """Lower-case words of typed text, split on whitespace and punctuation (apostrophes too:
    "dog's" is "dog", "s"), bounded by MAX_CHARS characters and MAX_WORDS words.

    Emoji become unknown words; HTML tags and markdown lose their punctuation ("<b>hi</b>"
    reads "b hi b"). Never raises for a string or None.
    """
    text = "" if text is None else str(text)
    notices: list[str] = []
    truncated = len(text) > MAX_CHARS
    if truncated:
        text = text[:MAX_CHARS]
        notices.append(f"The text is longer than {MAX_CHARS} characters: only the first "
                       f"{MAX_CHARS} are read.")
    # NFKC folds look-alikes ("ｔｈｅ", ligatures) and joins accents onto letters.
    text = unicodedata.normalize("NFKC", text).casefold()[:MAX_CHARS * 2]
    words = [_shown(t) for t in _TOKEN.findall(text) if _keep(t)]

    if not words:
        notices.append("The box holds no words: type a sentence such as "
                       f"“{EXAMPLE}”.")
    if len(words) > MAX_WORDS:
        truncated = True
        notices.append(f"The text has {len(words)} words: only the first {MAX_WORDS} are read.")
        words = words[:MAX_WORDS]
    ids = ids_of(words)
    unknown = tuple(dict.fromkeys(w for w, i in zip(words, ids) if i == UNK))
    if unknown:
        # No angle brackets ("<unk>"): a markdown renderer may take them for an HTML tag.
        notices.append(f"Not in the vocabulary, so read as the unknown word: "
                       f"{_quoted_list(unknown)}.")
    return Tokens(ids=ids, words=tuple(words), unknown=unknown, truncated=truncated,
                  notices=notices)


class Reading(NamedTuple):
    """A typed sentence read for the agreement task.

    ids, words: the tokens before the main verb (what the network reads). verb: the main
    verb as typed, or None; verb_index: its position in the input (== len(words)); verb_label
    its number. subject: index of the first noun (None if none); label: its number, the
    correct answer (None when there is no subject). nearest_label: number of the last noun
    before the verb. attractors: nouns of the other number between subject and verb.
    dropped: the words after the verb, left out. notices: plain sentences for the page.
    """
    ids: np.ndarray
    words: tuple[str, ...]
    verb: str | None
    verb_index: int | None
    verb_label: int | None
    subject: int | None
    label: int | None
    nearest_label: int | None
    attractors: int
    dropped: tuple[str, ...]
    notices: list[str]

    @property
    def verb_agrees(self) -> bool | None:
        """Whether the typed verb agrees with the subject (None if either is missing)."""
        if self.verb_label is None or self.label is None:
            return None
        return self.verb_label == self.label


def _as_words(tokens_or_words) -> tuple[str, ...]:
    """Words of a Tokens, a string (tokenized), words, or ids (trailing PADs stripped)."""
    if isinstance(tokens_or_words, Tokens):
        return tokens_or_words.words
    if isinstance(tokens_or_words, str):
        return tokenize(tokens_or_words).words
    items = list(np.asarray(tokens_or_words).reshape(-1)) if isinstance(
        tokens_or_words, np.ndarray) else list(tokens_or_words)
    if all(isinstance(x, str) for x in items):
        return tuple(x.casefold() for x in items)
    ids = [word_id(int(x)) for x in items]
    while ids and ids[-1] == PAD:
        ids.pop()
    return words_of(ids)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _main_verb_examples() -> str:
    return ", ".join("/".join(pair) for pair in MAIN_VERBS)


def read_prefix(tokens_or_words) -> Reading:
    """Where a typed sentence's main verb, subject and attractors are.

    The main verb is the first main-verb word (is/are, has/have, ...); the network reads the
    words before it, and the words after it are dropped (with a notice). Without one, the
    whole sentence is read and the prediction is for the verb that would come next. The
    subject is the first noun before the verb; its number is the correct answer.
    """
    words = _as_words(tokens_or_words)
    notices: list[str] = []
    verb_index = next((i for i, w in enumerate(words) if is_main_verb(w)), None)
    if verb_index is None:
        prefix, verb, dropped = words, None, ()
        if words:
            notices.append(f"No main verb ({_main_verb_examples()}) in the sentence: the "
                           "network reads all of it and predicts the number of the verb "
                           "that would come next.")
    else:
        prefix, verb, dropped = words[:verb_index], words[verb_index], words[verb_index + 1:]
        if not prefix:
            notices.append(f"The sentence starts with its verb “{verb}”: there is nothing "
                           "before it to read.")
        elif dropped:
            notices.append(f"The network reads the {_count(len(prefix), 'word')} before the "
                           f"verb “{verb}”; {_count(len(dropped), 'word')} after it "
                           f"{'is' if len(dropped) == 1 else 'are'} left out.")

    nouns = _noun_positions(prefix)
    subject = nouns[0] if nouns else None
    if subject is None and prefix:
        notices.append("No noun of the vocabulary before the verb, so no subject to agree "
                       "with: whether the prediction is right cannot be said.")
    return Reading(
        ids=ids_of(prefix), words=tuple(prefix), verb=verb, verb_index=verb_index,
        verb_label=None if verb is None else verb_number(verb),
        subject=subject,
        label=None if subject is None else noun_number(prefix[subject]),
        nearest_label=None if not nouns else noun_number(prefix[nouns[-1]]),
        attractors=0 if subject is None else _count_attractors(prefix, subject, len(prefix)),
        dropped=tuple(dropped), notices=notices)
