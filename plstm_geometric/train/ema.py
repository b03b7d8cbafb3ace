"""An exponential moving average of a model's weights, evaluated in place of the model."""
from __future__ import annotations

import copy

import torch


def check_decay(decay: float) -> None:
    """Raises ``ValueError`` unless ``0 < decay < 1`` (also for NaN)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"the EMA decay must lie in (0, 1), got {decay}")


class ModelEMA:
    r"""Keeps :math:`\bar\theta \leftarrow d_t \bar\theta + (1 - d_t)\,\theta` after every
    optimiser step, over the parameters and the floating-point buffers (BatchNorm running
    statistics); integer buffers are copied.

    The decay warms up as in ``tf.train.ExponentialMovingAverage(num_updates=t)``,
    :math:`d_t = \min(d, (1 + t) / (10 + t))` for the :math:`t`-th update, so that the average
    does not hold on to the initial weights for the first :math:`1 / (1 - d)` steps.

    Args:
        model: the model being trained (not its DDP wrapper); :meth:`update` reads its weights,
            and a copy of it becomes the average, :attr:`module`.
        decay: :math:`d \in (0, 1)`.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        check_decay(decay)
        self.decay = decay
        self.updates = 0
        self.source = model
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        t = self.updates + 1
        return min(self.decay, (1 + t) / (10 + t))

    @torch.no_grad()
    def update(self) -> None:
        """Moves the average towards the model's current weights; call after each step."""
        d = self.current_decay()
        self.updates += 1
        current = self.source.state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.lerp_(current[name].to(average.dtype), 1.0 - d)
            else:
                average.copy_(current[name])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = state["decay"], state["updates"]
        self.module.load_state_dict(state["module"])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(decay={self.decay}, updates={self.updates})"
