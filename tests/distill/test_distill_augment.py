"""Augmentation: candidates from the LM and from embeddings, resumable parts, read back as training data."""

from __future__ import annotations

import pytest

from distill import augment
from distill.config import load_recipe
from eval.core.errors import UserError
from eval.tasks import get_task


def _config(tmp_path, model, glue_tsv, **extra):
    flags = {"task": "sst2", "model": str(model), "data_dir": str(glue_tsv), "output_dir": str(tmp_path / "aug"),
             "device": "cpu", "chunk_size": 5, "variants": 3, **extra}
    return load_recipe("augment", flags=flags)


def test_augmentation_resumes_part_by_part_with_the_same_result(tmp_path, tiny_mlm, glue_tsv):
    out = augment.run(_config(tmp_path, tiny_mlm, glue_tsv))
    parts = sorted(out.glob("part-*.tsv"))
    assert len(parts) == 4  # 16 examples in chunks of 5
    first = {p.name: p.read_text() for p in parts}
    parts[1].unlink()  # as if interrupted while writing part 1
    (out / "augment.json").unlink()
    augment.run(_config(tmp_path, tiny_mlm, glue_tsv))
    assert {p.name: p.read_text() for p in sorted(out.glob("part-*.tsv"))} == first

    data = augment.load_augmented(out, get_task("sst2"))
    assert 16 < len(data) <= 16 * 4 and set(data.labels) == {0, 1}
    assert all(len(t) == 1 and "\t" not in t[0] for t in data.texts)
    with pytest.raises(UserError, match="for sst2, not mrpc"):
        augment.load_augmented(out, get_task("mrpc"))


def test_variants_change_words_and_keep_labels(tmp_path, tiny_mlm, tokenizer):
    import numpy as np

    from distill.teachers import load_model

    mlm = load_model(str(tiny_mlm), "mlm", require_head=True).eval()
    neighbours = augment.EmbeddingNeighbours.from_model(mlm, tokenizer)
    augmenter = augment.Augmenter(tokenizer, mlm, neighbours, top_k=3, max_seq_length=32, batch_size=4, device="cpu")
    texts = [("the movie was really good .", "x"), ("a dull dogs film .", "y")]
    rows = augment.augment_examples(augmenter, texts, [1, 0], variants=5, replace_prob=1.0,
                                                   rng=np.random.default_rng(0))
    assert rows[0] == (texts[0], 1, 0)
    new = [r for r in rows if r[0] not in texts]
    assert new and all(r[0][1] in ("x", "y") for r in new)  # only the first column changes
    assert {r[1] for r in new if r[0][1] == "x"} == {1}
    # punctuation is never replaced; the multi-piece "dogs" gets embedding neighbours
    assert all(r[0][0].endswith(" .") for r in new)
    options = augmenter.candidates([augmenter.words("a dull dogs film .")])[0]
    assert options[-1] == [] and len(options[2]) == 3 and "dogs" not in options[2]


@pytest.mark.parametrize("mode", ["tie", "keep"])
def test_pair_words_shared_by_both_texts_are_swapped_together_or_kept(tiny_mlm, tokenizer, mode):
    import numpy as np

    from distill.teachers import load_model

    mlm = load_model(str(tiny_mlm), "mlm", require_head=True).eval()
    augmenter = augment.Augmenter(tokenizer, mlm, augment.EmbeddingNeighbours.from_model(mlm, tokenizer), top_k=3,
                                  max_seq_length=32, batch_size=4, device="cpu")
    pair = ("the dull movie was really good good .", "really , the film was good .")
    rows = augment.augment_examples(augmenter, [pair], [1], variants=8, replace_prob=1.0,
                                    rng=np.random.default_rng(0), shared_words=mode)
    first, second = augmenter.words(pair[0]), augmenter.words(pair[1])
    shared = set(first) & set(second)
    assert rows[0] == (pair, 1, 0) and len(rows) > 2 and all(label == 1 for _, label, _ in rows)
    for (a, b), _, _ in rows[1:]:
        new_first = augmenter.words(a)
        assert len(new_first) == len(first) and new_first[1] != "dull"  # unshared words are still swapped
        if mode == "keep":
            assert b == pair[1] and all(n == w for w, n in zip(first, new_first) if w in shared)
        else:
            swap = {w: n for w, n in zip(first, new_first) if w in shared}
            assert all(n == swap[w] for w, n in zip(first, new_first) if w in shared)  # "good" twice: one choice
            assert augmenter.words(b) == [swap.get(w, w) for w in second]
    if mode == "tie":
        assert any(b != pair[1] for (_, b), _, _ in rows[1:])


def test_both_texts_of_a_pair_are_edited_and_shared_words_stay_tied(tiny_mlm, tokenizer):
    import numpy as np

    from distill.teachers import load_model

    mlm = load_model(str(tiny_mlm), "mlm", require_head=True).eval()
    augmenter = augment.Augmenter(tokenizer, mlm, augment.EmbeddingNeighbours.from_model(mlm, tokenizer), top_k=3,
                                  max_seq_length=32, batch_size=4, device="cpu")
    pair = ("the dull movie was really good .", "a film , good and dull .")
    rows = augment.augment_examples(augmenter, [pair], [1], variants=8, replace_prob=1.0,
                                    rng=np.random.default_rng(0), edit="both")
    first, second = augmenter.words(pair[0]), augmenter.words(pair[1])
    assert {origin for *_, origin in rows} == {0} and len(rows) > 2
    for (a, b), _, _ in rows[1:]:
        new_first, new_second = augmenter.words(a), augmenter.words(b)
        assert new_second[1] != "film"  # a word only the second text has is swapped too
        for word in ("dull", "good"):  # shared: one replacement in both texts
            assert new_first[first.index(word)] == new_second[second.index(word)]


