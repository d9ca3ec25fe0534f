"""Submissions for the assignment of chapter "The loss family"."""

from submissions import REDUCE

#: student id -> (function, the mistaken cell)
MISTAKES = {
    "zero-one-counts-right-answers": ("zero_one_loss", """import torch
def zero_one_loss(input, target, reduction="mean"):
    loss = (input == target).to(torch.get_default_dtype())""" + REDUCE),
    "zero-one-hard-codes-float32": ("zero_one_loss", """def zero_one_loss(input, target, reduction="mean"):
    loss = (input != target).float()""" + REDUCE),
    "mse-sums-instead-of-averaging": ("mse_loss", """def mse_loss(input, target, reduction="mean"):
    loss = (input - target) ** 2
    return loss if reduction == "none" else loss.sum()
"""),
    "mse-forgets-the-square": ("mse_loss", """def mse_loss(input, target, reduction="mean"):
    loss = (input - target).abs()""" + REDUCE),
    "mse-leaves-torch": ("mse_loss", """import torch
def mse_loss(input, target, reduction="mean"):
    errors = [(a - b) ** 2 for a, b in zip(input.flatten().tolist(), target.flatten().tolist())]
    loss = torch.tensor(errors, dtype=input.dtype).reshape(input.shape)""" + REDUCE),
    "l1-forgets-the-abs": ("l1_loss", """def l1_loss(input, target, reduction="mean"):
    loss = input - target""" + REDUCE),
    "smooth-l1-nan-at-beta-0": ("smooth_l1_loss", """import torch
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    error = (input - target).abs()
    loss = torch.where(error < beta, 0.5 * error**2 / beta, error - 0.5 * beta)""" + REDUCE),
    "huber-divides-by-delta": ("huber_loss", """import torch
def huber_loss(input, target, reduction="mean", delta=1.0):
    error = (input - target).abs()
    loss = torch.where(error < delta, 0.5 * error**2 / delta, error - 0.5 * delta)""" + REDUCE),
}

ALTERNATIVES = {
    "mse-multiplies-the-error": ("mse_loss", """def mse_loss(input, target, reduction="mean"):
    error = input - target
    loss = error * error""" + REDUCE),
    "huber-by-min-and-clamp": ("huber_loss", """import torch
def huber_loss(input, target, reduction="mean", delta=1.0):
    error = (input - target).abs()
    quadratic = torch.clamp(error, max=delta)
    loss = 0.5 * quadratic**2 + delta * (error - quadratic)""" + REDUCE),
}

BUILTIN_CALLERS = {
    name: f"""import torch.nn.functional as F
def {name}(input, target, reduction="mean", **kwargs):
    return F.{name}(input, target, reduction=reduction, **kwargs)
"""
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
}
BUILTIN_CALLERS["zero_one_loss"] = """import torch
import torch.nn.functional as F
def zero_one_loss(input, target, reduction="mean"):
    wrong = (input != target).to(torch.get_default_dtype())
    return F.l1_loss(wrong, torch.zeros_like(wrong), reduction=reduction)
"""
