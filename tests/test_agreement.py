"""Word models on the agreement task in the one trainer (rnnviz.engine.train's word models,
rnnviz.experiments.agreement).

- The Training lab's results are what they were before its step loop became the shared
  one (a fixture recorded with the code before, compared with a tolerance: a fixture
  crosses CPUs).
- The word model's loss and gradient, padded, equal jax.grad of a plain reference at the
  real sizes.
- Learning, with a fixed seed and step budget (not a timing): the page's default training
  (`WordsConfig()`: distances 1-16, 0-3 attractors, see its comment) puts every cell near
  100 % at distance 1, and the LSTM above "agree with the nearest noun" at distances ≥ 10
  with attractors.
- Settings are data: after the word programs ran, other settings compile nothing.
- PCA against NumPy's eigendecomposition of the covariance.
"""
import dataclasses
import logging
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnviz.engine import language, programs, train
from rnnviz.engine.cells import CellParams
from rnnviz.engine.train import Readout, WordModel, WordsConfig
from rnnviz.experiments import agreement

# --- The Training lab, unchanged ----------------------------------------------------------

# Recorded with rnnviz/engine/train.py before `_optimizer_steps` was shared (commit 67a7d62,
# jax 0.10, float32 on this x86 CPU; the refactored code gave the same bits in one process).
# Two runs on one program (lstm, L ≤ 64, H ≤ 32): the adding problem with Adam, and the copy
# task with RMSProp, clipping at 0.5 and a batch of 80 (two micro-batches).
LAB_CONFIGS = (
    train.TrainConfig(task="adding", T=20, cell="lstm", hidden_size=8, batch_size=16, steps=40,
                      snapshot_every=20, seed=3),
    train.TrainConfig(task="copy", T=30, cell="lstm", hidden_size=8, batch_size=80,
                      optimizer="rmsprop", clip=0.5, learning_rate=0.01, steps=30,
                      snapshot_every=30, seed=5),
)
LAB_BEFORE = (
    {
        "losses": [
         1.409827709197998, 1.6306021213531494, 0.9817913174629211,
         0.9854241609573364, 1.1367894411087036, 0.5127926468849182,
         0.8242138624191284, 0.5854381322860718, 0.607934832572937,
         0.3562193214893341, 0.22050713002681732, 0.2009892463684082,
         0.27141836285591125, 0.19843502342700958, 0.12059473991394043,
         0.3450416624546051, 0.19431380927562714, 0.24774615466594696,
         0.13608039915561676, 0.2036752849817276, 0.279056578874588,
         0.2148059606552124, 0.08444290608167648, 0.18159370124340057,
         0.20276761054992676, 0.14001376926898956, 0.26414063572883606,
         0.16714432835578918, 0.1364360749721527, 0.14375697076320648,
         0.20889796316623688, 0.09971832484006882, 0.22249868512153625,
         0.3481248915195465, 0.18006736040115356, 0.3075879216194153,
         0.13194990158081055, 0.08912719041109085, 0.1948324590921402,
         0.12615561485290527],
        "grad_norms": [
         2.3751583099365234, 2.538775682449341, 1.9506454467773438,
         1.9825812578201294, 2.179058313369751, 1.355318307876587, 1.9268195629119873,
         1.6262590885162354, 1.781211018562317, 1.24173903465271, 0.9827990531921387,
         0.9753293395042419, 0.6491470336914062, 0.1972578912973404,
         0.4180496037006378, 1.062230110168457, 0.5190668106079102, 0.913633406162262,
         0.560129702091217, 0.9504362344741821, 0.9277858734130859,
         0.8628466725349426, 0.25187447667121887, 0.7893614172935486,
         0.1522899717092514, 0.7243165969848633, 0.2999929189682007,
         0.17587341368198395, 0.5665960311889648, 0.2847573161125183,
         0.1134311780333519, 0.5218003392219543, 0.15398414433002472,
         1.0805174112319946, 0.679180383682251, 1.0710783004760742,
         0.6158418655395508, 0.1629973202943802, 0.35544759035110474,
         0.2789572775363922],
        "clipped": [
         False, False, False, False, False, False, False, False, False, False, False,
         False, False, False, False, False, False, False, False, False, False, False,
         False, False, False, False, False, False, False, False, False, False, False,
         False, False, False, False, False, False, False],
        "probe_losses": [
         1.506676435470581, 0.2012348771095276, 0.1717556118965149],
        "probe_grad_norms": [
         2.427645444869995, 0.6035419702529907, 0.12655514478683472],
        "profile": [
         0.0015646218084114343, 0.001544072992005143, 0.001512343903539449,
         0.0014536843504981973, 0.0015065068349635839, 0.001455690997037793,
         0.001533918015605042, 0.0014875137537941952, 0.0015436587130898242,
         0.0014987854916150188, 0.001519250765277178, 0.0016173880071220295,
         0.0015577746437206077, 0.0015829697538629831, 0.0015433369685693482,
         0.0016318133026519959, 0.0017717165451661607, 0.0072019997609834895,
         0.0926934210034132, 0.5838446440720035],
        "param_norms": [
         2.893167236138058, 4.596919940668144, 12.775495771161292, 1.803004092005746,
         0.7043877875432089, 0.22840516269207],
    },
    {
        "losses": [
         2.4183664321899414, 2.332202434539795, 2.2516088485717773, 2.153695821762085,
         2.034156084060669, 1.8842229843139648, 1.7238203287124634, 1.559128761291504,
         1.4160165786743164, 1.3066798448562622, 1.222609519958496, 1.168121576309204,
         1.1380465030670166, 1.1094316244125366, 1.0938094854354858,
         1.081100344657898, 1.0684646368026733, 1.0603289604187012, 1.051438570022583,
         1.043771505355835, 1.0370417833328247, 1.0300437211990356,
         1.0255824327468872, 1.0198103189468384, 1.0150057077407837,
         1.0106843709945679, 1.0072392225265503, 1.0019268989562988,
         0.9991544485092163, 0.9943079352378845],
        "grad_norms": [
         0.7827886939048767, 0.7683588266372681, 0.7793263792991638,
         0.8084002733230591, 0.8477336168289185, 0.8729060292243958,
         0.8613344430923462, 0.7956444621086121, 0.6812623143196106,
         0.5445113778114319, 0.4114963114261627, 0.30950507521629333,
         0.2483011931180954, 0.20308026671409607, 0.17278720438480377,
         0.15311935544013977, 0.13901813328266144, 0.1289103925228119,
         0.12134997546672821, 0.11216143518686295, 0.1063549593091011,
         0.09778477251529694, 0.09534826129674911, 0.08948890119791031,
         0.08749494701623917, 0.08220649510622025, 0.07898078858852386,
         0.07625997811555862, 0.07545822113752365, 0.07332571595907211],
        "clipped": [
         True, True, True, True, True, True, True, True, True, True, False, False,
         False, False, False, False, False, False, False, False, False, False, False,
         False, False, False, False, False, False, False],
        "probe_losses": [
         2.416611671447754, 0.992042064666748],
        "probe_grad_norms": [
         0.7827255129814148, 0.07363709062337875],
        "profile": [
         0.042879282575021854, 0.032538300973765026, 0.023687515701437525,
         0.01655383504172757, 0.011342763227546286, 0.00821240142767854,
         0.006630527855786891, 0.005925878235653861, 0.005673755389414823,
         0.005743464812702293, 0.006137010716521248, 0.006164666153254056,
         0.006162905651002434, 0.00615975095973163, 0.006158176835874663,
         0.006157471325586561, 0.006157162930475246, 0.00615702699605812,
         0.0061569660458147294, 0.0061569370603433505, 0.006156922622420547,
         0.006156914962641385, 0.006156910881923434, 0.006156907596536808,
         0.006156905945337141, 0.006156904270099145, 0.0061569024180087,
         0.0061569000015194815, 0.006156897682381565, 0.006156894857497451,
         0.006156892310588998, 0.0061568896250968706, 0.0061568854578770114,
         0.006156869268800307, 0.006156760945723951, 0.006155936208309648,
         0.006149587446979812, 0.006100386708160324, 0.005727164705370016,
         0.0032694179798918796, 0.026094070634779205, 0.026006876256586126,
         0.026586249805340616, 0.02624259931150148, 0.025991623539852557,
         0.025985630065684787, 0.025888023886060877, 0.025835089040517414,
         0.025408417241651417, 0.02309609770601066],
        "param_norms": [
         6.03837928530887, 5.167262754442182, 11.406323063778421, 1.8657949306750465,
         2.7051627433170866, 0.8244133906108124],
    },
)


