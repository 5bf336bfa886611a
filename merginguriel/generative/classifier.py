"""Intent classification with a decoder language model: the prompt, the marker a trained model carries, label
scoring, constrained generation over a label trie, and the classifier wrapper every command evaluates.

**Prompt and target.** An utterance becomes the prompt ``template`` with ``{text}`` replaced by it (default
``"Utterance: {text}\\nIntent:"``, the same for every locale, so models of different locales share it and can be
merged). The target after the prompt is the intent's *label text* (default: a space, then the intent name with
``_`` as spaces, ``" iot hue lightoff"``), then the tokenizer's EOS token. Prompt and label text are tokenized
separately and concatenated (prompt with the tokenizer's special tokens, e.g. Llama's BOS; label text without),
so the prompt's last token never depends on the label, and training and scoring see the same ids. A prompt
longer than ``max_length`` tokens keeps its *last* ``max_length`` tokens (the ``Intent:`` cue stays next to the
label).

**Marker.** A trained model's ``config.json`` carries ``"merginguriel_generative"`` (see :class:`GenerativeSpec`:
format version, template, label texts as [name, text] pairs in label order, scoring rule) and ``id2label``/``label2id`` in the same
label order. Being in ``config.json`` it is part of the model's content fingerprint (so the logits cache sees a
changed template), the merge engine copies it into a merged model, and ``save_pretrained`` keeps it.

**Scoring** (:func:`score_labels`). The score of label ``j`` for prompt ``x`` is the *sum* (not length-normalised)
of the log-probabilities of its tokens, EOS included::

    s_j(x) = Σ_{t=1..n_j} log p(y_{j,t} | x, y_{j,<t}),      y_j = tokens(label text j) + [EOS]

The prediction is ``argmax_j s_j``. The prompt is run once per utterance (its key/value cache kept), then the
label continuations, grouped by token length (so no padding), run batched over that cache. The 60 scores are the
"logits" of the toolkit (cache, ensembles, NxN): ``softmax(s)`` is the model's label distribution renormalised
over the 60 labels.

**Constrained generation** (:func:`trie_decode`). Decoding token by token, restricted to a trie of the label
token sequences, until EOS. Greedy decoding over the trie is *not* the argmax of the summed scores in general
(it commits to the best first token), so the search is best-first: nodes are expanded in order of their prefix
score; log-probabilities are ≤ 0, so a prefix's score bounds every label below it, and the first complete label
popped has the highest sum. Under the summed-score rule (and only under it: a length-normalised score is not
monotone along a path) it therefore predicts exactly what :func:`score_labels` predicts (up to floating-point
near-ties). Its row holds the winner's exact score and, for every other label, the score of its deepest explored
prefix (an upper bound on its score), so its argmax is the generated label.
"""

from __future__ import annotations

import copy
import heapq
import inspect
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from merginguriel.data.labels import INTENT_LABELS
from merginguriel.errors import UserError

MARKER_KEY = "merginguriel_generative"
MARKER_FORMAT = 1
TEXT_FIELD = "{text}"
DEFAULT_PROMPT_TEMPLATE = "Utterance: {text}\nIntent:"
SCORING = "sum_logprob"  # Σ_t log p(label token t | prompt, earlier label tokens), EOS included
DECODINGS = ("score", "trie")
# float32 bytes of the vocabulary logits of one batched label-continuation pass (rows x steps x vocab)
SCORE_CHUNK_BYTES = 256 * 2**20


class GenerativeSpecError(UserError):
    """A prompt template, label set or tokenizer that cannot make a generative intent classifier."""


def default_label_text(label: str) -> str:
    """The default text generated for an intent: a space, then its name with ``_`` as spaces."""
    return " " + label.replace("_", " ")


def _default_label_texts() -> tuple[tuple[str, str], ...]:
    return tuple((name, default_label_text(name)) for name in INTENT_LABELS)


def check_template(template: str) -> str:
    """``template`` if it holds ``{text}`` exactly once, else a :class:`GenerativeSpecError`."""
    if not isinstance(template, str) or template.count(TEXT_FIELD) != 1:
        raise GenerativeSpecError(
            f"The prompt template must contain {TEXT_FIELD} exactly once (it is replaced by the utterance); "
            f"got {template!r}."
        )
    return template


