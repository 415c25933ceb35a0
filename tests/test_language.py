"""The agreement language (rnnviz/engine/language.py): answers re-derived from the words.

Every check here reads the generated words back with its own small parser and number
tables built from the vocabulary's (singular, plural) pairs, not with the generator's
bookkeeping, so a sentence whose fields disagree with its words fails.
"""
import numpy as np
import pytest

from rnnviz.engine import language as lang

NOUN_NUMBER = {w: n for pair in lang.NOUNS for n, w in enumerate(pair)}
RC_VERB_NUMBER = {w: n for pair in lang.RELATIVE_VERBS for n, w in enumerate(pair)}
MAIN_VERB_NUMBER = {w: n for pair in lang.MAIN_VERBS for n, w in enumerate(pair)}


# --- An independent reading of a generated sentence -------------------------------------------

def _noun_phrase(words, i):
    """Parse "the adjective{0,2} NOUN" at i; return the noun's index."""
    assert words[i] == "the", (words, i)
    i += 1
    groups = []  # adjectives: at most 2, from distinct groups in English order
    while words[i] in lang.ADJECTIVES:
        groups.append(next(g for g, ws in enumerate(lang.ADJECTIVE_GROUPS) if words[i] in ws))
        i += 1
    assert len(groups) <= 2 and groups == sorted(set(groups)), words
    assert words[i] in NOUN_NUMBER, (words, i)
    return i


def parse(words):
    """Check words against the grammar of the module docstring.

    Returns (subject index, modifiers as "pp"/"object rc"/"subject rc", adverb count) and
    asserts that every relative verb agrees with the noun just before it.
    """
    subject = _noun_phrase(words, 0)
    previous = NOUN_NUMBER[words[subject]]  # the number of the last noun so far
    modifiers, i = [], subject + 1
    while i < len(words) and words[i] not in lang.ADVERBS:
        if words[i] in lang.PREPOSITIONS:
            noun = end = _noun_phrase(words, i + 1)
            modifiers.append("pp")
        elif words[i + 1] in RC_VERB_NUMBER:  # "that sees the dog": agrees with the noun before
            assert words[i] == "that", words
            assert RC_VERB_NUMBER[words[i + 1]] == previous, words
            noun = end = _noun_phrase(words, i + 2)
            modifiers.append("subject rc")
        else:  # "that the dog sees": the verb agrees with the clause's own noun
            assert words[i] == "that", words
            noun = _noun_phrase(words, i + 1)
            end = noun + 1
            assert RC_VERB_NUMBER[words[end]] == NOUN_NUMBER[words[noun]], words
            modifiers.append("object rc")
        previous = NOUN_NUMBER[words[noun]]
        i = end + 1
    adverbs = words[i:]
    assert all(w in lang.ADVERBS for w in adverbs) and len(adverbs) <= 2, words
    if len(adverbs) == 2:  # "probably never", not "never probably"
        assert adverbs[0] in lang.ADVERB_GROUPS[0] and adverbs[1] in lang.ADVERB_GROUPS[1], words
    return subject, modifiers, len(adverbs)


def check_sentence(s, distance, attractors, relative):
    words = s.words
    assert s.ids.dtype == np.int32 and s.ids.shape == (len(words),)
    assert [lang.VOCAB[i] for i in s.ids] == list(words)
    assert not s.ids.flags.writeable
    subject, modifiers, _ = parse(words)
    assert s.subject == subject
    # The label is the subject's number, and the verb agrees with it.
    assert s.label == NOUN_NUMBER[words[subject]]
    assert MAIN_VERB_NUMBER[s.verb] == s.label
    assert s.text.split() == list(words) + [s.verb]
    # The controls hold exactly.
    assert s.distance == len(words) - subject == distance
    between = [NOUN_NUMBER[w] for w in words[subject + 1:] if w in NOUN_NUMBER]
    assert s.attractors == sum(n != s.label for n in between) == attractors
    has_relative = any(m.endswith("rc") for m in modifiers)
    assert s.relative == has_relative == relative
    # The nearest noun: the last noun before the verb (the subject when none intervenes).
    last = next(w for w in reversed(words) if w in NOUN_NUMBER)
    assert s.nearest_label == NOUN_NUMBER[last]
    assert s.nouns[0] == subject and len(s.nouns) == len(between) + 1