def _lab_summary(config):
    snaps = list(train.train(config))
    return dict(
        losses=np.concatenate([s.losses for s in snaps]),
        grad_norms=np.concatenate([s.grad_norms for s in snaps]),
        clipped=np.concatenate([s.clipped for s in snaps]),
        probe_losses=np.array([s.probe_loss for s in snaps]),
        probe_grad_norms=np.array([s.probe_grad_norm for s in snaps]),
        profile=snaps[-1].profile,
        param_norms=np.array([np.linalg.norm(np.asarray(a, np.float64))
                              for a in jax.tree.leaves(snaps[-1].params)]))


@pytest.mark.parametrize("which", range(len(LAB_CONFIGS)))
def test_training_lab_results_are_those_before_the_shared_loop(which):
    got, before = _lab_summary(LAB_CONFIGS[which]), LAB_BEFORE[which]
    for name, value in got.items():
        if name == "clipped":
            np.testing.assert_array_equal(value, np.array(before[name], bool))
        else:
            np.testing.assert_allclose(value, np.array(before[name]), rtol=1e-4, atol=1e-7,
                                       err_msg=name)


# --- The word model's gradient ------------------------------------------------------------


def _plain_step(cell, p, h, c, x):
    """One step of the cell as REFERENCES.md writes it (PyTorch's equations), one sentence."""
    a = p.w_ih @ x + p.b_ih
    r = p.w_hh @ h + p.b_hh
    H = h.shape[0]
    if cell == "rnn":
        return jnp.tanh(a + r), c
    if cell == "lstm":
        i, f, g, o = (a + r)[:H], (a + r)[H:2 * H], (a + r)[2 * H:3 * H], (a + r)[3 * H:]
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c
    rz = jax.nn.sigmoid(a[:2 * H] + r[:2 * H])
    n = jnp.tanh(a[2 * H:] + rz[:H] * r[2 * H:])
    return (1 - rz[H:]) * n + rz[H:] * h, c


