"""Uploading a finished model folder to the Hugging Face Hub (``--push-to-hub REPO_ID`` of train, merge and
fusion).

A folder is pushed only once it is complete (its ``COMPLETE`` marker, written last by
:func:`merginguriel.outputs.atomic.atomic_output_dir`), with :meth:`huggingface_hub.HfApi.create_repo` (``exist_ok``)
and :meth:`~huggingface_hub.HfApi.upload_folder`. :func:`check_push` runs before any work, so an offline
machine (``HF_HUB_OFFLINE=1``) or a missing login fails in a second with one clear line, not after training.
Every failure is a :class:`HubError` (a ``ValueError``: ``error: …`` and exit status 2 in the commands).
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import HfApi, get_token

from merginguriel.errors import UserError
from merginguriel.outputs.atomic import is_complete

_TRUE = {"1", "true", "yes", "on"}


class HubError(UserError):
    """The hub cannot be reached, the user is not logged in, the repo id is bad, or the upload failed."""


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set: read now when it is in the environment (huggingface_hub reads it once,
    at import time, which is what counts otherwise)."""
    from huggingface_hub import constants

    if "HF_HUB_OFFLINE" in os.environ:
        return os.environ["HF_HUB_OFFLINE"].strip().lower() in _TRUE
    return bool(constants.HF_HUB_OFFLINE)


def check_push(repo_id: str) -> None:
    """Refuse, before any work, a push that cannot happen: a malformed repo id, offline mode, no token."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(
            f"--push-to-hub {repo_id!r} is not a hub repo id (e.g. my-org/xlmr-ties-af-ZA): {exc}"
        ) from None
    if hub_offline():
        raise HubError(
            f"--push-to-hub {repo_id}: the hub is offline (HF_HUB_OFFLINE=1); unset it to push, or push the "
            "folder later with `hf upload`."
        )
    if not get_token():
        raise HubError(
            f"--push-to-hub {repo_id}: not logged in to the Hugging Face Hub; run `hf auth login` or set HF_TOKEN."
        )


def push_folder(
    folder: str | os.PathLike, repo_id: str, private: bool = False, commit_message: str | None = None
) -> str:
    """Upload the complete ``folder`` to the model repo ``repo_id`` (created if needed); the commit's URL."""
    folder = Path(folder)
    check_push(repo_id)
    if not folder.is_dir() or not is_complete(folder):
        raise HubError(f"{folder} is not a complete model folder (no COMPLETE marker); nothing was pushed.")
    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            commit_message=commit_message or f"Upload {folder.name} (merginguriel)",
        )
    except Exception as exc:  # network, permission, quota: one line, the folder stays where it is
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubError(
            f"pushing {folder} to {repo_id} failed ({type(exc).__name__}: {first}); the folder is kept."
        ) from exc
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")


__all__ = ["HubError", "check_push", "hub_offline", "push_folder"]
