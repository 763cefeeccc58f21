"""The optimizer of models with analog layers: :class:`AnalogSGD`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from pulsetrain._validation import Interval
from pulsetrain.torch.modules import layer_of

__all__ = ["AnalogSGD"]

_LR = Interval(0.0, None, closed="left")


class AnalogSGD(torch.optim.Optimizer):
    """SGD for models with pulsetrain analog layers: each layer's algorithm step, plain SGD else.

    ``step()`` walks the parameter groups. An analog layer's context parameter
    (``layer.analog_ctx``, among ``model.parameters()``) applies that layer's algorithm step
    ``state.step(k, x, δ)`` with the inputs x and errors δ its backward passes stored since the
    last step (several backward passes, e.g. gradient accumulation, are one step with all their
    samples; k counts the layer's steps from 0). Every other parameter with a gradient, such as
    the layers' digital biases, takes the plain SGD step ``p ← p − lr·p.grad``.

    **The learning rate.** The group's ``lr`` is the learning rate of the gradient, as in
    aihwkit, where the optimizer sets the tiles' learning rate. pulsetrain's algorithms carry
    their own rates, so an analog layer whose ``algorithm.lr`` is λ > 0 has its stored δ
    multiplied by ``s = lr / λ`` before the algorithm's step (nothing is multiplied when
    ``lr == λ``, which is then exactly the step of :class:`pulsetrain.layers.AnalogLinear`). The
    algorithm thus steps with the gradient s·g: for Analog and Digital SGD that is the step with
    ``lr`` in place of λ; for the two-array algorithms (residual learning, TTv2, RIDER, mixed
    precision, …) it scales what the gradient array or buffer accumulates, hence what reaches W,
    while ``lr_transfer``, thresholds and every other rate stay as configured. An algorithm that
    normalises the gradient by its own size (ChoppedTTv2 with ``auto_scale=True``, whose rate
    divides by a running mean of max|δ|) undoes s as that mean adapts. A torch learning-rate
    scheduler changes ``lr``, so it scales every analog layer and the digital parameters alike.
    Give the optimizer ``lr = algorithm.lr`` to train with the algorithm's own rates.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups (dicts), e.g. ``model.parameters()``.
    lr : float
        Learning rate, at least 0 (see above).

    Raises
    ------
    ParameterError
        A learning rate below 0 or not a number.

    Notes
    -----
    ``zero_grad()`` also drops the (x, δ) the analog layers stored (``model.zero_grad()``
    does not: every backward pass since the layer's last step or the optimizer's
    ``zero_grad()`` goes into its next step). A layer whose context
    parameter has no gradient (``grad is None``: no backward pass since ``zero_grad``, or the
    context frozen with ``requires_grad_(False)``) is not stepped. There is no momentum or
    weight decay: the algorithms define their own dynamics.

    Examples
    --------
    >>> import torch
    >>> import pulsetrain as pt
    >>> from pulsetrain import algorithms
    >>> from pulsetrain.torch import AnalogLinear, AnalogSGD
    >>> algo = algorithms.AnalogSGD(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
    >>> model = torch.nn.Sequential(AnalogLinear(4, 3, algorithm=algo, rng=0))
    >>> opt = AnalogSGD(model.parameters(), lr=0.1)
    >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     model(torch.ones(2, 4)).sum().backward()
    ...     opt.step()
    ...     sched.step()
    >>> opt.param_groups[0]["lr"]
    0.025
    """

    def __init__(self, params: Iterable[Any], lr: float) -> None:
        lr = _LR.validate(lr, name="lr", owner="AnalogSGD")  # type: ignore[assignment]
        super().__init__(params, {"lr": float(lr)})

    def _contexts(self) -> Iterable[torch.Tensor]:
        for group in self.param_groups:
            for p in group["params"]:
                if layer_of(p) is not None:
                    yield p

    def zero_grad(self, set_to_none: bool = True) -> None:  # noqa: FBT001, FBT002 - torch's API
        """Reset the gradients and drop the analog layers' stored (x, δ).

        Parameters
        ----------
        set_to_none : bool, optional
            Set gradients to None (default) rather than to zero, as torch's optimizers do.
        """
        super().zero_grad(set_to_none=set_to_none)
        for p in self._contexts():
            layer = layer_of(p)
            if layer is not None:
                layer._clear_pending()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one step to every parameter (see the class docstring).

        Parameters
        ----------
        closure : callable or None, optional
            Re-evaluates the model and returns the loss (run with gradients enabled).

        Returns
        -------
        object
            The closure's loss, or None.

        Raises
        ------
        ParameterError
            A group's learning rate below 0.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = float(_LR.validate(float(group["lr"]), name="lr", owner="AnalogSGD.step"))  # type: ignore[arg-type]
            for p in group["params"]:
                layer = layer_of(p)
                if layer is not None:
                    layer._apply_update(lr)
                elif p.grad is not None:
                    p.sub_(p.grad * lr)
        return loss
