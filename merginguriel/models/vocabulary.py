"""Vocabulary trimming: keep only the word-embedding rows a set of texts uses (Abdaoui et al., 2020, "Load What
You Need: Smaller Versions of Multilingual BERT").

XLM-R's 250k-token vocabulary is most of an encoder's weights (multilingual-e5-small: 96M of 118M parameters;
XLM-R base: 192M of 278M), and every merge reads, mixes and writes all of it. The texts of an experiment (all
locales and splits of MASSIVE one uses) need a fraction of those tokens. Trimming keeps the rows of the tokens
those texts produce, plus the tokenizer's special tokens, renumbers them in their old order, and rewrites the
tokenizer to the same subset.

Lossless on the texts it was trimmed to: for Unigram (SentencePiece: XLM-R, e5), WordPiece and WordLevel
tokenizers the best segmentation of a text only uses kept pieces, so the smaller vocabulary segments it the same
way, and the renumbered ids look up the same embedding rows — the model computes the same logits. This is
checked, not assumed: :func:`trim_vocabulary` re-tokenizes every text with the trimmed tokenizer and refuses to
finish unless each gives exactly the renumbered ids. Text outside that set may segment differently (a dropped
piece becomes other pieces or ``<unk>``): trim to every text the models will ever see. BPE tokenizers are
refused (a dropped token can be a step of a merge that a kept token needs).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from merginguriel.errors import UserError
from merginguriel.outputs.atomic import atomic_output_dir

logger = logging.getLogger("merginguriel.vocabulary")

TRIMMABLE = ("Unigram", "WordPiece", "WordLevel")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
SLOW_TOKENIZER_FILES = (
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
    "vocab.txt",
    "vocab.json",
)
TOKEN_ID_FIELDS = (
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "sep_token_id",
    "cls_token_id",
    "unk_token_id",
)


class VocabularyError(UserError):
    """A model or tokenizer that cannot be trimmed, or a trimmed tokenizer that would change a text."""


@dataclass(frozen=True)
class TrimmedModel:
    """One trimmed model: where it went, and the vocabulary and parameter counts before and after."""

    source: str
    output: str
    vocab_before: int
    vocab_after: int
    parameters_before: int
    parameters_after: int
    tokenizer_digest: str = ""  # sha256 of the trimmed tokenizer's files: equal digests tokenize alike


def used_token_ids(tokenizer: Any, texts: Iterable[str], max_length: int | None = None) -> set[int]:
    """Every token id the tokenizer produces for ``texts`` (truncated to ``max_length`` tokens when given, as
    evaluation and training truncate them), and its special tokens' ids."""
    used = set(int(i) for i in tokenizer.all_special_ids)
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == 1024:
            used.update(_ids(tokenizer, batch, max_length))
            batch = []
    if batch:
        used.update(_ids(tokenizer, batch, max_length))
    return used


def _ids(tokenizer: Any, texts: list[str], max_length: int | None) -> set[int]:
    encoded = tokenizer(texts, truncation=max_length is not None, max_length=max_length)["input_ids"]
    return {int(i) for row in encoded for i in row}


def _remap_post_processor(node: Any, new_id: dict[int, int]) -> None:
    """Renumber the special-token ids a tokenizers post-processor holds (template, RoBERTa, BERT, sequences)."""
    if isinstance(node, list):
        for item in node:
            _remap_post_processor(item, new_id)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            node[key] = [node[key][0], new_id[int(node[key][1])]]
    for value in (node.get("special_tokens") or {}).values():
        value["ids"] = [new_id[int(i)] for i in value["ids"]]
    for key, value in node.items():
        if key != "special_tokens":
            _remap_post_processor(value, new_id)


def trim_tokenizer_json(data: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """``tokenizer.json`` (as a dict) restricted to the token ids ``keep`` (sorted), renumbered 0..len-1."""
    model = data["model"]
    if model["type"] not in TRIMMABLE:
        raise VocabularyError(
            f"Vocabulary trimming supports {', '.join(TRIMMABLE)} tokenizers; this one is {model['type']} (a BPE "
            "merge list can need tokens a trimmed vocabulary drops). Merge the untrimmed models instead."
        )
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(data))
    trimmed = out["model"]
    if trimmed["type"] == "Unigram":
        pieces = trimmed["vocab"]
        trimmed["vocab"] = [pieces[i] for i in keep if i < len(pieces)]
        if trimmed.get("unk_id") is not None:
            trimmed["unk_id"] = new_id[int(trimmed["unk_id"])]
    else:
        token_of = {int(i): token for token, i in trimmed["vocab"].items()}
        trimmed["vocab"] = {token_of[i]: new_id[i] for i in keep if i in token_of}
    for token in out.get("added_tokens") or []:
        token["id"] = new_id[int(token["id"])]
    _remap_post_processor(out.get("post_processor"), new_id)
    return out


