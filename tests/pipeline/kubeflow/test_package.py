"""Runtime parameters of a compiled pipeline, parsed from the command line's 'name=value' items."""

import pytest

from tfx_transfer.pipeline.kubeflow import package as kfp_package


def test_parse_params():
    assert kfp_package.parse_params(["epochs=10", "note=a=b", "empty="]) == {"epochs": "10", "note": "a=b", "empty": ""}
    assert kfp_package.parse_params([]) == {}


@pytest.mark.parametrize("items", [["epochs"], ["=3"], ["two words=1"], [""]])
def test_malformed_params_raise(items):
    with pytest.raises(ValueError, match=r"Malformed parameter .*expected 'name=value'"):
        kfp_package.parse_params(items)


def test_repeated_param_raises():
    with pytest.raises(ValueError, match="'epochs' is given twice"):
        kfp_package.parse_params(["epochs=1", "epochs=2"])
