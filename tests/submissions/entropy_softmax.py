"""Submissions for the assignment of chapter "From entropy to softmax loss"."""

from submissions import REDUCE

KL_REDUCE = """
    if reduction == "batchmean":
        return loss.sum() / input.size(0)""" + REDUCE

#: student id -> (function, the mistaken cell)
MISTAKES = {
    # entropy
    "entropy-nan-at-zero": ("entropy", """import torch
def entropy(p, dim=-1):
    return -(p * torch.log(p)).sum(dim)
"""),
    "entropy-log-base-2": ("entropy", """import torch
def entropy(p, dim=-1):
    return -torch.where(p > 0, p * torch.log2(p), torch.zeros_like(p)).sum(dim)
"""),
    "entropy-missing-minus": ("entropy", """import torch
def entropy(p, dim=-1):
    return torch.where(p > 0, p * torch.log(p), torch.zeros_like(p)).sum(dim)
"""),
    "entropy-ignores-dim": ("entropy", """import torch
def entropy(p, dim=-1):
    return -torch.where(p > 0, p * torch.log(p), torch.zeros_like(p)).sum(-1)
"""),
    # softmax
    "softmax-without-max-subtraction": ("softmax", """import torch
def softmax(input, dim=-1):
    exp = torch.exp(input)
    return exp / exp.sum(dim, keepdim=True)
"""),
    "softmax-ignores-dim": ("softmax", """import torch
def softmax(input, dim=-1):
    exp = torch.exp(input - input.amax(-1, keepdim=True))
    return exp / exp.sum(-1, keepdim=True)
"""),
    "softmax-normalises-the-whole-tensor": ("softmax", """import torch
def softmax(input, dim=-1):
    exp = torch.exp(input - input.max())
    return exp / exp.sum()
"""),
    # log_softmax
    "log-softmax-as-log-of-naive-softmax": ("log_softmax", """import torch
def log_softmax(input, dim=-1):
    exp = torch.exp(input)
    return torch.log(exp / exp.sum(dim, keepdim=True))
"""),
    "log-softmax-as-log-of-stable-softmax": ("log_softmax", """import torch
def log_softmax(input, dim=-1):
    exp = torch.exp(input - input.amax(dim, keepdim=True))
    return torch.log(exp / exp.sum(dim, keepdim=True))
"""),
    # nll_loss
    "nll-missing-minus": ("nll_loss", """def nll_loss(input, target, reduction="mean"):
    loss = input.gather(1, target.unsqueeze(1)).squeeze(1)""" + REDUCE),
    "nll-averages-over-all-elements": ("nll_loss", """def nll_loss(input, target, reduction="mean"):
    loss = -input.gather(1, target.unsqueeze(1)).squeeze(1)
    if reduction == "mean":
        return loss.sum() / input.numel()
    if reduction == "sum":
        return loss.sum()
    return loss
"""),
    # cross_entropy
    "cross-entropy-applies-softmax-twice": ("cross_entropy", """import torch
def cross_entropy(input, target, reduction="mean"):
    exp = torch.exp(input - input.amax(1, keepdim=True))
    probs = exp / exp.sum(1, keepdim=True)
    # cross-entropy of the probabilities, as if they were logits: a second softmax
    loss = torch.logsumexp(probs, dim=1) - probs.gather(1, target.unsqueeze(1)).squeeze(1)""" + REDUCE),
    "cross-entropy-unstable": ("cross_entropy", """import torch
def cross_entropy(input, target, reduction="mean"):
    exp = torch.exp(input)
    probs = exp / exp.sum(1, keepdim=True)
    loss = -torch.log(probs.gather(1, target.unsqueeze(1)).squeeze(1))""" + REDUCE),
    # binary_cross_entropy
    "bce-without-clamp": ("binary_cross_entropy", """import torch
def binary_cross_entropy(input, target, reduction="mean"):
    loss = -(target * torch.log(input) + (1 - target) * torch.log(1 - input))""" + REDUCE),
    "bce-log-base-2": ("binary_cross_entropy", """import torch
def binary_cross_entropy(input, target, reduction="mean"):
    log_p = torch.clamp(torch.log2(input), min=-100)
    log_1mp = torch.clamp(torch.log2(1 - input), min=-100)
    loss = -(target * log_p + (1 - target) * log_1mp)""" + REDUCE),
    # binary_cross_entropy_with_logits
    "bce-logits-sigmoid-then-log": ("binary_cross_entropy_with_logits", """import torch
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    p = torch.sigmoid(input)
    loss = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))""" + REDUCE),
    "bce-logits-abs-and-clamp-kink-at-zero": ("binary_cross_entropy_with_logits", """import torch
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    # the right values everywhere, but autograd takes one-sided derivatives of clamp and abs at 0
    loss = input.clamp(min=0) - input * target + torch.log1p(torch.exp(-input.abs()))""" + REDUCE),
    # kl_div
    "kl-batchmean-as-mean": ("kl_div", """import torch
def kl_div(input, target, reduction="mean", log_target=False):
    log_p = target if log_target else torch.log(target)
    p = torch.exp(target) if log_target else target
    loss = torch.where(p > 0, p * (log_p - input), torch.zeros_like(p))
    if reduction in ("mean", "batchmean"):
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
"""),
    "kl-ignores-log-target": ("kl_div", """import torch
def kl_div(input, target, reduction="mean", log_target=False):
    loss = torch.xlogy(target, target) - target * input""" + KL_REDUCE),
    "kl-swaps-the-roles": ("kl_div", """import torch
def kl_div(input, target, reduction="mean", log_target=False):
    log_p = target if log_target else torch.log(target)
    loss = torch.exp(input) * (input - log_p)""" + KL_REDUCE),
}

