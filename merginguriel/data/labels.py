"""Canonical intent labels: MASSIVE's 60 intents in the hub dataset's ClassLabel order.

Every model the toolkit trains stores ``id2label``/``label2id`` in this order, and everything that
combines heads or logits of several models maps through label *names* first (``align_label_ids``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from merginguriel.errors import UserError

# The order of ``AmazonScience/massive``'s ``intent`` ClassLabel (the integer ids a hub-trained model uses).
INTENT_LABELS: tuple[str, ...] = (
    "datetime_query",
    "iot_hue_lightchange",
    "transport_ticket",
    "takeaway_query",
    "qa_stock",
    "general_greet",
    "recommendation_events",
    "music_dislikeness",
    "iot_wemo_off",
    "cooking_recipe",
    "qa_currency",
    "transport_traffic",
    "general_quirky",
    "weather_query",
    "audio_volume_up",
    "email_addcontact",
    "takeaway_order",
    "email_querycontact",
    "iot_hue_lightup",
    "recommendation_locations",
    "play_audiobook",
    "lists_createoradd",
    "news_query",
    "alarm_query",
    "iot_wemo_on",
    "general_joke",
    "qa_definition",
    "social_query",
    "music_settings",
    "audio_volume_other",
    "calendar_remove",
    "iot_hue_lightdim",
    "calendar_query",
    "email_sendemail",
    "iot_cleaning",
    "audio_volume_down",
    "play_radio",
    "cooking_query",
    "datetime_convert",
    "qa_maths",
    "iot_hue_lightoff",
    "iot_hue_lighton",
    "transport_query",
    "music_likeness",
    "email_query",
    "play_music",
    "audio_volume_mute",
    "social_post",
    "alarm_set",
    "qa_factoid",
    "calendar_set",
    "play_game",
    "alarm_remove",
    "lists_remove",
    "transport_taxi",
    "recommendation_movies",
    "iot_coffee",
    "music_query",
    "play_podcasts",
    "lists_query",
)
LABEL2ID: dict[str, int] = {name: i for i, name in enumerate(INTENT_LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(INTENT_LABELS))


class LabelMismatchError(UserError):
    """Label names that cannot be matched between a model and a dataset (or between models)."""


def model_label_names(config: object) -> list[str]:
    """The label names of a transformers config, in the model's output order."""
    id2label: Mapping = getattr(config, "id2label", None) or {}
    return [str(id2label[i]) for i in sorted(id2label, key=int)]


def align_label_ids(model_labels: Sequence[str], canonical: Sequence[str] = INTENT_LABELS) -> np.ndarray:
    """Map model output index -> canonical label id, by name.

    Returns an int array ``m`` with ``m[j]`` = canonical id of the model's j-th output. Raises
    ``LabelMismatchError`` if a model label is not a canonical label.
    """
    index = {name: i for i, name in enumerate(canonical)}
    unknown = [name for name in model_labels if name not in index]
    if unknown:
        raise LabelMismatchError(
            f"Model labels {unknown[:5]} are not MASSIVE intent names. Train models with this toolkit "
            "(its saved config carries the canonical id2label), or fix the model's config.json id2label."
        )
    return np.array([index[name] for name in model_labels], dtype=np.int64)


def check_labels_cover(
    model_labels: Sequence[str], dataset_labels: Sequence[str], model: str = "The model"
) -> None:
    """Raise if the dataset contains labels the model cannot predict (``model`` names it in the message)."""
    missing = sorted(set(dataset_labels) - set(model_labels))
    if missing:
        raise LabelMismatchError(
            f"{model}'s labels do not cover the dataset: {len(missing)} dataset intents are missing "
            f"from the model's id2label (e.g. {missing[:5]}). Evaluate a model trained on the same label set."
        )
