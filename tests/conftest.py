import pytest
import torch

import torch_lazyplus


@pytest.fixture(autouse=True)
def _fresh_state():
    torch_lazyplus.sync()
    torch_lazyplus.metrics.reset()
    yield
    torch_lazyplus.set_strict(False)


@pytest.fixture(params=["fused", "reference"])
def each_lowering(request):
    """Runs a test once under each CPU lowering (test files ask for it in their `pytestmark`)."""
    with torch_lazyplus.use_lowering(request.param):
        yield request.param


def pytest_configure(config):
    # The OpInfo sweeps sync hundreds of distinct graphs from one test line, which is expected there.
    torch_lazyplus.debug.set_max_graphs_per_site(1_000_000)