ALTERNATIVES = {
    "entropy-by-xlogy": ("entropy", """import torch
def entropy(p, dim=-1):
    return -torch.xlogy(p, p).sum(dim)
"""),
    "entropy-by-special-xlogy": ("entropy", """import torch
def entropy(p, dim=-1):
    return -torch.special.xlogy(p, p).sum(dim=dim)
"""),
    "entropy-by-a-safe-log": ("entropy", """import torch
def entropy(p, dim=-1):
    safe = torch.where(p > 0, p, torch.ones_like(p))
    return -(p * torch.log(safe)).sum(dim)
"""),
    "softmax-max-detached": ("softmax", """import torch
def softmax(input, dim=-1):
    m, _ = input.detach().max(dim=dim, keepdim=True)
    exp = torch.exp(input - m)
    return exp / torch.sum(exp, dim=dim, keepdim=True)
"""),
    "softmax-as-exp-of-log-softmax": ("softmax", """import torch
def softmax(input, dim=-1):
    shifted = input - input.amax(dim, keepdim=True)
    return torch.exp(shifted - torch.log(torch.exp(shifted).sum(dim, keepdim=True)))
"""),
    "softmax-by-logsumexp": ("softmax", """import torch
def softmax(input, dim=-1):
    return torch.exp(input - torch.logsumexp(input, dim=dim, keepdim=True))
"""),
    "log-softmax-by-logsumexp": ("log_softmax", """import torch
def log_softmax(input, dim=-1):
    return input - torch.logsumexp(input, dim=dim, keepdim=True)
"""),
    "log-softmax-by-logsumexp-of-shifted": ("log_softmax", """import torch
def log_softmax(input, dim=-1):
    shifted = input - input.max(dim=dim, keepdim=True).values
    return shifted - torch.logsumexp(shifted, dim=dim, keepdim=True)
"""),
    "nll-by-one-hot-multiplication": ("nll_loss", """import torch
import torch.nn.functional as F
def nll_loss(input, target, reduction="mean"):
    one_hot = F.one_hot(target, num_classes=input.shape[1]).to(input.dtype)
    loss = -(input * one_hot).sum(dim=1)""" + REDUCE),
    "nll-by-advanced-indexing": ("nll_loss", """import torch
def nll_loss(input, target, reduction="mean"):
    loss = -input[torch.arange(input.shape[0]), target]""" + REDUCE),
    "cross-entropy-from-own-functions": ("cross_entropy", """def cross_entropy(input, target, reduction="mean"):
    return nll_loss(log_softmax(input, dim=1), target, reduction=reduction)
"""),
    "cross-entropy-by-logsumexp": ("cross_entropy", """import torch
def cross_entropy(input, target, reduction="mean"):
    loss = torch.logsumexp(input, dim=1) - input.gather(1, target.unsqueeze(1)).squeeze(1)""" + REDUCE),
    "bce-log-of-one-minus-clamped": ("binary_cross_entropy", """import torch
def binary_cross_entropy(input, target, reduction="mean"):
    log_p = torch.log(input).clamp(min=-100)
    log_1mp = torch.log(1 - input).clamp(min=-100)
    loss = -(target * log_p + (1 - target) * log_1mp)""" + REDUCE),
    "bce-logits-by-softplus": ("binary_cross_entropy_with_logits", """import torch.nn.functional as F
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    loss = F.softplus(input) - input * target""" + REDUCE),
    "bce-logits-by-logsigmoid": ("binary_cross_entropy_with_logits", """import torch.nn.functional as F
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    loss = -(target * F.logsigmoid(input) + (1 - target) * F.logsigmoid(-input))""" + REDUCE),
    "kl-by-where": ("kl_div", """import torch
def kl_div(input, target, reduction="mean", log_target=False):
    p = torch.exp(target) if log_target else target
    log_p = target if log_target else torch.log(torch.where(target > 0, target, torch.ones_like(target)))
    loss = p * (log_p - input)""" + KL_REDUCE),
}

BUILTIN_CALLERS = {
    name: f"""import torch.nn.functional as F
def {name}(input, target, reduction="mean"):
    return F.{name}(input, target, reduction=reduction)
"""
    for name in ("nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits")
}
BUILTIN_CALLERS["kl_div"] = """import torch.nn.functional as F
def kl_div(input, target, reduction="mean", log_target=False):
    return F.kl_div(input, target, reduction=reduction, log_target=log_target)
"""
BUILTIN_CALLERS["softmax"] = """import torch.nn.functional as F
def softmax(input, dim=-1):
    return F.softmax(input, dim=dim)
"""
BUILTIN_CALLERS["log_softmax"] = """def log_softmax(input, dim=-1):
    return input.log_softmax(dim)
"""
BUILTIN_CALLERS["entropy"] = """import torch
def entropy(p, dim=-1):
    return torch.distributions.Categorical(probs=p.movedim(dim, -1)).entropy()
"""
