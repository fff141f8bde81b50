"""scikit-learn's common estimator checks, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_set_output_transform,
    parametrize_with_checks,
)

from sksfvq import SpaceFillingVQ


@parametrize_with_checks([SpaceFillingVQ(), SpaceFillingVQ(algorithm="sgd", random_state=0)],
                         expected_failed_checks=lambda est: (
                             # the published recipe is a stochastic minibatch method:
                             # a weight of 3 cannot equal three copies of a row.
                             {"check_sample_weight_equivalence_on_dense_data":
                              "minibatch SGD (published recipe) is not repetition-invariant"}
                             if est.algorithm == "sgd" else {}))
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_set_output_transform():
    check_set_output_transform("SpaceFillingVQ", SpaceFillingVQ(n_clusters=4))


def test_feature_names_consistency():
    pytest.importorskip("pandas")
    check_dataframe_column_names_consistency("SpaceFillingVQ", SpaceFillingVQ(n_clusters=4))
