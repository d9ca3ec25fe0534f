"""Submissions for the assignment of chapter "Losses in PyTorch practice"."""

#: The class line and constructor every CrossEntropyLoss submission shares.
CLASS = """class CrossEntropyLoss(nn.Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.weight = weight
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
"""

HEAD = """import torch
from torch import nn


""" + CLASS + """        num_classes = input.shape[1]
        weight = self.weight if self.weight is not None else torch.ones(num_classes, dtype=input.dtype)
        kept = target != self.ignore_index
        safe_target = torch.where(kept, target, torch.zeros_like(target))
        target_weight = weight[safe_target] * kept
        eps = self.label_smoothing
"""

#: The log-probabilities, as in the instructor's solution.
LOG_P = """        log_p = input - torch.logsumexp(input, dim=1, keepdim=True)
"""

#: The loss of each sample, as in the instructor's solution.
LOSS = """        nll = -log_p.gather(1, safe_target.unsqueeze(1)).squeeze(1) * target_weight
        smooth = -(log_p * weight).sum(dim=1) * kept
        loss = (1 - eps) * nll + eps / num_classes * smooth
"""

REDUCE = """        if self.reduction == "mean":
            return loss.sum() / target_weight.sum()
        if self.reduction == "sum":
            return loss.sum()
        return loss
"""

STEP = """def train_step(model, optimizer, loss_fn, input, target):
"""

#: student id -> (function, the mistaken cell)
MISTAKES = {
    "ce-ignores-weight": ("CrossEntropyLoss", HEAD + LOG_P + """        weight = torch.ones_like(weight)
        target_weight = weight[safe_target] * kept
""" + LOSS + REDUCE),
    "ce-weighted-mean-divides-by-n": ("CrossEntropyLoss", HEAD + LOG_P + LOSS + """\
        if self.reduction == "mean":
            return loss.sum() / kept.sum()
        if self.reduction == "sum":
            return loss.sum()
        return loss
"""),
    "ce-counts-ignored-targets-in-mean": ("CrossEntropyLoss", HEAD + LOG_P + LOSS + """\
        if self.reduction == "mean":
            return loss.sum() / weight[safe_target].sum()
        if self.reduction == "sum":
            return loss.sum()
        return loss
"""),
    "ce-smoothing-over-c-minus-1-classes": ("CrossEntropyLoss", HEAD + LOG_P + """\
        one_hot = torch.zeros_like(log_p).scatter(1, safe_target.unsqueeze(1), 1.0)
        q = (1 - eps) * one_hot + eps / (num_classes - 1) * (1 - one_hot)
        loss = -(weight * q * log_p).sum(dim=1) * kept
""" + REDUCE),
    "ce-naive-exp-log-softmax": ("CrossEntropyLoss", HEAD + """        exp = torch.exp(input)
        log_p = torch.log(exp / exp.sum(dim=1, keepdim=True))
""" + LOSS + REDUCE),
    "ce-softmax-before-the-loss": ("CrossEntropyLoss", HEAD + """\
        probs = torch.exp(input - torch.logsumexp(input, dim=1, keepdim=True))
        log_p = probs - torch.logsumexp(probs, dim=1, keepdim=True)
""" + LOSS + REDUCE),
    "train-step-no-zero-grad": ("train_step", STEP + """    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss.item()
"""),
    "train-step-returns-the-tensor": ("train_step", STEP + """    optimizer.zero_grad()
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss
"""),
    "train-step-returns-loss-after-update": ("train_step", STEP + """    optimizer.zero_grad()
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss_fn(model(input), target).item()
"""),
    "train-step-step-before-backward": ("train_step", STEP + """    optimizer.zero_grad()
    loss = loss_fn(model(input), target)
    optimizer.step()
    loss.backward()
    return loss.item()
"""),
    # Clearing the gradients after the step instead of before backward() is right only if .grad is empty when
    # train_step is called; the notebook says it may not be (an earlier backward() can leave gradients there).
    "train-step-zero-grad-at-the-end": ("train_step", STEP + """    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()
"""),
}

ALTERNATIVES = {
    "ce-one-hot-smoothed-target": ("CrossEntropyLoss", """import torch
import torch.nn.functional as F
from torch import nn


""" + CLASS + """        n, c = input.shape
        log_p = input - input.logsumexp(dim=1, keepdim=True)
        weight = torch.ones(c, dtype=input.dtype) if self.weight is None else self.weight
        ignored = target == self.ignore_index
        target = target.masked_fill(ignored, 0)
        q = (1 - self.label_smoothing) * F.one_hot(target, c).to(input.dtype) + self.label_smoothing / c
        loss = -(weight * q * log_p).sum(dim=1).masked_fill(ignored, 0.0)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return loss.sum() / weight[target].masked_fill(ignored, 0.0).sum()
"""),
    "train-step-model-zero-grad": ("train_step", STEP + """    model.zero_grad()
    output = model(input)
    loss = loss_fn(output, target)
    loss.backward()
    optimizer.step()
    return loss.item()
"""),
    "train-step-zero-grad-keeps-zeros": ("train_step", STEP + """    optimizer.zero_grad(set_to_none=False)
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss.detach().item()
"""),
}

BUILTIN_CALLERS = {
    "CrossEntropyLoss": """import torch.nn.functional as F
from torch import nn


""" + CLASS + """        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)
""",
}

#: Torch has no built-in training step that could stand in for train_step.
NO_BUILTIN = {"train_step"}
