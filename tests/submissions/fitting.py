"""Submissions for the assignment of chapter "Fitting"."""

#: student id -> (function, the mistaken cell)
MISTAKES = {
    "features-start-at-x": ("polynomial_features", """import torch
def polynomial_features(x, degree):
    return x.unsqueeze(-1) ** torch.arange(1, degree + 2, dtype=x.dtype)
"""),
    "features-one-column-short": ("polynomial_features", """import torch
def polynomial_features(x, degree):
    return x.unsqueeze(-1) ** torch.arange(degree, dtype=x.dtype)
"""),
    "features-highest-power-first": ("polynomial_features", """import torch
def polynomial_features(x, degree):
    return x.unsqueeze(-1) ** torch.arange(degree, -1, -1, dtype=x.dtype)
"""),
    "features-through-exp-log": ("polynomial_features", """import torch
def polynomial_features(x, degree):
    powers = torch.arange(degree + 1, dtype=x.dtype)
    return torch.exp(powers * torch.log(x).unsqueeze(-1))
"""),
    "least-squares-first-d-rows": ("least_squares", """import torch
def least_squares(features, target):
    d = features.shape[1]
    return torch.linalg.solve(features[:d], target[:d])
"""),
    "least-squares-forgets-the-transpose": ("least_squares", """import torch
def least_squares(features, target):
    return torch.linalg.solve(features @ features.T, features.T @ target)
"""),
    "least-squares-returns-fitted-values": ("least_squares", """import torch
def least_squares(features, target):
    weights = torch.linalg.solve(features.T @ features, features.T @ target)
    return features @ weights
"""),
}

ALTERNATIVES = {
    "features-by-stacking-powers": ("polynomial_features", """import torch
def polynomial_features(x, degree):
    return torch.stack([x**k for k in range(degree + 1)], dim=-1)
"""),
    "features-by-cumprod": ("polynomial_features", """import torch
def polynomial_features(x, degree):
    ones = torch.ones_like(x).unsqueeze(-1)
    powers = x.unsqueeze(-1).expand(*x.shape, degree).cumprod(dim=-1)
    return torch.cat([ones, powers], dim=-1)
"""),
    "least-squares-by-qr": ("least_squares", """import torch
def least_squares(features, target):
    q, r = torch.linalg.qr(features)
    return torch.linalg.solve_triangular(r, (q.T @ target).unsqueeze(-1), upper=True).squeeze(-1)
"""),
    "least-squares-by-cholesky": ("least_squares", """import torch
def least_squares(features, target):
    lower = torch.linalg.cholesky(features.T @ features)
    rhs = (features.T @ target).unsqueeze(-1)
    return torch.cholesky_solve(rhs, lower).squeeze(-1)
"""),
}

BUILTIN_CALLERS = {
    "polynomial_features": """import torch
def polynomial_features(x, degree):
    return torch.linalg.vander(x, N=max(degree + 1, 2))[..., : degree + 1]
""",
    "least_squares": """import torch
def least_squares(features, target):
    return torch.linalg.lstsq(features, target.unsqueeze(-1)).solution.squeeze(-1)
""",
}
