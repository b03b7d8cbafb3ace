import os
import sys
import warnings
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", message=".*torch.jit.*", category=DeprecationWarning)

# Small kernels: torch's thread pool only spin-waits against them, and on the shared 2-core
# machine that made tests/nn 16x slower than one thread (83 s vs 5 s).
torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "torch_kernels: run with the compiled kernels disabled "
                                       "(PLSTM_COMPILED=0), as on CUDA or without a compiler")


@pytest.fixture(autouse=True)
def _torch_kernels(request, monkeypatch):
    if request.node.get_closest_marker("torch_kernels"):
        monkeypatch.setenv("PLSTM_COMPILED", "0")


@pytest.fixture(autouse=True)
def _seed_torch():
    # Tests that draw parameters from the global generator must not depend on test order.
    torch.manual_seed(0)


@pytest.fixture
def device() -> torch.device:
    """Device for tests that support one: ``PLSTM_TEST_DEVICE`` (default ``cpu``), e.g. ``cuda``
    in ``experiments/gpu_check.sh``."""
    name = os.environ.get("PLSTM_TEST_DEVICE", "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("PLSTM_TEST_DEVICE asks for CUDA, which is not available")
    return torch.device(name)
