"""Where a training run writes: the model folder (atomic, also under ``torchrun``), its checkpoints folder, and
resuming from it.

With ``--output_dir OUT``:

* the finished model is written atomically: it appears at ``OUT`` complete (with ``COMPLETE``) or not at all;
  one process stages it with :func:`merginguriel.outputs.atomic.atomic_output_dir`, several (``torchrun`` /
  ``accelerate launch``) in the fixed sibling ``.OUT.partial-dist`` that rank 0 creates and renames;
* checkpoints are written to the persistent sibling ``OUT.checkpoints/`` while training, so they survive a crash
  and ``--resume_from_checkpoint latest`` finds them; after success they are deleted, or moved to
  ``OUT/checkpoints/`` with ``--keep_checkpoints``, and TensorBoard logs move to ``OUT/runs/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from transformers import TrainingArguments

from merginguriel.errors import MissingInputError, UserError
from merginguriel.models.paths import MODEL_INFIX, base_model_short_name, model_dir_name
from merginguriel.outputs.atomic import COMPLETE_MARKER, OutputExistsError, atomic_output_dir

logger = logging.getLogger("merginguriel.training")

CHECKPOINTS_SUFFIX = ".checkpoints"


def default_output_dir(models_root: str | os.PathLike, base_model: str, locales: list[str]) -> Path:
    """``{models_root}/{base}_massive_k_{locale}``; several locales are joined with '+'."""
    if len(locales) == 1:
        return Path(models_root) / model_dir_name(base_model, locales[0])
    return Path(models_root) / f"{base_model_short_name(base_model)}{MODEL_INFIX}{'+'.join(locales)}"


def checkpoints_dir(output_dir: str | os.PathLike) -> Path:
    """Where checkpoints of a run with ``--output_dir output_dir`` live while it trains: ``{output_dir}.checkpoints``."""
    output_dir = Path(output_dir)
    return output_dir.with_name(output_dir.name + CHECKPOINTS_SUFFIX)


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The ``checkpoint-N`` folder with the largest ``N`` that has a ``trainer_state.json``, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.split("-", 1)[1]
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


def world() -> tuple[int, int]:
    """``(world size, rank)`` of this process (``(1, 0)`` outside ``torchrun`` / ``accelerate launch``)."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def needs_checkpoints(args: TrainingArguments) -> bool:
    """Whether the run saves checkpoints (any ``--save_strategy`` but ``no``)."""
    return str(getattr(args.save_strategy, "value", args.save_strategy)) != "no"


def resolve_resume(resume: str | None, ckpt_dir: Path, overwrite: bool) -> str | None:
    """The checkpoint a run resumes from (None: a fresh start): ``latest`` is the newest in ``ckpt_dir`` (a fresh
    start if there is none), a path must be a checkpoint. A fresh start refuses to discard the checkpoints of
    an unfinished run unless ``overwrite``, and then removes them."""
    if resume == "latest":
        found = latest_checkpoint(ckpt_dir)
        if found is None:
            logger.warning(
                "--resume_from_checkpoint latest: no checkpoint in %s; starting from scratch.", ckpt_dir
            )
        else:
            logger.info("resuming from %s", found)
        resume = str(found) if found else None
    elif resume and not (Path(resume) / "trainer_state.json").is_file():
        raise MissingInputError(
            f"--resume_from_checkpoint {resume} is not a checkpoint folder (no trainer_state.json); "
            f"give a checkpoint-N folder or 'latest' (the newest in {ckpt_dir})."
        )
    if resume:
        _check_trainer_state(Path(resume) / "trainer_state.json")
    if not resume and latest_checkpoint(ckpt_dir) is not None and not overwrite:
        raise OutputExistsError(
            f"{ckpt_dir} holds the checkpoints of an unfinished run. Pass --resume_from_checkpoint latest to "
            "continue it, or --overwrite to discard them and start again."
        )
    if not resume and ckpt_dir.is_dir() and world()[1] == 0:
        logger.warning("removing the checkpoints of an earlier unfinished run in %s (not resuming)", ckpt_dir)
        shutil.rmtree(ckpt_dir)
    return resume


def _check_trainer_state(path: Path) -> None:
    """A checkpoint's ``trainer_state.json`` must be the JSON object Trainer wrote (a kill while it was written,
    or a hand edit, would otherwise fail deep inside Trainer after the model is loaded)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = None
    if not isinstance(state, dict) or "global_step" not in state:
        raise UserError(
            f"{path} is not a readable Trainer state (a checkpoint cut short?); resume from an earlier "
            "checkpoint-N folder, or pass --overwrite to start again."
        )


@contextlib.contextmanager
def staging_dir(final: Path, overwrite: bool) -> Iterator[Path]:
    """The folder the model is written to before it is renamed to ``final``.

    One process: :func:`merginguriel.outputs.atomic.atomic_output_dir`. Under ``torchrun`` / ``accelerate launch`` every
    process must see the same folder, so it is the fixed ``.{name}.partial-dist`` sibling, created and renamed by
    rank 0 only, with barriers around it.
    """
    size, rank = world()
    if size == 1:
        with atomic_output_dir(final, overwrite=overwrite) as tmp:
            yield tmp
        return
    from accelerate import PartialState

    state = PartialState()
    staging = final.parent / f".{final.name}.partial-dist"
    if rank == 0:
        if final.exists() and not overwrite:
            raise OutputExistsError(f"Output folder {final} exists already. Pass --overwrite to replace it.")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    state.wait_for_everyone()
    try:
        yield staging
        state.wait_for_everyone()
        if rank == 0:
            (staging / COMPLETE_MARKER).write_text("complete\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        state.wait_for_everyone()
    except BaseException:
        if rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def collect_checkpoints(ckpt_dir: Path, tmp: Path, keep: bool) -> None:
    """Move TensorBoard logs (and, if ``keep``, the checkpoints) from ``ckpt_dir`` into the model folder."""
    if not ckpt_dir.is_dir():
        return
    if (ckpt_dir / "runs").is_dir():
        shutil.move(str(ckpt_dir / "runs"), str(tmp / "runs"))
    if keep:
        (tmp / "checkpoints").mkdir(exist_ok=True)
        for path in sorted(ckpt_dir.glob("checkpoint-*")):
            shutil.move(str(path), str(tmp / "checkpoints" / path.name))
    shutil.rmtree(ckpt_dir, ignore_errors=True)


__all__ = [
    "CHECKPOINTS_SUFFIX",
    "checkpoints_dir",
    "collect_checkpoints",
    "default_output_dir",
    "latest_checkpoint",
    "needs_checkpoints",
    "resolve_resume",
    "staging_dir",
    "world",
]