def _plain_loss(cell, model: WordModel, sentences):
    """Mean binary cross-entropy of sigmoid(w·h_T + b), h_T after the last real word, one
    sentence at a time (Python loops, real sizes)."""
    total = 0.0
    for ids, label in sentences:
        H = model.cell.w_hh.shape[1]
        h = c = jnp.zeros(H, jnp.float32)
        for t in ids:
            h, c = _plain_step(cell, model.cell, h, c, model.embedding[t])
        logit = model.readout.w[0] @ h + model.readout.b[0]
        total = total - (label * jax.nn.log_sigmoid(logit)
                         + (1 - label) * jax.nn.log_sigmoid(-logit))
    return total / len(sentences)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_word_loss_and_gradient_equal_a_plain_reference(cell):
    """The padded program's loss and gradient (H 5 of 64, E 4 of 32, 6 sentences of a
    micro-batch of 64, padded to MAX_WORDS words) against jax.grad of `_plain_loss`."""
    config = WordsConfig(cell=cell, hidden_size=5, embed_size=4, batch_size=6, seed=2)
    real, key = train.init_word_model(config)
    pool = train.sentences(language.sample(7, 16, distances=(1, 8), attractors=(0, 2),
                                           width=language.MAX_WORDS))
    s = train.word_setting(config)
    loss, grads = jax.jit(partial(train._word_loss_and_grad, cell, s, pool))(
        train.pad_word_model(real, cell), key)
    picked = np.asarray(train._pool_indices(key, 0, train.WORD_MICRO_BATCH, 16))[:6]
    batch = [(pool.ids[i, :pool.lengths[i]].tolist(), float(pool.labels[i])) for i in picked]
    assert len({len(ids) for ids, _ in batch}) > 1  # sentences of different lengths
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(partial(_plain_loss, cell)),
                                  static_argnums=1)(jax.tree.map(jnp.asarray, real),
                                                    _hashable(batch))
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    ours = train.unpad_word_model(grads, cell, 5, 4)
    for name, a, b in zip(_leaf_names(), jax.tree.leaves(ours), jax.tree.leaves(ref_grads)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-6,
                                   err_msg=name)
    # Padded units and embedding columns get exactly 0, even before the trainer's masks.
    zeros = train.pad_word_model(ours, cell)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(zeros)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class _hashable(tuple):
    """The sentences as a static argument of jit (a tuple of (ids tuple, label))."""

    def __new__(cls, batch):
        return super().__new__(cls, tuple((tuple(ids), label) for ids, label in batch))