def _weight_files(model_dir: Path) -> list[Path]:
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise VocabularyError(
            f"{model_dir}: vocabulary trimming reads safetensors weights and found none (only a pytorch_model.bin?); "
            "re-save the model with save_pretrained(..., safe_serialization=True)."
        )
    return files


def _check_same_ids(tokenizer: Any, trimmed: Any, texts: Sequence[str], new_id: dict[int, int], max_length: int | None) -> None:  # fmt: skip
    for start in range(0, len(texts), 1024):
        chunk = list(texts[start : start + 1024])
        before = tokenizer(chunk, truncation=max_length is not None, max_length=max_length)["input_ids"]
        after = trimmed(chunk, truncation=max_length is not None, max_length=max_length)["input_ids"]
        for text, old, new in zip(chunk, before, after):
            if [new_id.get(i, -1) for i in old] != list(new):
                raise VocabularyError(
                    f"The trimmed tokenizer segments {text!r} differently from the original ({len(old)} vs "
                    f"{len(new)} tokens): its tokenizer is not trimmable losslessly; merge the untrimmed models."
                )


def _tokenizer_digest(folder: Path) -> str:
    """sha256 over the tokenizer files of ``folder`` (what AutoTokenizer reads)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(TOKENIZER_FILES):
        if (folder / name).is_file():
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return digest.hexdigest()


def trim_vocabulary(
    model_dir: str | os.PathLike, output_dir: str | os.PathLike, keep_ids: Iterable[int],
    check_texts: Sequence[str] = (), max_length: int | None = None, overwrite: bool = False,
    checked_digests: Collection[str] = (),
) -> TrimmedModel:  # fmt: skip
    """Write ``model_dir`` with only the token ids ``keep_ids`` (its special tokens are always kept) to
    ``output_dir`` (atomically): the rows of every vocabulary-sized tensor (input and output embeddings, an
    output bias) gathered, every other tensor as it was, the tokenizer trimmed to the same ids, ``config``'s
    token ids renumbered. ``check_texts`` must tokenize to the renumbered ids of the original (see the module
    docstring); pass the texts the ids came from. ``checked_digests``: tokenizer digests of models trimmed from
    the same original tokenizer whose check passed on the same texts — a trimmed tokenizer with one of those
    digests tokenizes them alike, so the check is not repeated."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise VocabularyError(f"{model_dir}: vocabulary trimming needs a fast tokenizer (tokenizer.json).")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    rows = config.get("vocab_size")
    if not isinstance(rows, int):
        raise VocabularyError(
            f"{model_dir}/config.json has no vocab_size: not a model whose vocabulary can be trimmed."
        )
    specials = {int(i) for i in tokenizer.all_special_ids}
    specials |= {int(v) for name in TOKEN_ID_FIELDS if isinstance(v := config.get(name), int)}
    keep = sorted({int(i) for i in keep_ids} | specials)
    if keep[-1] >= rows or keep[0] < 0:
        raise VocabularyError(f"{model_dir}: token id {keep[-1]} is outside its vocabulary of {rows}.")
    new_id = {old: new for new, old in enumerate(keep)}
    index = torch.tensor(keep, dtype=torch.long)
    weights: dict[str, dict[str, torch.Tensor]] = {}
    before = after = 0
    gathered: list[str] = []
    # gather every vocabulary-sized tensor (input/output embeddings, an output bias); the rest stays as it is
    for path in _weight_files(model_dir):
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        for key, tensor in tensors.items():
            before += tensor.numel()
            if tensor.dim() in (1, 2) and tensor.shape[0] == rows:
                tensors[key] = tensor[index].contiguous()
                gathered.append(key)
            after += tensors[key].numel()
        weights[path.name] = tensors
    if not gathered:
        raise VocabularyError(f"{model_dir}: no tensor has the vocabulary's {rows} rows; nothing to trim.")
    config["vocab_size"] = len(keep)
    for name in TOKEN_ID_FIELDS:
        if isinstance(config.get(name), int):
            config[name] = new_id[config[name]]

    from tokenizers import Tokenizer

    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        for name, tensors in weights.items():
            save_file(tensors, str(tmp / name), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        for index_file in model_dir.glob("*.safetensors.index.json"):  # sharded: the same shards, smaller
            sharded = json.loads(index_file.read_text(encoding="utf-8"))
            sharded.setdefault("metadata", {})["total_size"] = sum(
                t.numel() * t.element_size() for tensors in weights.values() for t in tensors.values()
            )
            (tmp / index_file.name).write_text(json.dumps(sharded, indent=2) + "\n", encoding="utf-8")
        tokenizer.save_pretrained(tmp)
        data = json.loads((tmp / "tokenizer.json").read_text(encoding="utf-8"))
        (tmp / "tokenizer.json").write_text(
            json.dumps(trim_tokenizer_json(data, keep), ensure_ascii=False), "utf-8"
        )
        Tokenizer.from_file(str(tmp / "tokenizer.json"))  # parses
        for name in SLOW_TOKENIZER_FILES:  # a slow tokenizer would still use the old ids
            (tmp / name).unlink(missing_ok=True)
        config_file = tmp / "tokenizer_config.json"
        if config_file.is_file():
            tok_config = json.loads(config_file.read_text(encoding="utf-8"))
            decoder = tok_config.get("added_tokens_decoder")
            if isinstance(decoder, dict):
                tok_config["added_tokens_decoder"] = {str(new_id[int(k)]): v for k, v in decoder.items()}
            config_file.write_text(json.dumps(tok_config, indent=2, ensure_ascii=False) + "\n", "utf-8")
        for (
            extra
        ) in model_dir.iterdir():  # cards, run metadata, merge details: kept beside the trimmed weights
            if (
                extra.is_file()
                and not (tmp / extra.name).exists()
                and extra.suffix in (".md", ".json", ".csv")
            ):
                shutil.copy2(extra, tmp / extra.name)
        digest = _tokenizer_digest(tmp)
        if check_texts and digest not in checked_digests:
            _check_same_ids(tokenizer, AutoTokenizer.from_pretrained(tmp), check_texts, new_id, max_length)
    logger.info(
        "%s: vocabulary %d -> %d (%s), parameters %d -> %d", model_dir, rows, len(keep), ", ".join(gathered), before, after
    )  # fmt: skip
    return TrimmedModel(str(model_dir), str(output_dir), rows, len(keep), before, after, digest)


def _tokenizer_model(model_dir: Path) -> str:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise VocabularyError(f"{model_dir}: vocabulary trimming needs a fast tokenizer (tokenizer.json).")
    return json.dumps(json.loads(tokenizer.backend_tokenizer.to_str())["model"], sort_keys=True)


def trim_models(
    model_dirs: Sequence[str | os.PathLike], output_dirs: Sequence[str | os.PathLike], texts: Sequence[str],
    max_length: int | None = None, overwrite: bool = False, progress: bool = False,
) -> list[TrimmedModel]:  # fmt: skip
    """Trim models that share one tokenizer (a base and the models fine-tuned from it) to the same token ids,
    those ``texts`` use, so that they stay mergeable; each distinct trimmed tokenizer is checked on every text
    (once: models whose trimmed tokenizer files are identical to a checked one's share its check)."""
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    if len(model_dirs) != len(output_dirs) or not model_dirs:
        raise VocabularyError("Give one output folder per model, and at least one model.")
    if not texts:
        raise VocabularyError("No texts to trim the vocabulary to: every token would be dropped.")
    first = Path(model_dirs[0])
    reference = _tokenizer_model(first)
    for other in model_dirs[1:]:
        if _tokenizer_model(Path(other)) != reference:
            raise VocabularyError(
                f"{other} and {first} do not share one tokenizer: models trimmed together must (they are merged "
                "row by row). Trim models of one base model at a time."
            )
    keep = used_token_ids(AutoTokenizer.from_pretrained(first), texts, max_length)
    done: list[TrimmedModel] = []
    for source, target in tqdm(
        list(zip(model_dirs, output_dirs)), desc="trimming", unit="model", disable=not progress
    ):
        checked = {d.tokenizer_digest for d in done}  # the same original tokenizer (compared above)
        done.append(trim_vocabulary(source, target, keep, texts, max_length, overwrite, checked))
        if not progress:
            logger.info("trimmed %s -> %s", source, target)
    return done


__all__ = [
    "TrimmedModel",
    "VocabularyError",
    "trim_models",
    "trim_tokenizer_json",
    "trim_vocabulary",
    "used_token_ids",
]
