"""Folders with byte-identical tokenizer files share one loaded tokenizer; any difference in those files (or in the
config's model_type) gives its own; a merged model's tokenizer is its first source's."""

import json
import shutil

from transformers import AutoTokenizer

from merginguriel.models.inference import load_classifier, load_tokenizer, tokenizer_fingerprint
from merginguriel.models.paths import model_dir_name

TEXTS = ["hello world", "wake me up at seven", "xyz unknownword"]


def _encode(tokenizer, texts=TEXTS):
    return tokenizer(texts, truncation=True, max_length=16)["input_ids"]


def test_identical_tokenizer_files_share_one_loaded_tokenizer(tmp_path, tiny_base):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_base, copy)
    assert tokenizer_fingerprint(copy) == tokenizer_fingerprint(tiny_base)
    shared = load_tokenizer(tiny_base)
    assert load_tokenizer(copy) is shared
    assert _encode(shared) == _encode(AutoTokenizer.from_pretrained(str(copy)))  # what a fresh load gives

    changed = tmp_path / "changed"
    shutil.copytree(tiny_base, changed)
    config = json.loads((changed / "tokenizer_config.json").read_text())
    config["model_max_length"] = 7
    (changed / "tokenizer_config.json").write_text(json.dumps(config))
    assert tokenizer_fingerprint(changed) != tokenizer_fingerprint(tiny_base)
    own = load_tokenizer(changed)
    assert own is not shared and own.model_max_length == 7 and shared.model_max_length != 7

    retyped = tmp_path / "retyped"
    shutil.copytree(tiny_base, retyped)
    model_config = json.loads((retyped / "config.json").read_text())
    model_config["model_type"] = "bert"
    (retyped / "config.json").write_text(json.dumps(model_config))
    assert tokenizer_fingerprint(retyped) != tokenizer_fingerprint(tiny_base)


def test_a_merged_model_loads_its_first_sources_tokenizer(tmp_path, tiny_base, locale_models):
    from merginguriel.merging.pipeline import MergeRequest, execute_merge, plan_merge
    from merginguriel.similarity.selection import SourceSelection

    root = locale_models(["nl-NL", "de-DE"])
    source = root / model_dir_name(tiny_base, "nl-NL")
    _encode(load_tokenizer(source))  # the shared tokenizer has been used (truncation set) before the merge
    selection = SourceSelection(str(root), str(tiny_base), 2, weights={"nl-NL": 0.5, "de-DE": 0.5})
    plan = plan_merge(MergeRequest("manual", "af-ZA", selection))
    execute_merge(plan, tmp_path / "merged", {})
    assert tokenizer_fingerprint(tmp_path / "merged") == tokenizer_fingerprint(source)
    _, tokenizer = load_classifier(tmp_path / "merged")
    assert tokenizer is load_tokenizer(source)
    assert _encode(tokenizer) == _encode(AutoTokenizer.from_pretrained(str(tmp_path / "merged")))