def _leaf_names():
    return ["embedding", *(f"cell.{n}" for n in CellParams._fields),
            *(f"readout.{n}" for n in Readout._fields)]


# --- Learning -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """The page's default comparison: an RNN and an LSTM with WordsConfig()'s seed and budget."""
    return agreement.train_pair(WordsConfig())


def test_every_cell_is_near_perfect_at_distance_one(trained):
    acc = agreement.accuracy_by_distance({c: r.model for c, r in trained.items()},
                                         WordsConfig(), distances=[1, 2])
    for cell, a in acc.accuracy.items():
        assert (a >= 0.97).all(), (cell, a)
    for r in trained.values():
        assert not r.diverged and not r.stopped and r.steps[-1] == WordsConfig().steps


def test_lstm_beats_the_nearest_noun_at_long_distances_with_attractors(trained):
    acc = agreement.accuracy_by_distance({c: r.model for c, r in trained.items()},
                                         WordsConfig(), distances=range(10, 17),
                                         attractors=(1, 3))
    assert (acc.attractors >= 1).all()
    lstm = acc.accuracy["lstm"]
    # Pooled over the distances (256 sentences each) and at every one of them.
    assert lstm.mean() >= acc.nearest_noun.mean() + 0.15, (lstm, acc.nearest_noun)
    assert (lstm > acc.nearest_noun).all(), (lstm, acc.nearest_noun)


def test_trained_model_loads_as_a_keras_word_model_would(trained):
    config = dataclasses.replace(WordsConfig(), cell="lstm")
    model = trained["lstm"].model
    loaded = agreement.as_loaded_model(config, model)
    H, E = config.hidden_size, config.embed_size
    assert (loaded.cell, loaded.layers, loaded.bidirectional, loaded.directions) == (
        "lstm", 1, False, (1,))
    assert (loaded.hidden_size, loaded.input_size, loaded.hidden_sizes) == (H, E, (H,))
    assert loaded.embedding.shape == (language.VOCAB_SIZE, E)
    assert loaded.params.w_ih.shape == (4 * H, E) and not loaded.returns_sequences
    assert loaded.framework == "keras"
    assert loaded.head.activation == "sigmoid" and not loaded.head.every_step
    assert loaded.head.w.shape == (1, H) and loaded.head.b.shape == (1,)
    # The padded form computes the same logits (padded units stay 0).
    padded = agreement.as_loaded_model(config, model, padded=True)
    assert padded.params.w_hh.shape == (4 * train.WORD_WIDTH, train.WORD_WIDTH)
    batch = language.sample(11, 50, distances=(1, 20), attractors=(0, 3))
    as_model = WordModel(padded.embedding, padded.params, Readout(padded.head.w, padded.head.b))
    np.testing.assert_array_equal(train.word_logits("lstm", model, batch),
                                  train.word_logits("lstm", as_model, batch))


class _CompileLog(logging.Handler):
    """Collects jax's "Compiling …" messages (jax_log_compiles)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.compiled: list[str] = []

    def emit(self, record):
        if record.getMessage().startswith("Compiling "):
            self.compiled.append(record.getMessage()[:160])


def test_new_word_settings_compile_nothing(trained):
    """After the default runs of both cells, every other setting runs on the same programs:
    neither the program table nor jax's own compile log sees a compile."""
    compiles = programs.stats()["compiles"]
    log, logger = _CompileLog(), logging.getLogger("jax")
    logger.addHandler(log)
    jax.config.update("jax_log_compiles", True)
    try:
        _run_other_word_settings()
    finally:
        jax.config.update("jax_log_compiles", False)
        logger.removeHandler(log)
    assert programs.stats()["compiles"] == compiles
    assert log.compiled == []


