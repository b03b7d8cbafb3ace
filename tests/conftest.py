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


@pytest.fixture(autouse=True)
def _seed_torch():
    # Tests that draw parameters from the global generator must not depend on test order.
    torch.manual_seed(0)