@dataclass(frozen=True)
class GenerativeSpec:
    """How a decoder LM classifies intents: the prompt template and, in label order, each label's text."""

    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    label_texts: tuple[tuple[str, str], ...] = field(default_factory=_default_label_texts)

    def __post_init__(self) -> None:
        check_template(self.prompt_template)
        names = [name for name, _ in self.label_texts]
        texts = [text for _, text in self.label_texts]
        if not names or len(set(names)) != len(names) or len(set(texts)) != len(texts):
            raise GenerativeSpecError("Label names and label texts must be non-empty and distinct.")
        if any(not t.strip() for t in texts):
            raise GenerativeSpecError("Every label text must hold more than white space.")

    @property
    def labels(self) -> list[str]:
        return [name for name, _ in self.label_texts]

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.label_texts]

    def prompt(self, text: str) -> str:
        return self.prompt_template.replace(TEXT_FIELD, text)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MARKER_FORMAT,
            "prompt_template": self.prompt_template,
            "label_texts": [list(pair) for pair in self.label_texts],  # pairs: a JSON list keeps the order
            "scoring": SCORING,
        }

    @classmethod
    def from_json(cls, marker: Mapping[str, Any], where: str = "config.json") -> GenerativeSpec:
        if not isinstance(marker, Mapping) or marker.get("format") != MARKER_FORMAT:
            raise GenerativeSpecError(
                f"{where}: {MARKER_KEY} must be an object with format {MARKER_FORMAT} (got {marker!r:.120})."
            )
        if marker.get("scoring", SCORING) != SCORING:
            raise GenerativeSpecError(f"{where}: unknown scoring rule {marker.get('scoring')!r}.")
        pairs = marker.get("label_texts")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise GenerativeSpecError(
                f"{where}: {MARKER_KEY}.label_texts must be a list of [label name, label text] pairs in label "
                "order (config.json sorts object keys, so an object would lose the order)."
            )
        return cls(str(marker.get("prompt_template")), tuple((str(k), str(v)) for k, v in pairs))

    def apply(self, config: Any) -> None:
        """Write the marker and ``id2label``/``label2id`` (label order) into a transformers config."""
        setattr(config, MARKER_KEY, self.to_json())
        config.id2label = dict(enumerate(self.labels))
        config.label2id = {name: i for i, name in enumerate(self.labels)}


