"""The offline end-to-end demo with a decoder LM: the flow of :mod:`merginguriel.demo.encoder` (train one model per
built-in locale with the typed training API, similarity, merges through the experiment program, single models on
the target, comparison table and plot), with ``--task generative`` models fine-tuned from a tiny randomly
initialised decoder (:mod:`merginguriel.generative.tiny`: Llama family by default, a word-level tokenizer over the
built-in corpus) built at demo time, so it runs offline in a few minutes on two CPU cores.

The tiny base is written once to ``{workdir}/pretrained/tiny-{family}-decoder`` (seeded: the same every time) and
reused; its models are ``{workdir}/haryos_model/tiny-{family}-decoder_massive_k_{locale}``, next to (not over)
the encoder demo's. Torch runs on one thread meanwhile: a model this small trains several times faster so on a
small, busy machine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from merginguriel.demo.encoder import DemoConfig, DemoResult, Report, run_demo
from merginguriel.generative.tiny import build_tiny_decoder
from merginguriel.outputs.atomic import atomic_output_dir


@dataclass
class GenerativeDemoConfig(DemoConfig):
    """:class:`~merginguriel.demo.encoder.DemoConfig` with the tiny decoder's training defaults, its family and size.
    ``base_model`` (a local causal-LM folder) replaces the tiny decoder."""

    epochs: float = 12.0
    learning_rate: float = 3e-3
    batch_size: int = 32
    family: str = "llama"
    hidden_size: int = 64
    num_layers: int = 2


def tiny_base(config: GenerativeDemoConfig, say: Report) -> Path:
    """The demo's tiny decoder folder, built (atomically) when it is not there yet."""
    folder = Path(config.workdir) / "pretrained" / f"tiny-{config.family}-decoder"
    if (folder / "config.json").is_file():
        return folder
    say(f"[0/4] building a tiny {config.family} decoder and word-level tokenizer in {folder}")
    with atomic_output_dir(folder) as tmp:
        build_tiny_decoder(tmp, config.family, config.seed, config.hidden_size, config.num_layers)
    return folder


def run_generative_demo(config: GenerativeDemoConfig | None = None, say: Report = print) -> DemoResult:
    """The demo flow with generative decoder models (see the module doc); the same :class:`DemoResult`."""
    config = config or GenerativeDemoConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base = config.base_model or str(tiny_base(config, say))
        return run_demo(
            dataclasses.replace(config, base_model=base), say, training_fields={"task": "generative"}
        )
    finally:
        torch.set_num_threads(threads)


__all__ = ["GenerativeDemoConfig", "run_generative_demo", "tiny_base"]
