"""Submissions for the assignment of chapter "The Rolls-Royce example"."""

from submissions import REDUCE

#: student id -> (function, the mistaken cell)
MISTAKES = {
    "soft-margin-forgets-the-minus": ("soft_margin_loss", """import torch
def soft_margin_loss(input, target, reduction="mean"):
    loss = torch.log1p(torch.exp(target * input))""" + REDUCE),
    "soft-margin-sums-instead-of-averaging": ("soft_margin_loss", """import torch
def soft_margin_loss(input, target, reduction="mean"):
    loss = torch.log1p(torch.exp(-target * input))
    return loss if reduction == "none" else loss.sum()
"""),
    "soft-margin-log-base-10": ("soft_margin_loss", """import torch
def soft_margin_loss(input, target, reduction="mean"):
    loss = torch.log10(1 + torch.exp(-target * input))""" + REDUCE),
    "soft-margin-log-base-2": ("soft_margin_loss", """import torch
def soft_margin_loss(input, target, reduction="mean"):
    loss = torch.log2(1 + torch.exp(-target * input))""" + REDUCE),
    "correction-climbs-the-gradient": ("correction_step", """import torch
def correction_step(weight, features, target, lr=0.1):
    margin = target * (features @ weight)
    gradient = features.T @ (-target * torch.sigmoid(-margin)) / target.numel()
    return weight + lr * gradient
"""),
    "correction-sums-instead-of-averaging": ("correction_step", """import torch
def correction_step(weight, features, target, lr=0.1):
    margin = target * (features @ weight)
    gradient = features.T @ (-target * torch.sigmoid(-margin))
    return weight - lr * gradient
"""),
    "correction-modifies-weight-in-place": ("correction_step", """import torch
def correction_step(weight, features, target, lr=0.1):
    margin = target * (features @ weight)
    gradient = features.T @ (-target * torch.sigmoid(-margin)) / target.numel()
    weight -= lr * gradient
    return weight
"""),
    "correction-sigmoid-of-the-score": ("correction_step", """import torch
def correction_step(weight, features, target, lr=0.1):
    score = features @ weight
    gradient = features.T @ (-target * torch.sigmoid(-score)) / target.numel()
    return weight - lr * gradient
"""),
    "correction-forgets-the-learning-rate": ("correction_step", """import torch
def correction_step(weight, features, target, lr=0.1):
    margin = target * (features @ weight)
    gradient = features.T @ (-target * torch.sigmoid(-margin)) / target.numel()
    return weight - gradient
"""),
}

ALTERNATIVES = {
    "soft-margin-by-softplus": ("soft_margin_loss", """import torch.nn.functional as F
def soft_margin_loss(input, target, reduction="mean"):
    loss = F.softplus(-target * input)""" + REDUCE),
    "soft-margin-by-logaddexp": ("soft_margin_loss", """import torch
def soft_margin_loss(input, target, reduction="mean"):
    margin = target * input
    loss = torch.logaddexp(torch.zeros_like(margin), -margin)""" + REDUCE),
    "correction-by-autograd": ("correction_step", """import torch
def correction_step(weight, features, target, lr=0.1):
    w = weight.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(soft_margin_loss(features @ w, target), w)
    return weight - lr * gradient
"""),
}

BUILTIN_CALLERS = {
    "soft_margin_loss": """import torch.nn.functional as F
def soft_margin_loss(input, target, reduction="mean"):
    return F.soft_margin_loss(input, target, reduction=reduction)
""",
    "correction_step": """import torch
import torch.nn.functional as F
def correction_step(weight, features, target, lr=0.1):
    w = weight.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.soft_margin_loss(features @ w, target), w)
    return weight.detach() - lr * gradient
""",
}
