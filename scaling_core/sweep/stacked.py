r"""Stacked trials: K models of one architecture trained as one.

Small models leave a GPU idle: each step launches the same few hundred tiny kernels
whatever the width. A :class:`ModelStack` holds the parameters of ``K`` models with
a leading member axis and evaluates any function of one model for all members at
once with ``torch.func.vmap`` over ``torch.func.functional_call``, so each kernel
does ``K`` members' work. Members are independent: the loss of the stack is the
sum of the members' losses, whose gradient with respect to member :math:`k`'s
parameters is member :math:`k`'s own gradient.

Recurrent models stack through :class:`~scaling_core.models.loop_lstm.LoopLSTM`
(``nn.LSTM``'s fused kernel has no ``vmap`` rule); the RHN's cell is already a loop
of matrix products. :class:`StackedOptimizer` steps Adam, SGD or Nesterov momentum
with one learning rate per member, and :func:`clip_member_grads` clips each member's
gradient norm on its own, so every member follows the update it would follow alone.
All state lives on the device and no step reads a value back to the host, so a step
can be captured in a CUDA graph.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
from torch import nn

from scaling_core.models.loop_lstm import with_loop_lstms


class _Apply(nn.Module):
    """``forward(fn, args)`` calls ``fn(model, *args)``: any function of a model, through ``functional_call``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, fn, args):
        return fn(self.model, *args)


