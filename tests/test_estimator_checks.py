"""scikit-learn's own estimator checks on every estimator (tiny fake backbones).

The estimators take text or images, one column of them, so every check that
feeds a numeric tabular matrix as X fails on the input type, by design: such
X is rejected with a clear error rather than silently stringified or read as
pixels. Each expected failure below says why, and names the test in
``test_contract.py`` or ``test_inputs.py`` that asserts the same property with real text or images.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
)
from sktransfer.selection import EncoderSelector

_NUMERIC_X = (
    "feeds a numeric tabular matrix as X; {est} takes {what} and rejects numbers "
    "with a clear error. Covered with real {what} by {test}."
)

# check name -> test in test_contract.py that asserts the same with real inputs
_EQUIVALENT = {
    "check_fit_score_takes_y": "test_contract.py::test_fit_accepts_y_and_returns_self",
    "check_estimators_overwrite_params": "test_contract.py::test_fit_does_not_change_params",
    "check_dont_overwrite_parameters": "test_contract.py::test_fit_does_not_change_params",
    "check_estimators_fit_returns_self": "test_contract.py::test_fit_accepts_y_and_returns_self",
    "check_readonly_memmap_input": "test_contract.py::test_readonly_array_input",
    "check_n_features_in_after_fitting": "test_contract.py::test_n_features_in_and_names",
    "check_n_features_in": "test_contract.py::test_n_features_in_and_names",
    "check_positive_only_tag_during_fit": "test_contract.py::test_fit_accepts_y_and_returns_self",
    "check_estimators_dtypes": "test_contract.py::test_output_is_float32",
    "check_dtype_object": "test_contract.py::test_object_and_pandas_inputs",
    "check_pipeline_consistency": "test_contract.py::test_pickle_roundtrip_identical",
    "check_estimators_nan_inf": "test_inputs.py::test_missing_text_names_row",
    "check_estimators_pickle": "test_contract.py::test_pickle_roundtrip_identical",
    "check_f_contiguous_array_estimator": "test_contract.py::test_readonly_array_input",
    "check_transformer_data_not_an_array": "test_contract.py::test_object_and_pandas_inputs",
    "check_transformer_general": "test_contract.py::test_fit_transform_equals_fit_then_transform",
    "check_methods_sample_order_invariance": "test_contract.py::test_subset_and_order_invariance",
    "check_methods_subset_invariance": "test_contract.py::test_subset_and_order_invariance",
    "check_fit2d_1sample": "test_contract.py::test_single_sample",
    "check_fit2d_1feature": "test_contract.py::test_single_sample",
    "check_dict_unchanged": "test_contract.py::test_transform_does_not_change_state",
    "check_fit_idempotent": "test_contract.py::test_fit_idempotent",
    "check_fit_check_is_fitted": "test_contract.py::test_not_fitted_error",
    "check_fit2d_predict1d": "test_inputs.py::test_wrong_shapes",
    # fine-tuners only
    "check_classifier_data_not_an_array": "test_finetune.py::test_pandas_and_list_inputs_agree",
    "check_regressor_data_not_an_array": "test_finetune.py::test_pandas_and_list_inputs_agree",
    "check_classifiers_classes": "test_finetune.py::test_any_label_type",
    "check_classifiers_train": "test_finetune.py::test_transfer_beats_scratch_on_digits",
    "check_supervised_y_2d": "test_finetune.py::test_multilabel_indicator_y",
    "check_class_weight_classifiers": "test_finetune.py::test_class_weight_balanced",
    "check_regressors_train": "test_finetune.py::test_regressor_multioutput_and_scaling",
    "check_regressors_no_decision_function": "test_finetune.py::test_regressor_multioutput_and_scaling",
    "check_regressors_int": "test_finetune.py::test_regressor_multioutput_and_scaling",
}

# EncoderSelector takes images (here) or texts like the encoders: the same numeric-X checks fail.
_SELECTOR_EQUIVALENT = {
    check: "test_selection.py::test_encoder_selector_contract"
    for check in (
        "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
        "check_estimators_fit_returns_self", "check_estimators_nan_inf", "check_estimators_overwrite_params",
        "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_fit2d_1feature",
        "check_fit2d_1sample", "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
        "check_fit_score_takes_y", "check_methods_sample_order_invariance", "check_methods_subset_invariance",
        "check_n_features_in", "check_n_features_in_after_fitting", "check_pipeline_consistency",
        "check_positive_only_tag_during_fit", "check_readonly_memmap_input", "check_transformer_data_not_an_array",
        "check_transformer_general",
    )
}

_KWARGS = (
    "passes the literal name of **kwargs ('kwargs=-1') as a parameter; **kwargs only "
    "collects skorch's prefixed parameters (module__, optimizer__...), as in skorch itself. "
    "Covered by test_finetune.py::test_prefixed_parameters_clone_and_grid_search."
)


def _expected_failures(estimator):
    est = type(estimator).__name__
    what = "text" if isinstance(estimator, (TextEncoder, TextClassifier, TextRegressor)) else "images"
    if isinstance(estimator, EncoderSelector):
        return {check: _NUMERIC_X.format(est=est, what=what, test=test)
                for check, test in _SELECTOR_EQUIVALENT.items()}
    failures = {
        check: _NUMERIC_X.format(est=est, what=what, test=test)
        for check, test in _EQUIVALENT.items()
    }
    if not isinstance(estimator, (TextEncoder, ImageEncoder)):
        failures["check_do_not_raise_errors_in_init_or_set_params"] = _KWARGS
    return failures


_FAST = dict(device="cpu", max_epochs=2, early_stopping=False, random_state=0)


@parametrize_with_checks(
    [
        TextEncoder(model="sktransfer/tiny-text", device="cpu"),
        ImageEncoder(model="sktransfer/tiny-cnn", device="cpu"),
        TextClassifier(model="sktransfer/tiny-text", **_FAST),
        TextRegressor(model="sktransfer/tiny-text", **_FAST),
        ImageClassifier(model="sktransfer/tiny-cnn", **_FAST),
        ImageRegressor(model="sktransfer/tiny-cnn", **_FAST),
        EncoderSelector(["sktransfer/tiny-cnn", ImageEncoder("sktransfer/tiny-cnn", weights=None)], device="cpu"),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
