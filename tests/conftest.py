import pytest
import torch

import torch_lazyplus


@pytest.fixture(autouse=True)
def _fresh_state():
    torch_lazyplus.sync()
    torch_lazyplus.metrics.reset()
    yield
    torch_lazyplus.set_strict(False)
