import numpy as np
import pytest

from merginguriel.data.labels import LABEL2ID, LabelMismatchError, align_label_ids, check_labels_cover
from merginguriel.models.evaluation import canonical_predictions, classification_metrics


def test_accuracy_and_macro_f1_by_hand():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    m = classification_metrics(y_true, y_pred)
    assert m["correct"] == 3 and m["total"] == 5
    assert m["accuracy"] == pytest.approx(0.6)
    # per class F1: class0 p=1/2 r=1/2 -> 0.5; class1 p=2/3 r=1 -> 0.8; class2 p=0 r=0 -> 0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_predictions_are_mapped_by_label_name():
    model_labels = ["weather_query", "alarm_set"]  # a model with its own order
    logits = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert canonical_predictions(logits, model_labels).tolist() == [
        LABEL2ID["alarm_set"],
        LABEL2ID["weather_query"],
    ]


def test_label_coverage_and_unknown_names():
    with pytest.raises(LabelMismatchError, match="do not cover"):
        check_labels_cover(["alarm_set"], ["alarm_set", "weather_query"])
    with pytest.raises(LabelMismatchError, match="not MASSIVE intent names"):
        align_label_ids(["LABEL_0"])