def test_auto_variants_follow_tinybert_on_small_sets_and_cap_large_ones():
    assert augment.variants_for("auto", 3_668) == 20 and augment.variants_for("auto", 67_349) == 3
    assert augment.variants_for(4, 67_349) == 4 and augment.variants_for("auto", 900_000) == 1


def test_the_meaning_filter_drops_variants_whose_class_the_teacher_changes(tiny_classifier, tokenizer, monkeypatch):
    from types import SimpleNamespace

    import numpy as np

    import eval.harness as harness
    from eval.tasks import get_task

    task = get_task("sst2")
    judge = augment.MeaningFilter(str(tiny_classifier), task, tokenizer,
                                  SimpleNamespace(batch_size=8, max_seq_length=32, filter_tolerance=0.5), "cpu")
    rows = [(("good film .",), 1, 0), (("bad film .",), 1, 0), (("a film .",), 1, 0), (("dull .",), 0, 1)]
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [1.0, 0.0]])  # the judge's view, row by row
    monkeypatch.setattr(harness, "predict", lambda *args, **kwargs: SimpleNamespace(logits=logits))
    kept, counts = judge(rows)
    assert [r[0][0] for r in kept] == ["good film .", "a film .", "dull ."]
    assert counts == {"variants": 2, "changed_meaning": 1}


def test_mined_pairs_pair_each_text_with_its_nearest_and_train_as_unlabeled_data(tmp_path, tiny_mlm, glue_tsv):
    from distill.builders import NO_LABEL, train_data
    from distill.config import TrainSettings

    out = augment.run(_config(tmp_path, tiny_mlm, glue_tsv, task="mrpc", pairs=2))
    texts = {t for pair in augment.load_split(get_task("mrpc"), "train", str(glue_tsv)).texts for t in pair}
    mined = augment.mined_texts(out)
    pool = {" ".join(t.split()) for t in texts}
    assert len(mined) == 3 * len(pool)  # two nearest and one random partner per distinct text
    assert all(a in pool and b in pool for a, b in mined)
    assert {a for a, _ in mined} == pool and sum(1 for a, b in mined if a == b) <= len(pool)  # only random draws
    meta = __import__("json").loads((out / "augment.json").read_text())
    assert meta["mined_pairs"] == len(mined)
    data = train_data(get_task("mrpc"), None, str(out), TrainSettings())
    assert data.texts[-len(mined):] == mined and data.labels[-len(mined):] == [NO_LABEL[False]] * len(mined)
    assert augment.run(_config(tmp_path, tiny_mlm, glue_tsv, task="mrpc", pairs=2)) == out  # resumes: nothing new
    with pytest.raises(UserError, match="need a pair task"):
        augment.run(_config(tmp_path / "single", tiny_mlm, glue_tsv, pairs=2))


def test_glove_neighbours(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("good 1 0 0\ngreat 0.9 0.1 0\nbad -1 0 0\nawful -0.9 -0.1 0\n")
    neighbours = augment.EmbeddingNeighbours.from_glove(str(glove))
    assert neighbours.nearest(["good", "bad", "unknown"], 1) == {"good": ["great"], "bad": ["awful"], "unknown": []}
    with pytest.raises(UserError, match="does not exist"):
        augment.EmbeddingNeighbours.from_glove(str(tmp_path / "missing.txt"))


def test_neighbours_are_looked_up_once_per_word_and_agree_with_a_fresh_lookup(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("good 1 0 0\ngreat 0.9 0.1 0\nbad -1 0 0\nawful -0.9 -0.1 0\nfine 0.8 0.3 0\n")
    neighbours = augment.EmbeddingNeighbours.from_glove(str(glove))
    asked: list[list[str]] = []
    lookup = neighbours.vectors_of
    neighbours.vectors_of = lambda words: asked.append(list(words)) or lookup(words)
    first = neighbours.nearest(["good", "bad", "good", "unknown"], 2)
    again = neighbours.nearest(["bad", "fine", "unknown"], 2)  # a later part: only "fine" is new
    assert asked == [["good", "bad", "unknown"], ["fine"]]
    fresh = augment.EmbeddingNeighbours.from_glove(str(glove)).nearest(["good", "bad", "fine", "unknown"], 2)
    assert {**first, **again} == fresh


def test_a_swap_draws_what_numpy_choice_draws():
    """The swap loop indexes with ``rng.integers``; the same generator state gives ``rng.choice``'s pick,
    so augmented data is the same as when it called ``rng.choice`` (each part's output is reproducible)."""
    import numpy as np

    for size in (1, 2, 3, 7, 15, 30):
        options = [f"w{i}" for i in range(size)]
        ours, theirs = np.random.default_rng(size), np.random.default_rng(size)
        assert [options[int(ours.integers(len(options)))] for _ in range(500)] == \
               [str(theirs.choice(options)) for _ in range(500)]


def test_auto_mines_five_partners_for_small_pair_tasks_only():
    class Data(list):
        texts = property(lambda self: list(self))

    pair, single = Data([("a b", "c d")] * 100), Data([("a b",)] * 100)
    assert augment.pairs_for("auto", pair) == 5 and augment.pairs_for("auto", single) == 0
    assert augment.pairs_for("auto", Data([("a", "b")] * 10_000)) == 0  # large tasks have pairs enough
    assert augment.pairs_for(2, single) == 2  # explicit: as given (mining then refuses a single-text task)