def _run_other_word_settings():
    for change in (dict(cell="rnn", hidden_size=7, embed_size=3, batch_size=128, optimizer="sgd",
                        learning_rate=0.5, clip=None, distances=(3, 30), attractors=(2, 9),
                        relative_rate=0.5, steps=3, snapshot_every=2, seed=12),
                   dict(cell="lstm", hidden_size=train.WORD_WIDTH, embed_size=train.EMBED_WIDTH,
                        batch_size=1, optimizer="rmsprop", steps=30, snapshot_every=30)):
        config = dataclasses.replace(WordsConfig(), **change)
        snaps = list(train.train_words(config))
        assert snaps[-1].step == config.steps
        assert snaps[-1].params.cell.w_hh.shape[1] == config.hidden_size
        assert snaps[-1].params.embedding.shape == (language.VOCAB_SIZE, config.embed_size)
        agreement.accuracy_by_distance({config.cell: snaps[-1].params}, config,
                                       distances=[3, 30], per_distance=700)


def test_a_run_stopped_early_keeps_the_model_it_reached(trained):
    config = WordsConfig(cell="rnn", hidden_size=8, embed_size=4)
    run = agreement.run_words(config, time_limit_s=0.0)  # stops after the first snapshot
    assert run.stopped and not run.diverged and run.steps.tolist() == [0]
    assert run.model.embedding.shape == (language.VOCAB_SIZE, 4)
    assert run.model.cell.w_hh.shape == (8, 8) and run.losses.size == 0
    assert not trained["rnn"].stopped


def test_word_catalogue_is_one_program_per_cell():
    entries = agreement.catalogue()
    trainers = [e for e in entries if e.family == "word training"]
    explainers = [e for e in entries if e.family == "words"]
    assert len(trainers) + len(explainers) == len(entries)
    assert [e.label.split(",")[0] for e in trainers] == list(train.WORD_CELLS)
    assert [e.label.split(",")[0] for e in explainers] == list(train.WORD_CELLS)
    assert all(f"T ≤ {agreement.EXPLAIN_LENGTH}" in e.label for e in explainers)


def test_words_config_rejects_out_of_bounds():
    for bad in (dict(cell="rnn_relu"), dict(hidden_size=train.WORD_WIDTH + 1),
                dict(embed_size=0), dict(distances=(5, 2)), dict(distances=(0, 3)),
                dict(attractors=(0, language.MAX_ATTRACTORS + 1)), dict(relative_rate=1.5),
                dict(batch_size=train.WORDS_BATCH_MAX + 1), dict(steps=2.5)):
        with pytest.raises(ValueError):
            WordsConfig(**bad)
    assert WordsConfig(distances=[2, 4]).distances == (2, 4)  # a list from a URL or widget


# --- The word vectors in 2-D ----------------------------------------------------------------


def test_pca_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5)) @ np.diag([5.0, 2.0, 1.0, 0.5, 0.1]) + 3.0
    coords, explained = agreement.pca_2d(x)
    centred = x - x.mean(0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    order = np.argsort(values)[::-1][:2]
    expected = centred @ vectors[:, order]
    for k in range(2):  # equal up to each component's sign
        sign = np.sign(coords[:, k] @ expected[:, k])
        np.testing.assert_allclose(coords[:, k], sign * expected[:, k], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(explained, values[order] / values.sum(), rtol=1e-9)
    # The axes' directions come from the loadings (largest positive), not from the SVD's
    # arbitrary signs: the mirrored words give the mirrored picture.
    np.testing.assert_allclose(agreement.pca_2d(-x)[0], -coords, atol=1e-9)
    assert agreement.pca_2d(np.ones((4, 1)))[0].shape == (4, 2)


def test_word_map_names_every_word_with_its_role_and_number():
    embedding = np.random.default_rng(1).normal(size=(language.VOCAB_SIZE, 8))
    m = agreement.word_map(embedding)
    assert len(m.words) == language.VOCAB_SIZE - 2 and m.xy.shape == (len(m.words), 2)
    assert language.PAD_WORD not in m.words and language.UNK_WORD not in m.words
    i = m.words.index("keys")
    assert (m.roles[i], m.numbers[i]) == ("noun", "plural")
    j = m.words.index("is")
    assert (m.roles[j], m.numbers[j]) == ("main verb", "singular")
    assert m.numbers[m.words.index("old")] == ""