def _read_config(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def generative_spec(model_dir: str | os.PathLike) -> GenerativeSpec | None:
    """The spec a model folder's ``config.json`` carries, or None for any other model (an encoder classifier,
    a plain language model, a hub id, a folder without config)."""
    config = _read_config(model_dir)
    if config is None or MARKER_KEY not in config:
        return None
    return GenerativeSpec.from_json(config[MARKER_KEY], f"{Path(model_dir) / 'config.json'}")


def is_generative(model_dir: str | os.PathLike) -> bool:
    """Whether ``model_dir`` is a generative intent model (its ``config.json`` carries the marker)."""
    return generative_spec(model_dir) is not None


def generative_info(model_dir: str | os.PathLike) -> dict[str, Any]:
    """What ``results.json``'s ``model_info`` says about a generative model (``{}`` for any other)."""
    spec = generative_spec(model_dir)
    if spec is None:
        return {}
    return {"task": "generative", "prompt_template": spec.prompt_template, "scoring": SCORING}


def check_same_task(paths: Sequence[str | os.PathLike]) -> GenerativeSpec | None:
    """The spec shared by the models at ``paths`` (None when none is generative). A generative model next to an
    encoder classifier, or two generative models with different templates or label texts, is a
    :class:`GenerativeSpecError` naming both."""
    specs = [generative_spec(p) for p in paths]
    if not specs or all(s is None for s in specs):
        return None
    first = next(i for i, s in enumerate(specs) if s is not None)
    for i, spec in enumerate(specs):
        if spec is None:
            raise GenerativeSpecError(
                f"Cannot combine a generative decoder with an encoder classifier: {paths[first]} is a generative "
                f"intent model (decoder LM), {paths[i]} is not. Merge models of one kind, fine-tuned from one base."
            )
        if spec != specs[first]:
            what = (
                "prompt template" if spec.prompt_template != specs[first].prompt_template else "label texts"
            )
            raise GenerativeSpecError(
                f"{paths[first]} and {paths[i]} are generative intent models with different {what}; they "
                "score labels differently and cannot be merged."
            )
    return specs[first]


# ----------------------------------------------------------------------------------------------- tokenizing


class PromptTokenizer:
    """A tokenizer that turns utterances into prompt ids (template applied, right-padded), and the label texts
    into their token sequences (+ EOS). Called like a transformers tokenizer on a list of texts, it returns the
    prompt batch a :class:`GenerativeClassifier` takes, so the toolkit's one inference loop needs no special case.
    Anything else (``save_pretrained``, ``eos_token`` …) is the wrapped tokenizer's."""

    def __init__(self, tokenizer: Any, spec: GenerativeSpec) -> None:
        self.tokenizer = tokenizer
        self.spec = spec
        eos = tokenizer.eos_token_id
        if eos is None:
            raise GenerativeSpecError(
                "The tokenizer has no eos_token; the generative classifier ends every label with it."
            )
        self.eos_id = int(eos)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else eos)
        ids = tokenizer(spec.texts, add_special_tokens=False)["input_ids"]
        self.label_sequences: list[list[int]] = [[*map(int, seq), self.eos_id] for seq in ids]
        _check_label_sequences(self.label_sequences, spec.labels, self.eos_id)

    def __getattr__(self, name: str) -> Any:
        if name == "tokenizer":
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def prompt_ids(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids of each text's prompt (special tokens included), the last ``max_length`` kept."""
        ids = self.tokenizer([self.spec.prompt(t) for t in texts], add_special_tokens=True)["input_ids"]
        return [list(map(int, x[-max_length:] if max_length else x)) for x in ids]

    def pad(self, sequences: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` of ``sequences``."""
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, seq in enumerate(sequences):
            ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[i, : len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def __call__(
        self,
        texts: str | Sequence[str],
        padding: bool | str = True,
        truncation: bool = True,
        max_length: int | None = None,
        return_tensors: str | None = "pt",
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        """The prompt batch of ``texts`` (always right-padded tensors; ``max_length`` when ``truncation``)."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        return self.pad(self.prompt_ids(batch, max_length if truncation else None))

    def save_pretrained(self, folder: str | os.PathLike) -> Any:
        return self.tokenizer.save_pretrained(folder)


def _check_label_sequences(sequences: Sequence[Sequence[int]], labels: Sequence[str], eos: int) -> None:
    """Each label's sequence must be distinct and hold EOS only at its end (so the set is prefix-free)."""
    seen: dict[tuple[int, ...], str] = {}
    for seq, name in zip(sequences, labels):
        if eos in seq[:-1]:
            raise GenerativeSpecError(f"The text of label {name!r} tokenizes to ids that contain EOS.")
        key = tuple(seq)
        if key in seen:
            raise GenerativeSpecError(
                f"Labels {seen[key]!r} and {name!r} tokenize to the same ids {list(seq)}: the tokenizer cannot "
                "tell them apart (unknown words?). Use a tokenizer that covers the label texts."
            )
        seen[key] = name


# ----------------------------------------------------------------------------------------------- scoring


def _cache_argument(lm: Any) -> str:
    """The name under which this transformers version's causal LMs take a key/value cache."""
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    params = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _output_cache(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return output.past_key_values if cache is None else cache


def _kv_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer of a transformers cache (``DynamicCache`` old and new, or legacy tuples)."""
    if isinstance(cache, (tuple, list)):
        return [(layer[0], layer[1]) for layer in cache]
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _select_cache(layers: Sequence[tuple[torch.Tensor, torch.Tensor]], rows: torch.Tensor) -> Any:
    """A fresh cache holding the prompt rows ``rows`` (repeats allowed) of every layer."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for i, (keys, values) in enumerate(layers):
        cache.update(keys.index_select(0, rows), values.index_select(0, rows), i)
    return cache


@dataclass
class _Prompt:
    """One prompt pass: the cache layers, the mask and lengths, and the log-probs of the first label token."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor
    lengths: torch.Tensor
    first: torch.Tensor  # (B, vocab) float32 log-probs after each prompt


def _prompt_pass(lm: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> _Prompt:
    b, t = input_ids.shape
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(input_ids.device)
    lengths = mask.sum(dim=1)
    if bool((lengths == 0).any()):
        raise GenerativeSpecError("An empty prompt cannot be scored.")
    positions = torch.arange(t, device=input_ids.device).expand(b, t)
    out = lm(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True)
    last = out.logits[torch.arange(b, device=input_ids.device), lengths - 1].float().log_softmax(-1)
    return _Prompt(_kv_layers(_output_cache(out)), mask, lengths, last)


def _continuation(
    lm: Any, prompt: _Prompt, rows: torch.Tensor, tokens: torch.Tensor, cache_arg: str
) -> torch.Tensor:
    """Logits (len(rows), steps, vocab) of ``tokens`` fed after prompts ``rows`` (over the prompt cache)."""
    steps = tokens.shape[1]
    ones = torch.ones((len(rows), steps), dtype=prompt.mask.dtype, device=prompt.mask.device)
    mask = torch.cat([prompt.mask.index_select(0, rows), ones], dim=1)
    positions = prompt.lengths.index_select(0, rows)[:, None] + torch.arange(steps, device=tokens.device)
    kwargs = {cache_arg: _select_cache(prompt.layers, rows)}
    out = lm(input_ids=tokens, attention_mask=mask, position_ids=positions, use_cache=True, **kwargs)
    return out.logits


def _group_scores(
    lm: Any, prompt: _Prompt, seqs: torch.Tensor, cache_arg: str, chunk_bytes: int
) -> torch.Tensor:
    """(B, g): Σ_{t≥2} log p(token t | prompt, tokens < t) of ``g`` label sequences of one length, over every
    prompt, in chunks of (prompt, label) rows whose float32 logits fit ``chunk_bytes``."""
    batch, vocab = prompt.first.shape
    g, length = seqs.shape
    inputs, targets = seqs[:, :-1], seqs[:, 1:]
    total = batch * g
    per_chunk = max(1, chunk_bytes // ((length - 1) * vocab * 4))
    parts = []
    for start in range(0, total, per_chunk):
        rows = torch.arange(start, min(total, start + per_chunk), device=seqs.device)
        b, j = rows // g, rows % g
        logits = _continuation(lm, prompt, b, inputs.index_select(0, j), cache_arg)
        logp = logits.float().log_softmax(-1)
        parts.append(logp.gather(-1, targets.index_select(0, j).unsqueeze(-1)).squeeze(-1).sum(-1))
        del logits, logp
    return torch.cat(parts).view(batch, g)


def score_labels(
    lm: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    label_sequences: Sequence[Sequence[int]],
    chunk_bytes: int = SCORE_CHUNK_BYTES,
) -> torch.Tensor:
    """(B, L) float32 label scores ``s_j(x) = Σ_t log p(y_{j,t} | x, y_{j,<t})`` (the sum, EOS included; see the
    module doc) of right-padded prompts ``input_ids`` for each label token sequence. Differentiable (the
    Fisher statistics backpropagate through it); wrap in ``torch.no_grad`` to score."""
    device = input_ids.device
    prompt = _prompt_pass(lm, input_ids, attention_mask)
    first = torch.tensor([seq[0] for seq in label_sequences], device=device)
    scores = prompt.first.index_select(1, first)
    cache_arg = _cache_argument(lm)
    by_length: dict[int, list[int]] = {}
    for j, seq in enumerate(label_sequences):
        by_length.setdefault(len(seq), []).append(j)
    for length, members in sorted(by_length.items()):
        if length < 2:
            continue
        seqs = torch.tensor([list(label_sequences[j]) for j in members], dtype=torch.long, device=device)
        columns = torch.tensor(members, device=device)
        scores = scores.index_add(1, columns, _group_scores(lm, prompt, seqs, cache_arg, chunk_bytes))
    return scores


# ----------------------------------------------------------------------------------------------- trie


class LabelTrie:
    """The label token sequences as a trie: each prefix's next tokens, and which complete sequence is which
    label (the sequences end with EOS, so no label is a prefix of another)."""

    def __init__(self, label_sequences: Sequence[Sequence[int]]) -> None:
        self.sequences = [tuple(int(t) for t in seq) for seq in label_sequences]
        self.leaves = {seq: j for j, seq in enumerate(self.sequences)}
        children: dict[tuple[int, ...], dict[int, None]] = {}
        for seq in self.sequences:
            for depth in range(len(seq)):
                children.setdefault(seq[:depth], {})[seq[depth]] = None
        self.children = {prefix: list(tokens) for prefix, tokens in children.items()}


def _decode_one(
    lm: Any, prompt: _Prompt, row: int, trie: LabelTrie, cache_arg: str
) -> tuple[int, list[float]]:
    """Best-first search over the trie for prompt ``row``: (label index, per-label row; see the module doc)."""
    device = prompt.mask.device
    known: dict[tuple[int, ...], float] = {(): 0.0}
    heap: list[tuple[float, tuple[int, ...]]] = []

    def expand(prefix: tuple[int, ...], logp: torch.Tensor) -> None:
        values = logp[trie.children[prefix]].tolist()
        for token, value in zip(trie.children[prefix], values):
            child = (*prefix, token)
            known[child] = known[prefix] + float(value)
            heapq.heappush(heap, (-known[child], child))

    expand((), prompt.first[row])
    rows = torch.tensor([row], device=device)
    while True:
        _, prefix = heapq.heappop(heap)
        if prefix in trie.leaves:
            winner = trie.leaves[prefix]
            break
        tokens = torch.tensor([prefix], dtype=torch.long, device=device)
        expand(prefix, _continuation(lm, prompt, rows, tokens, cache_arg)[0, -1].float().log_softmax(-1))
    out = []
    for seq in trie.sequences:
        depth = max(d for d in range(len(seq) + 1) if seq[:d] in known)
        out.append(known[seq[:depth]])
    return winner, out


def trie_decode(
    lm: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    label_sequences: Sequence[Sequence[int]],
) -> torch.Tensor:
    """(B, L) rows of constrained generation over the label trie (best-first; see the module doc): the argmax of
    each row is the generated label, its value that label's summed score."""
    trie = LabelTrie(label_sequences)
    prompt = _prompt_pass(lm, input_ids, attention_mask)
    cache_arg = _cache_argument(lm)
    rows = [_decode_one(lm, prompt, b, trie, cache_arg)[1] for b in range(input_ids.shape[0])]
    return torch.tensor(rows, dtype=torch.float32, device=input_ids.device)


# ----------------------------------------------------------------------------------------------- classifier


@dataclass
class ClassifierOutput:
    logits: torch.Tensor


class GenerativeClassifier:
    """A causal LM seen as a 60-way classifier: called on a prompt batch (from :class:`PromptTokenizer`) it
    returns ``.logits`` = the label scores (``decoding="score"``) or the constrained-generation rows
    (``decoding="trie"``). ``config`` is the LM's config with ``id2label`` in label order; parameters, modules,
    ``training`` and the rest are the LM's own (so statistics are keyed by the checkpoint's names)."""

    def __init__(self, lm: Any, tokenizer: PromptTokenizer, decoding: str = "score") -> None:
        if decoding not in DECODINGS:
            raise GenerativeSpecError(f"Unknown decoding {decoding!r}; choose from {', '.join(DECODINGS)}.")
        self.lm = lm
        self.tokenizer = tokenizer
        self.decoding = decoding
        self.config = copy.deepcopy(lm.config)
        tokenizer.spec.apply(self.config)

    def __getattr__(self, name: str) -> Any:
        if name == "lm":
            raise AttributeError(name)
        return getattr(self.lm, name)

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
    ) -> ClassifierOutput:
        decode = score_labels if self.decoding == "score" else trie_decode
        return ClassifierOutput(decode(self.lm, input_ids, attention_mask, self.tokenizer.label_sequences))

    def to(self, *args: Any, **kwargs: Any) -> GenerativeClassifier:
        self.lm.to(*args, **kwargs)
        return self

    def eval(self) -> GenerativeClassifier:
        self.lm.eval()
        return self

    def train(self, mode: bool = True) -> GenerativeClassifier:
        self.lm.train(mode)
        return self


def load_generative(
    model_dir: str | os.PathLike, device: str = "cpu", decoding: str = "score"
) -> tuple[GenerativeClassifier, PromptTokenizer]:
    """(classifier in eval mode on ``device``, prompt tokenizer) of a generative intent model folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = generative_spec(model_dir)
    if spec is None:
        raise GenerativeSpecError(
            f"{model_dir} is not a generative intent model (no {MARKER_KEY} in config.json)."
        )
    tokenizer = PromptTokenizer(AutoTokenizer.from_pretrained(str(model_dir)), spec)
    lm = AutoModelForCausalLM.from_pretrained(str(model_dir))
    classifier = GenerativeClassifier(lm, tokenizer, decoding).to(device).eval()
    return classifier, tokenizer


__all__ = [
    "DECODINGS",
    "DEFAULT_PROMPT_TEMPLATE",
    "MARKER_KEY",
    "SCORING",
    "GenerativeClassifier",
    "GenerativeSpec",
    "GenerativeSpecError",
    "LabelTrie",
    "PromptTokenizer",
    "check_same_task",
    "check_template",
    "default_label_text",
    "generative_info",
    "generative_spec",
    "is_generative",
    "load_generative",
    "score_labels",
    "trie_decode",
]
