import gzip
import json

import datasets
import pytest

from merginguriel.data.labels import INTENT_LABELS, LABEL2ID, LabelMismatchError
from merginguriel.data.massive import DatasetError, load_split, resolve_dataset

ROWS = [
    {
        "id": "1",
        "locale": "de-DE",
        "partition": "test",
        "scenario": "alarm",
        "intent": "alarm_set",
        "utt": "weck mich",
        "annot_utt": "weck mich",
    },
    {
        "id": "2",
        "locale": "de-DE",
        "partition": "test",
        "scenario": "weather",
        "intent": "weather_query",
        "utt": "regnet es",
        "annot_utt": "regnet es",
    },
    {
        "id": "3",
        "locale": "de-DE",
        "partition": "test",
        "scenario": "qa",
        "intent": "qa_currency",
        "utt": "kurs dollar",
        "annot_utt": "kurs dollar",
    },
]


def write_local(root, locale="de-DE", split_file="test", rows=ROWS, gz=False):
    folder = root / locale
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(folder / f"{split_file}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        (folder / f"{split_file}.jsonl").write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("gz", [False, True])
def test_local_folder_labels_by_name(tmp_path, gz):
    write_local(tmp_path, gz=gz)
    data = load_split(str(tmp_path), "de-DE", "test")
    assert data["text"] == ["weck mich", "regnet es", "kurs dollar"]
    assert data["label"] == [LABEL2ID["alarm_set"], LABEL2ID["weather_query"], LABEL2ID["qa_currency"]]
    assert data["locale"] == ["de-DE"] * 3


def test_dev_file_is_the_validation_split(tmp_path):
    write_local(tmp_path, split_file="dev")
    assert len(load_split(str(tmp_path), "de-DE", "validation")) == 3
    assert len(load_split(str(tmp_path), "de-DE", "dev", max_samples=2)) == 2


def test_hub_path_maps_classlabel_ids_to_the_same_labels(monkeypatch, tmp_path):
    """The hub dataset stores intents as ClassLabel ids in the hub order; both sources must agree."""
    write_local(tmp_path)
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        features = datasets.Features(
            {"utt": datasets.Value("string"), "intent": datasets.ClassLabel(names=list(INTENT_LABELS))}
        )
        return datasets.Dataset.from_dict(
            {"utt": [r["utt"] for r in ROWS], "intent": [INTENT_LABELS.index(r["intent"]) for r in ROWS]},
            features=features,
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = load_split("AmazonScience/massive", "de-DE", "dev")
    assert calls == [("AmazonScience/massive", "de-DE", "validation")]
    monkeypatch.undo()
    local = load_split(str(tmp_path), "de-DE", "test")
    assert hub["label"] == local["label"] and hub["intent"] == local["intent"]


def test_errors_name_the_problem(tmp_path):
    write_local(tmp_path)
    with pytest.raises(DatasetError, match="Locale nl-NL is not in dataset folder .*it has: de-DE"):
        load_split(str(tmp_path), "nl-NL", "test")
    with pytest.raises(DatasetError, match="Text column 'text'.*--text-column"):
        load_split(str(tmp_path), "de-DE", "test", text_column="text")
    with pytest.raises(DatasetError, match="Unknown split"):
        load_split(str(tmp_path), "de-DE", "training")
    with pytest.raises(DatasetError, match="does not exist"):
        resolve_dataset("./no/such/folder")
    assert resolve_dataset("AmazonScience/massive").kind == "hub"


def test_unknown_intent_is_rejected(tmp_path):
    bad = [dict(ROWS[0], intent="not_an_intent")]
    write_local(tmp_path, rows=bad)
    with pytest.raises(LabelMismatchError, match="not_an_intent"):
        load_split(str(tmp_path), "de-DE", "test")
