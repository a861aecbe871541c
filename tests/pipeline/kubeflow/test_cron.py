"""Cron expressions of recurring runs, checked and converted to KFP v2's 6-field form."""

import pytest

from tfx_transfer.pipeline.kubeflow import cron as kfp_cron


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("0 3 * * *", "0 0 3 * * *"),
        ("*/15 * * * *", "0 */15 * * * *"),
        ("0 9 ? * MON-FRI", "0 0 9 ? * MON-FRI"),
        ("30 0 9 1,15 jan-jun ?", "30 0 9 1,15 jan-jun ?"),
        ("  0   0 0 * * 0 ", "0 0 0 * * 0"),
    ],
)
def test_valid_cron_is_converted_to_six_fields(schedule, expected):
    assert kfp_cron.to_kfp_cron(schedule) == expected


@pytest.mark.parametrize("schedule", ["0 3 * *", "61 * * * *", "0 3 * * MON-XYZ", "*/0 * * * *", "5-1 * * * *"])
def test_bad_cron_names_the_expression(schedule):
    with pytest.raises(ValueError, match=r"Invalid schedule .*Expected a cron expression"):
        kfp_cron.to_kfp_cron(schedule)