# --- The vocabulary ---------------------------------------------------------------------------

def test_vocabulary_is_fixed_and_its_tables_agree():
    assert 80 <= lang.VOCAB_SIZE <= 150
    assert lang.VOCAB[:4] == ("<pad>", "<unk>", "the", "that")
    assert (lang.PAD, lang.UNK) == (0, 1)
    assert len(set(lang.VOCAB)) == lang.VOCAB_SIZE
    assert all(lang.WORD_ID[w] == i for i, w in enumerate(lang.VOCAB))
    assert len(lang.NOUNS) >= 20 and len(lang.ADJECTIVES) >= 12 and len(lang.PREPOSITIONS) >= 8
    assert lang.NUMBERS == ("singular", "plural")
    assert set(RC_VERB_NUMBER).isdisjoint(MAIN_VERB_NUMBER)
    for word, number in NOUN_NUMBER.items():
        assert lang.noun_number(word) == number == lang.noun_number(lang.WORD_ID[word])
        assert lang.word_role(word) == "noun" and lang.is_noun(word)
        assert lang.verb_number(word) is None
    for word, number in {**RC_VERB_NUMBER, **MAIN_VERB_NUMBER}.items():
        assert lang.verb_number(word) == number and lang.noun_number(word) is None
    assert lang.is_main_verb("are") and not lang.is_main_verb("likes")
    assert lang.noun_number("the") is None and lang.noun_number("zebra") is None
    assert lang.word_role("zebra") == "unknown" and lang.word_role("KEYS") == "noun"
    assert lang.inflect("key", 1) == "keys" and lang.inflect("children", 0) == "child"
    assert lang.inflect("are", 0) == "is"
    with pytest.raises(ValueError):
        lang.inflect("the", 1)
    with pytest.raises(ValueError):
        lang.word_role(lang.VOCAB_SIZE)


# --- generate ---------------------------------------------------------------------------------

def test_min_distance_by_hand():
    # "the keys are", "the keys on the table are", "the keys that the dog sees are", ...
    assert lang.min_distance(0, False) == 1
    assert lang.min_distance(1, False) == 4
    assert lang.min_distance(0, True) == 5
    assert lang.min_distance(1, True) == 5
    assert lang.min_distance(2, True) == 8
    assert lang.min_distance(3, False) == 10
    assert lang.max_attractors(4) == 1 and lang.max_attractors(3) == 0
    assert lang.max_attractors(5, True) == 1 and lang.max_attractors(4, True) == 0
    assert lang.min_distance(lang.MAX_ATTRACTORS, True) <= lang.MAX_DISTANCE
    assert lang.min_distance(lang.MAX_ATTRACTORS + 1, False) > lang.MAX_DISTANCE


def test_every_control_is_met_exactly_or_refused():
    rng = np.random.default_rng(0)
    for relative in (False, True):
        for attractors in range(lang.MAX_ATTRACTORS + 1):
            for distance in range(1, lang.MAX_DISTANCE + 1):
                if distance < lang.min_distance(attractors, relative):
                    with pytest.raises(ValueError, match="smallest distance"):
                        lang.generate(rng, distance, attractors, relative)
                    continue
                for _ in range(2):
                    s = lang.generate(rng, distance, attractors, relative)
                    check_sentence(s, distance, attractors, relative)


