import importlib

import pytest


@pytest.mark.parametrize("module", ["perflab.measure", "perflab.report", "perflab.errors"])
def test_all_lists_exactly_the_public_names(module):
    mod = importlib.import_module(module)
    public = {n for n in vars(mod) if not n.startswith("_")}
    public -= {"annotations"}
    public = {n for n in public if not isinstance(getattr(mod, n), type(importlib))}
    assert set(mod.__all__) == public
