"""Soft neighbourhood density on hand-built predictions."""

import math

import numpy as np

from tfx_transfer.trainer.domain import label_free


def test_two_sure_clusters_score_the_entropy_of_a_uniform_choice_within_a_cluster():
    clustered = np.repeat(np.eye(2), 10, axis=0)  # 10 rows sure of class 0, 10 sure of class 1
    # each row's neighbours: 9 identical rows (similarity 1), 10 orthogonal ones (similarity 0, weight e^-20)
    assert math.isclose(label_free.soft_neighbourhood_density(clustered), math.log(9), rel_tol=1e-6)


def test_clustered_predictions_score_above_diffuse_ones():
    rng = np.random.default_rng(0)
    clustered = np.repeat(np.eye(3), 20, axis=0) * 0.9 + 0.1 / 3
    diffuse = rng.dirichlet(np.ones(3), size=60)
    assert label_free.soft_neighbourhood_density(clustered) > label_free.soft_neighbourhood_density(diffuse)


def test_too_few_rows_have_no_density_and_many_rows_are_sampled(monkeypatch):
    assert math.isnan(label_free.soft_neighbourhood_density(np.eye(2)))
    monkeypatch.setattr(label_free, "MAX_SND_ROWS", 10)
    many = np.repeat(np.eye(2), 50, axis=0)
    value = label_free.soft_neighbourhood_density(many, seed=1)
    assert value == label_free.soft_neighbourhood_density(many, seed=1) and value < math.log(10)