@pytest.mark.parametrize("seed", range(20))
def test_controls_hold_over_many_seeds(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        relative = bool(rng.integers(2))
        attractors = int(rng.integers(0, 5))
        distance = int(rng.integers(lang.min_distance(attractors, relative), lang.MAX_DISTANCE + 1))
        s = lang.generate(rng, distance, attractors, relative)
        check_sentence(s, distance, attractors, relative)
        assert len(s.ids) <= lang.MAX_WORDS


def test_short_distances_and_variety():
    rng = np.random.default_rng(1)
    sentences = [lang.generate(rng, 1) for _ in range(200)]
    assert {s.nearest_label == s.label for s in sentences} == {True}
    assert {s.label for s in sentences} == {0, 1}
    # Distances 2 and 3 hold no noun: adverbs fill them ("the keys probably are").
    for distance in (2, 3):
        s = lang.generate(rng, distance)
        assert s.words[s.subject + 1:] and all(w in lang.ADVERBS for w in s.words[s.subject + 1:])
    # Long relative sentences use both kinds of relative clause and prepositional phrases.
    kinds = set()
    for _ in range(100):
        kinds.update(parse(lang.generate(rng, 20, 2, True).words)[1])
    assert kinds == {"pp", "object rc", "subject rc"}
    # With attractors, the nearest noun often disagrees with the subject.
    nearest = [(s.nearest_label != s.label) for s in (lang.generate(rng, 4, 1) for _ in range(50))]
    assert all(nearest)  # distance 4 with one attractor: the attractor is the only other noun


def test_generate_is_deterministic_for_a_generator_state():
    a = lang.generate(np.random.default_rng(7), 12, 2, True)
    b = lang.generate(np.random.default_rng(7), 12, 2, True)
    assert a.words == b.words and a.verb == b.verb


@pytest.mark.parametrize("distance, attractors, relative", [
    (0, 0, False), (lang.MAX_DISTANCE + 1, 0, False), (2.5, 0, False), (True, 0, False),
    (5, -1, False), (5, lang.MAX_ATTRACTORS + 1, False), (3, 1, False), (4, 0, True),
    (7, 2, True), ("5", 0, False),
])
def test_impossible_controls_raise_a_clear_value_error(distance, attractors, relative):
    with pytest.raises(ValueError):
        lang.generate(np.random.default_rng(0), distance, attractors, relative)


def test_feasible_distance_clamps():
    assert lang.feasible_distance(2, 1, False) == 4
    assert lang.feasible_distance(3, 0, True) == 5
    assert lang.feasible_distance(0, 0, False) == 1
    assert lang.feasible_distance(-5, 2, True) == 8
    assert lang.feasible_distance(99, 0, False) == lang.MAX_DISTANCE
    assert lang.feasible_distance(12, 3, True) == 12
    with pytest.raises(ValueError):
        lang.feasible_distance(10, lang.MAX_ATTRACTORS + 1)
    for attractors in range(lang.MAX_ATTRACTORS + 1):
        for relative in (False, True):
            for distance in range(-2, 40):
                d = lang.feasible_distance(distance, attractors, relative)
                lang.generate(np.random.default_rng(d), d, attractors, relative)


# --- sample -----------------------------------------------------------------------------------

def _rows(batch):
    return [batch.ids[i, :batch.lengths[i]] for i in range(len(batch.ids))]


def test_sample_is_deterministic_and_sentence_i_does_not_depend_on_n():
    a = lang.sample(3, 60, (1, 20), (0, 3), 0.5, width=lang.MAX_WORDS)
    b = lang.sample(3, 60, (1, 20), (0, 3), 0.5, width=lang.MAX_WORDS)
    c = lang.sample(3, 25, (1, 20), (0, 3), 0.5, width=lang.MAX_WORDS)
    d = lang.sample(4, 60, (1, 20), (0, 3), 0.5, width=lang.MAX_WORDS)
    for field, x, y, z in zip(lang.Batch._fields, a, b, c):
        np.testing.assert_array_equal(x, y, err_msg=field)
        np.testing.assert_array_equal(x[:25], z, err_msg=field)
    assert not np.array_equal(a.ids, d.ids)


def test_sample_arrays_re_derived_from_the_ids():
    batch = lang.sample(11, 400, (1, 25), (0, 4), 0.3)
    n = 400
    assert batch.ids.dtype == np.int32 and batch.ids.shape == (n, int(batch.lengths.max()))
    for field in ("lengths", "labels", "nearest", "distance", "attractors", "subject"):
        assert getattr(batch, field).shape == (n,) and getattr(batch, field).dtype == np.int32
    assert batch.relative.dtype == bool
    for i, row in enumerate(_rows(batch)):
        assert np.all(row != lang.PAD) and np.all(batch.ids[i, len(row):] == lang.PAD)
        words = [lang.VOCAB[t] for t in row]
        subject, modifiers, _ = parse(words)
        nouns = [NOUN_NUMBER[w] for w in words if w in NOUN_NUMBER]
        assert batch.subject[i] == subject
        assert batch.labels[i] == nouns[0]
        assert batch.nearest[i] == nouns[-1]
        assert batch.attractors[i] == sum(x != nouns[0] for x in nouns[1:])
        assert batch.distance[i] == len(row) - subject
        assert batch.relative[i] == any(m.endswith("rc") for m in modifiers)


def test_sample_ranges_balance_and_rates():
    batch = lang.sample(0, 2000, (3, 12), (0, 0))
    assert 0.45 < batch.labels.mean() < 0.55
    assert set(batch.distance) == set(range(3, 13))
    counts = np.bincount(batch.distance)[3:]
    assert counts.min() > 0.6 * counts.mean()  # uniform: 200 each, give or take
    assert not batch.relative.any() and not batch.attractors.any()
    assert lang.nearest_noun_accuracy(batch) == 1.0  # no attractor: every noun agrees

    batch = lang.sample(1, 600, (1, 12), (2, 3), relative_rate=1.0)
    long = batch.distance >= lang.min_distance(3, True)
    assert np.all((batch.attractors[long] >= 2) & (batch.attractors[long] <= 3))
    # Too short for the range: as many attractors as fit, and a relative clause only if it fits.
    for d, k, r in zip(batch.distance, batch.attractors, batch.relative):
        assert r == (d >= lang.min_distance(0, True))
        assert k == min(max(k, min(2, lang.max_attractors(d, r))), 3, lang.max_attractors(d, r))
        assert d >= lang.min_distance(k, r)
    assert {2, 3} <= set(batch.attractors[long])

    half = lang.sample(2, 1000, (5, 30), relative_rate=0.5).relative.mean()
    assert 0.4 < half < 0.6


@pytest.mark.parametrize("kwargs", [
    dict(distances=(5, 2)), dict(distances=(0, 3)), dict(distances=(1, lang.MAX_DISTANCE + 1)),
    dict(distances=5), dict(attractors=(-1, 2)), dict(attractors=(3, 1)),
    dict(relative_rate=1.5), dict(relative_rate=float("nan")), dict(n=0), dict(seed=-1),
    dict(width=3),
])
def test_sample_rejects_bad_arguments(kwargs):
    args = dict(seed=0, n=10, distances=(1, 10))
    args.update(kwargs)
    with pytest.raises(ValueError):
        lang.sample(**args)


# --- Baselines --------------------------------------------------------------------------------

def test_baselines_by_hand():
    assert lang.majority_accuracy([0, 0, 1]) == pytest.approx(2 / 3)
    assert lang.majority_accuracy(np.array([1, 1, 1, 0])) == 0.75
    assert lang.majority_accuracy([0, 1]) == 0.5
    assert lang.majority_label([1, 1, 0]) == 1 and lang.majority_label([0, 1]) == 0
    with pytest.raises(ValueError):
        lang.majority_accuracy([])
    zeros = np.zeros(4, np.int32)
    batch = lang.Batch(ids=np.ones((4, 2), np.int32), lengths=zeros + 2,
                       labels=np.array([0, 1, 1, 0]), nearest=np.array([0, 0, 1, 1]),
                       distance=np.array([1, 4, 1, 4]), attractors=zeros, subject=zeros,
                       relative=zeros.astype(bool))
    assert lang.nearest_noun_accuracy(batch) == 0.5
    distances, accuracies = lang.accuracy_by_distance(batch.nearest == batch.labels,
                                                      batch.distance)
    np.testing.assert_array_equal(distances, [1, 4])
    np.testing.assert_allclose(accuracies, [1.0, 0.0])

    distances, accuracies = lang.accuracy_by_distance([1, 0, 1, 1, 0], [3, 3, 1, 5, 5])
    np.testing.assert_array_equal(distances, [1, 3, 5])
    np.testing.assert_allclose(accuracies, [1.0, 0.5, 0.5])
    distances, accuracies = lang.accuracy_by_distance([], [])
    assert distances.size == 0 and accuracies.size == 0
    with pytest.raises(ValueError):
        lang.accuracy_by_distance([1, 0], [1])


def test_nearest_noun_baseline_falls_with_attractors():
    batch = lang.sample(5, 500, (4, 20), (1, 1))
    # One attractor: the nearest noun is wrong exactly when the attractor is the last noun.
    wrong = 0
    for i, row in enumerate(_rows(batch)):
        last = next(NOUN_NUMBER[lang.VOCAB[t]] for t in row[::-1] if lang.VOCAB[t] in NOUN_NUMBER)
        wrong += last != batch.labels[i]
    assert lang.nearest_noun_accuracy(batch) == pytest.approx(1 - wrong / 500)
    assert lang.nearest_noun_accuracy(batch) < 0.9


# --- The tokenizer ----------------------------------------------------------------------------

def test_tokenize_lower_cases_and_splits_on_punctuation():
    t = lang.tokenize("The Keys, to the OLD cabinet... ARE!")
    assert t.words == ("the", "keys", "to", "the", "old", "cabinet", "are")
    np.testing.assert_array_equal(t.ids, [lang.WORD_ID[w] for w in t.words])
    assert t.ids.dtype == np.int32
    assert t.unknown == () and not t.truncated and t.notices == []
    assert lang.tokenize("the dog's keys").words == ("the", "dog", "s", "keys")
    assert lang.tokenize("ｔｈｅ ｋｅｙｓ").words == ("the", "keys")  # full-width letters


def test_tokenize_names_unknown_words_once_in_order():
    t = lang.tokenize("the zebras near the zebras and a giraffe are")
    assert t.unknown == ("zebras", "and", "a", "giraffe")
    assert [i for i, w in zip(t.ids, t.words) if w == "zebras"] == [lang.UNK, lang.UNK]
    assert len(t.notices) == 1 and "“zebras”, “and”, “a”, “giraffe”" in t.notices[0]
    # Typed special tokens are just words: never PAD inside a sentence.
    t = lang.tokenize("<pad> <unk>")
    assert t.words == ("pad", "unk") and list(t.ids) == [lang.UNK, lang.UNK]


def test_tokenize_emoji_html_and_markdown():
    t = lang.tokenize("the 🔑 are 👍🏽")
    assert t.words == ("the", "🔑", "are", "👍")  # skin tone modifier dropped
    assert t.unknown == ("🔑", "👍") and t.ids[1] == lang.UNK
    t = lang.tokenize("<b>hi</b>")
    assert t.words == ("b", "hi", "b") and t.unknown == ("b", "hi")
    t = lang.tokenize("**bold** _it_ `code` # head [link](http://x.y) <script>alert(1)</script>")
    assert t.words == ("bold", "it", "code", "head", "link", "http", "x", "y", "script",
                       "alert", "1", "script")
    for word in t.words + t.unknown:
        assert not set(word) & set("*_`#[]()<>&/\\\"'")
    # Notices hold nothing a markdown or HTML renderer would act on.
    for text in ("<b>hi</b> **x**", "", "a " * 300, "the zebra_s <unk> are"):
        for notice in lang.tokenize(text).notices:
            assert not set(notice) & set("<>*_`#[]&\\"), notice


def test_tokenize_bounds_long_text():
    t = lang.tokenize("the key " * 1250)  # 10 000 characters
    assert t.truncated and len(t.ids) == lang.MAX_WORDS == len(t.words)
    assert any("500 characters" in n for n in t.notices)
    assert any(f"first {lang.MAX_WORDS}" in n for n in t.notices)
    t = lang.tokenize("x" * 10_000)
    assert t.truncated and t.words == ("x" * lang.MAX_WORD_CHARS + "…",)
    assert t.unknown == t.words and len(t.notices[-1]) < 200
    t = lang.tokenize("🙂" * 10_000)
    assert t.truncated and len(t.ids) == lang.MAX_WORDS
    t = lang.tokenize(" ".join(f"w{i}" for i in range(31)))
    assert "and 21 more" in t.notices[-1]  # the unknown list is bounded too


@pytest.mark.parametrize("text", ["", "   \n\t", None, "!!! ...", "\u200b"])
def test_tokenize_empty_box(text):
    t = lang.tokenize(text)
    assert t.ids.shape == (0,) and t.ids.dtype == np.int32 and t.words == ()
    assert not t.truncated and len(t.notices) == 1 and "no words" in t.notices[0]


def test_generated_text_tokenizes_back_to_its_ids():
    rng = np.random.default_rng(9)
    for _ in range(100):
        s = lang.generate(rng, int(rng.integers(8, 31)), int(rng.integers(0, 3)), True)
        t = lang.tokenize(s.text)
        np.testing.assert_array_equal(t.ids[:-1], s.ids)
        assert t.words[-1] == s.verb and t.unknown == ()


# --- read_prefix ------------------------------------------------------------------------------

def test_read_prefix_marks_subject_and_verb():
    r = lang.read_prefix(lang.tokenize("the keys to the old cabinet are"))
    assert r.words == ("the", "keys", "to", "the", "old", "cabinet")
    np.testing.assert_array_equal(r.ids, [lang.WORD_ID[w] for w in r.words])
    assert (r.subject, r.words[r.subject], r.label) == (1, "keys", 1)
    assert (r.nearest_label, r.attractors) == (0, 1)
    assert (r.verb, r.verb_index, r.verb_label, r.verb_agrees) == ("are", 6, 1, True)
    assert r.dropped == () and r.notices == []


def test_read_prefix_drops_words_after_the_verb():
    r = lang.read_prefix("The key to the cabinets is on the table.")
    assert r.words == ("the", "key", "to", "the", "cabinets") and r.verb == "is"
    assert (r.label, r.nearest_label, r.attractors) == (0, 1, 1)
    assert r.dropped == ("on", "the", "table")
    assert len(r.notices) == 1 and "3 words after it are left out" in r.notices[0]


def test_read_prefix_relative_clause_and_disagreement():
    r = lang.read_prefix("the dogs that the cat likes is")
    assert (r.subject, r.label, r.nearest_label, r.attractors) == (1, 1, 0, 1)
    assert r.verb_label == 0 and r.verb_agrees is False
    r = lang.read_prefix("the dogs near the cats on the tables are")
    assert (r.label, r.nearest_label, r.attractors) == (1, 1, 0)


def test_read_prefix_without_verb_noun_or_words():
    r = lang.read_prefix("the keys to the cabinet")
    assert r.verb is None and r.verb_index is None and r.verb_agrees is None
    assert len(r.words) == 5 and r.label == 1 and r.nearest_label == 0
    assert "No main verb" in r.notices[0]
    r = lang.read_prefix("the old zebra is")
    assert r.subject is None and r.label is None and r.nearest_label is None
    assert r.attractors == 0 and r.verb_agrees is None and "No noun" in r.notices[0]
    r = lang.read_prefix("are the keys")
    assert r.words == () and r.ids.shape == (0,) and r.dropped == ("the", "keys")
    assert "starts with its verb" in r.notices[0]
    r = lang.read_prefix("")
    assert r.words == () and r.verb is None and r.label is None and r.notices == []


def test_read_prefix_accepts_tokens_words_and_ids():
    text = "the keys to the old cabinet are here"
    tokens = lang.tokenize(text)
    readings = [lang.read_prefix(x) for x in (text, tokens, list(tokens.words), tokens.ids,
                                              list(tokens.ids) + [lang.PAD, lang.PAD])]
    for r in readings:
        assert r.words == readings[0].words and r.label == 1 and r.verb == "are"
    with pytest.raises(ValueError):
        lang.read_prefix([5, lang.VOCAB_SIZE])


def test_read_prefix_agrees_with_the_generator():
    rng = np.random.default_rng(12)
    for _ in range(200):
        relative = bool(rng.integers(2))
        attractors = int(rng.integers(0, 4))
        distance = int(rng.integers(lang.min_distance(attractors, relative), 31))
        s = lang.generate(rng, distance, attractors, relative)
        r = lang.read_prefix(s.text)
        assert r.words == s.words and r.verb == s.verb and r.verb_agrees
        assert (r.subject, r.label, r.nearest_label, r.attractors) == (
            s.subject, s.label, s.nearest_label, s.attractors)
