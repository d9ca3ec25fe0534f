"""The claims the book makes about torch, one test each, so that a torch upgrade that changes one fails here
and not only in a chapter's hidden assert. Each compares torch with the formula the chapter states."""

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from lossutils.chapters.data import classification_logits, random_distributions

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _batch(seed: int, n: int = 8, num_classes: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, class indices and positive class weights that are not all equal, in float64."""
    logits, target = classification_logits(n, num_classes, decimals=None, seed=seed, dtype=torch.float64)
    weight = 0.25 + torch.arange(num_classes, dtype=torch.float64)
    return logits, target, weight


# --- cross-entropy with probability targets and class weights (chapters "From entropy to softmax loss" and
# "Losses in PyTorch practice") -------------------------------------------------------------------------------


@given(seed=seeds)
def test_one_hot_targets_give_the_loss_of_class_indices_without_weight(seed):
    logits, target, _ = _batch(seed)
    one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(F.cross_entropy(logits, one_hot, reduction=reduction),
                                   F.cross_entropy(logits, target, reduction=reduction))


@given(seed=seeds)
def test_with_weight_one_hot_targets_average_over_n_and_class_indices_over_the_weights(seed):
    logits, target, weight = _batch(seed)
    one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    weighted = weight[target] * F.cross_entropy(logits, target, reduction="none")
    for reduction in ("sum", "none"):
        torch.testing.assert_close(F.cross_entropy(logits, one_hot, weight=weight, reduction=reduction),
                                   F.cross_entropy(logits, target, weight=weight, reduction=reduction))
    torch.testing.assert_close(F.cross_entropy(logits, target, weight=weight), weighted.sum() / weight[target].sum())
    torch.testing.assert_close(F.cross_entropy(logits, one_hot, weight=weight), weighted.sum() / len(target))


@given(seed=seeds, cls=st.integers(0, 3))
def test_class_weights_cancel_in_a_batch_of_one_class(seed, cls):
    logits, _, weight = _batch(seed)
    one_class = torch.full((len(logits),), cls)
    torch.testing.assert_close(F.cross_entropy(logits, one_class, weight=weight), F.cross_entropy(logits, one_class))


@given(seed=seeds, pos_weight=st.floats(0.1, 20.0))
def test_pos_weight_multiplies_the_loss_of_every_positive_and_does_not_cancel(seed, pos_weight):
    logits, _, _ = _batch(seed)
    x, positives = logits[:, 0], torch.ones(len(logits), dtype=logits.dtype)
    pw = torch.tensor(pos_weight, dtype=logits.dtype)
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(x, positives, pos_weight=pw),
                               pw * F.binary_cross_entropy_with_logits(x, positives))


@given(seed=seeds, pos_weight=st.floats(0.1, 20.0))
def test_two_class_weight_on_logits_zero_and_x_is_pos_weight_per_sample_and_up_to_a_factor_in_the_mean(seed,
                                                                                                     pos_weight):
    logits, target, _ = _batch(seed)
    x, labels = logits[:, 0], (target % 2)
    two = torch.stack([torch.zeros_like(x), x], dim=1)
    weight = torch.tensor([1.0, pos_weight], dtype=logits.dtype)
    pw = torch.tensor(pos_weight, dtype=logits.dtype)
    binary = labels.to(logits.dtype)
    torch.testing.assert_close(F.cross_entropy(two, labels, weight=weight, reduction="none"),
                               F.binary_cross_entropy_with_logits(x, binary, pos_weight=pw, reduction="none"))
    torch.testing.assert_close(F.cross_entropy(two, labels, weight=weight),
                               F.binary_cross_entropy_with_logits(x, binary, pos_weight=pw)
                               * len(labels) / weight[labels].sum())


# --- binary cross-entropy with logits (chapter "From entropy to softmax loss") -----------------------------------


def test_bce_with_logits_has_the_gradient_sigmoid_minus_target_everywhere_and_so_has_softplus():
    x = torch.tensor([-30.0, -2.0, -1e-3, 0.0, 0.0, 0.0, 1e-3, 2.0, 30.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    expected = torch.sigmoid(x.detach()) - y
    (builtin,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(x, y, reduction="sum"), x)
    (softplus,) = torch.autograd.grad((F.softplus(x) - x * y).sum(), x)
    torch.testing.assert_close(builtin, expected)
    torch.testing.assert_close(softplus, expected)


def test_the_stable_bce_formula_has_the_gradient_one_minus_target_at_logit_zero_under_autograd():
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    stable = x.clamp(min=0) - x * y + torch.log1p(torch.exp(-x.abs()))
    torch.testing.assert_close(stable, F.binary_cross_entropy_with_logits(x, y, reduction="none"))
    (grad,) = torch.autograd.grad(stable.sum(), x)
    torch.testing.assert_close(grad, 1 - y)
    assert not torch.allclose(grad, torch.sigmoid(x.detach()) - y)


# --- prediction minus target (chapter "Prediction minus target") --------------------------------------------------


@given(seed=seeds)
def test_the_gradients_of_mse_and_cross_entropy_are_prediction_minus_target(seed):
    logits, target, _ = _batch(seed)
    z = logits.clone().requires_grad_(True)
    probs, one_hot = F.softmax(logits, dim=1), F.one_hot(target, logits.shape[1]).to(logits.dtype)
    (grad,) = torch.autograd.grad(F.cross_entropy(z, target), z)
    torch.testing.assert_close(grad, (probs - one_hot) / len(target))
    soft = random_distributions(len(target), logits.shape[1], seed=seed, dtype=logits.dtype)
    (grad,) = torch.autograd.grad(F.cross_entropy(z, soft, reduction="sum"), z)
    torch.testing.assert_close(grad, probs - soft)
    y_hat, y = logits[:, 0].clone().requires_grad_(True), logits[:, 1]
    (grad,) = torch.autograd.grad(F.mse_loss(y_hat, y), y_hat)
    torch.testing.assert_close(grad, 2 * (y_hat.detach() - y) / len(y))


@given(seed=seeds)
def test_the_squared_loss_on_softmax_has_the_gradient_of_the_softmax_jacobian_times_prediction_minus_target(seed):
    logits, target, _ = _batch(seed)
    z = logits.clone().requires_grad_(True)
    probs, one_hot = F.softmax(logits, dim=1), F.one_hot(target, logits.shape[1]).to(logits.dtype)
    jacobian = torch.diag_embed(probs) - probs[:, :, None] * probs[:, None, :]
    (grad,) = torch.autograd.grad(F.mse_loss(F.softmax(z, dim=1), one_hot), z)
    torch.testing.assert_close(grad, (jacobian @ (2 * (probs - one_hot))[:, :, None]).squeeze(2) / one_hot.numel())


# --- maximum likelihood (chapter "Maximum likelihood") ------------------------------------------------------------


@given(seed=seeds, var=st.floats(1e-3, 10.0))
def test_gaussian_nll_loss_is_half_log_var_plus_squared_error_over_var_and_full_adds_half_log_two_pi(seed, var):
    logits, _, _ = _batch(seed)
    input, target = logits[:, 0], logits[:, 1]
    v = torch.full_like(input, var)
    by_formula = 0.5 * (torch.log(v) + (input - target) ** 2 / v)
    torch.testing.assert_close(F.gaussian_nll_loss(input, target, v, reduction="none"), by_formula)
    torch.testing.assert_close(F.gaussian_nll_loss(input, target, v, full=True),
                               -torch.distributions.Normal(input, var**0.5).log_prob(target).mean())
    torch.testing.assert_close(F.gaussian_nll_loss(input, target, v),
                               F.mse_loss(input, target) / (2 * var) + 0.5 * torch.log(torch.tensor(var)).double())


def test_gaussian_nll_loss_clamps_the_variance_at_eps():
    input, target = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([1.5, 2.0], dtype=torch.float64)
    for eps in (1e-6, 1e-3):
        clamped = F.gaussian_nll_loss(input, target, torch.zeros(2, dtype=torch.float64), eps=eps, reduction="none")
        torch.testing.assert_close(clamped, 0.5 * (torch.log(torch.tensor(eps, dtype=torch.float64))
                                                   + (input - target) ** 2 / eps))


@given(seed=seeds, b=st.floats(0.05, 5.0))
def test_the_laplace_negative_log_likelihood_is_the_absolute_error_over_b_plus_log_two_b(seed, b):
    logits, _, _ = _batch(seed)
    input, target = logits[:, 0], logits[:, 1]
    torch.testing.assert_close(-torch.distributions.Laplace(input, b).log_prob(target).mean(),
                               F.l1_loss(input, target) / b + torch.log(torch.tensor(2 * b, dtype=torch.float64)))


@given(seed=seeds)
def test_cross_entropies_are_categorical_and_bernoulli_negative_log_likelihoods(seed):
    logits, target, _ = _batch(seed)
    torch.testing.assert_close(F.cross_entropy(logits, target),
                               -torch.distributions.Categorical(logits=logits).log_prob(target).mean())
    binary = (target == 0).to(logits.dtype)
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(logits[:, 1], binary),
                               -torch.distributions.Bernoulli(logits=logits[:, 1]).log_prob(binary).mean())


# --- margin losses (chapter "Margin losses") ------------------------------------------------------------------------


@given(seed=seeds, p=st.sampled_from([1, 2]), margin=st.floats(0.1, 3.0), weighted=st.booleans())
def test_multi_margin_loss_sums_the_other_classes_over_c_and_its_mean_divides_by_n(seed, p, margin, weighted):
    logits, target, weight = _batch(seed)
    weight = weight if weighted else None
    n, c = logits.shape
    others = ~F.one_hot(target, c).bool()
    terms = torch.clamp(margin - logits.gather(1, target[:, None]) + logits, min=0) ** p
    w_y = weight[target] if weighted else torch.ones(n, dtype=logits.dtype)
    per_sample = w_y * (terms * others).sum(dim=1) / c
    torch.testing.assert_close(F.multi_margin_loss(logits, target, p=p, margin=margin, weight=weight,
                                                   reduction="none"), per_sample)
    torch.testing.assert_close(F.multi_margin_loss(logits, target, p=p, margin=margin, weight=weight),
                               per_sample.sum() / n)


@given(seed=seeds)
def test_the_hinge_is_twice_the_two_class_multi_margin_loss_and_its_gradient_stops_at_the_margin(seed):
    logits, _, _ = _batch(seed)
    s = 2 * logits[:, 0]
    y = torch.where(logits[:, 1] > 0, 1, -1)
    two = torch.stack([torch.zeros_like(s), s], dim=1)
    torch.testing.assert_close(2 * F.multi_margin_loss(two, (y + 1) // 2, reduction="none"), F.relu(1 - y * s))
    for lead in (1.0, 1.5):
        z = torch.tensor([[lead, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
        loss = F.multi_margin_loss(z, torch.tensor([0]))
        (grad,) = torch.autograd.grad(loss, z)
        assert loss == 0 and torch.all(grad == 0)


# --- entropy three ways (chapter "From entropy to softmax loss") --------------------------------------------------


@given(seed=seeds, dtype=st.sampled_from([torch.float32, torch.float64]))
def test_entr_xlogy_and_categorical_entropy_agree_within_machine_epsilon(seed, dtype):
    p = random_distributions(50, 5, seed=seed, dtype=dtype)
    entr = torch.special.entr(p).sum(-1)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(entr, -torch.xlogy(p, p).sum(-1), rtol=0, atol=4 * eps)
    torch.testing.assert_close(entr, torch.distributions.Categorical(probs=p).entropy(), rtol=0, atol=8 * eps)


def test_categorical_entropy_of_a_certain_outcome_is_about_epsilon_not_zero():
    for dtype in (torch.float32, torch.float64):
        certain = torch.tensor([1.0, 0.0, 0.0], dtype=dtype)
        eps = torch.finfo(dtype).eps
        assert torch.special.entr(certain).sum() == 0
        assert torch.xlogy(certain, certain).sum() == 0
        categorical = torch.distributions.Categorical(probs=certain).entropy()
        torch.testing.assert_close(categorical, -torch.log1p(torch.tensor(-eps, dtype=dtype)), rtol=1e-3, atol=0)


# --- the training loop (chapter "Losses in PyTorch practice") ------------------------------------------------------


def test_sgd_without_zero_grad_is_sgd_with_momentum_one():
    inputs, target = classification_logits(24, 3, decimals=None, seed=5)

    def train(zero_grad: bool, momentum: float) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)
        for step in range(12):
            batch = slice(4 * (step % 6), 4 * (step % 6) + 4)
            if zero_grad:
                optimizer.zero_grad()
            F.cross_entropy(model(inputs[batch]), target[batch]).backward()
            optimizer.step()
        return [p.detach() for p in model.parameters()]

    for accumulated, momentum in zip(train(False, 0.0), train(True, 1.0), strict=True):
        torch.testing.assert_close(accumulated, momentum)
    plain = train(True, 0.0)
    assert not all(torch.allclose(a, b) for a, b in zip(plain, train(False, 0.0), strict=True))