class ModelStack:
    """``K`` models of one architecture with their parameters stacked on a leading member axis.

    Parameters
    ----------
    models : sequence of nn.Module
        Freshly initialised models of one architecture, on one device. ``nn.LSTM``
        modules are replaced by :class:`~scaling_core.models.loop_lstm.LoopLSTM` for the
        stacked computation; :meth:`member` gives back the original architecture.

    Attributes
    ----------
    params : dict of str to Tensor
        ``(K, *shape)`` leaf tensors, the optimizer's parameters.
    buffers : dict of str to Tensor
        ``(K, *shape)`` buffers (e.g. BatchNorm running statistics).
    """

    def __init__(self, models: Sequence[nn.Module]):
        if not models:
            raise ValueError("parameter 'models' got an empty sequence; allowed: at least one model")
        self.template = copy.deepcopy(models[0])
        loops = [with_loop_lstms(m) for m in models]
        self._apply = _Apply(copy.deepcopy(loops[0]).to("meta"))
        params, buffers = torch.func.stack_module_state(loops)
        self.params = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        self.buffers = dict(buffers)

    def __len__(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def map(self, fn: Callable[..., Any], *member_args, in_dims: tuple | None = None,
            randomness: str = "different"):
        """``fn(model, *args)`` for every member at once (``vmap`` over the member axis).

        ``member_args`` carry the member axis first unless ``in_dims`` marks them ``None``
        (shared by every member). Outputs gain a leading member axis.
        """
        in_dims = tuple(0 for _ in member_args) if in_dims is None else tuple(in_dims)
        prefixed = {"model." + k: v for k, v in {**self.params, **self.buffers}.items()}

        def one(state, *args):
            return torch.func.functional_call(self._apply, state, (fn, args))

        return torch.func.vmap(one, in_dims=(0, *in_dims), randomness=randomness)(prefixed, *member_args)

    def member(self, k: int) -> nn.Module:
        """Member ``k`` as a standalone model of the original architecture (a copy of its weights)."""
        model = copy.deepcopy(self.template)
        state = {name: tensor[k].detach() for name, tensor in {**self.params, **self.buffers}.items()}
        model.load_state_dict(state)
        return model

    def keep(self, members: Sequence[int], optimizer: "StackedOptimizer | None" = None) -> None:
        """Drop every member not in ``members`` (e.g. those that stopped early), here and in ``optimizer``."""
        index = torch.as_tensor(list(members), dtype=torch.long, device=next(iter(self.params.values())).device)
        self.params = {k: p.detach().index_select(0, index).requires_grad_(True) for k, p in self.params.items()}
        self.buffers = {k: b.index_select(0, index) for k, b in self.buffers.items()}
        if optimizer is not None:
            optimizer.keep(index, self.parameters())


def clip_member_grads(params: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    r"""Scale each member's gradient to norm at most ``max_norm``; returns the norms before, ``(K,)``.

    Member :math:`k`'s gradient is multiplied by :math:`\min(1, c / (\lVert g_k \rVert + 10^{-6}))`,
    as ``torch.nn.utils.clip_grad_norm_`` does for one model.
    """
    grads = [p.grad for p in params if p.grad is not None]
    squares = sum(g.float().pow(2).flatten(1).sum(1) for g in grads)  # (K,)
    norms = squares.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
    return norms


class StackedOptimizer:
    r"""Adam, plain SGD or Nesterov momentum 0.9 over stacked parameters, one learning rate per member.

    Adam (no weight decay) with :math:`\beta = (0.9, 0.999)`, :math:`\epsilon = 10^{-8}`:

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
        \theta_k \leftarrow \theta_k - \frac{\eta_k}{1 - \beta_1^t}
            \frac{m}{\sqrt{v / (1 - \beta_2^t)} + \epsilon},

    the update of ``torch.optim.Adam``; SGD is :math:`\theta_k \leftarrow \theta_k - \eta_k g` and
    Nesterov :math:`b \leftarrow 0.9 b + g`, :math:`\theta_k \leftarrow \theta_k - \eta_k (g + 0.9 b)`,
    as ``torch.optim.SGD``. The step count is a device tensor, so :meth:`step` reads nothing back
    to the host.
    """

    def __init__(self, name: str, params: Sequence[torch.Tensor], lrs: Sequence[float] | torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9):
        from scaling_core.sweep.trainer import OPTIMIZERS

        if name not in OPTIMIZERS:
            raise ValueError(f"parameter 'optimizer' got {name!r}; allowed: {', '.join(OPTIMIZERS)}")
        self.name, self.params = name, list(params)
        device = self.params[0].device
        self.lrs = torch.as_tensor(lrs, dtype=torch.float32, device=device)
        if self.lrs.shape != (self.params[0].shape[0],):
            raise ValueError(f"parameter 'lrs' got {tuple(self.lrs.shape)} learning rates; "
                             f"allowed: one per member ({self.params[0].shape[0]})")
        self.betas, self.eps, self.momentum = betas, eps, momentum
        self.t = torch.zeros((), dtype=torch.float32, device=device)
        self.state = [self._fresh(p) for p in self.params]

    def _fresh(self, p: torch.Tensor) -> list[torch.Tensor]:
        if self.name == "adam":
            return [torch.zeros_like(p, memory_format=torch.preserve_format),
                    torch.zeros_like(p, memory_format=torch.preserve_format)]
        return [torch.zeros_like(p)] if self.name == "nesterov" else []

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every member with its own learning rate."""
        self.t += 1
        if self.name == "adam":
            beta1, beta2 = self.betas
            correction1 = 1 - beta1 ** self.t
            correction2 = (1 - beta2 ** self.t).sqrt()
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad
            lr = self.lrs.view(-1, *([1] * (p.dim() - 1)))
            if self.name == "sgd":
                p.sub_(lr * g)
            elif self.name == "nesterov":
                (buffer,) = state
                buffer.mul_(self.momentum).add_(g)
                p.sub_(lr * (g + self.momentum * buffer))
            else:
                m, v = state
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.sub_((lr / correction1) * m / (v.sqrt() / correction2 + self.eps))

    def keep(self, index: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
        """Keep the members ``index`` (the stack's :meth:`ModelStack.keep` calls this)."""
        self.params, self.lrs = list(params), self.lrs.index_select(0, index)
        self.state = [[s.index_select(0, index) for s in state] for state in self.state]
