"""Classical window classifiers (scikit-learn fitted, exported to plain tensors).

Each model sees a window of W residues (default 15) around every position, one-hot encoded (the
first 21 feature columns), and is fitted by scikit-learn on windows sampled from the training set
(`fit`). The fitted parameters are exported into tensor buffers, so checkpoints stay plain
state_dicts (no pickle) and prediction runs in PyTorch like every other model:

* `gnb`        Gaussian naive Bayes: class means, variances, priors.
* `tree`       decision tree (`min_samples_split` tunable): node arrays, walked level by level.
* `linear_svm` linear SVM (LinearSVC, one-vs-rest): weights and biases.
* `rbf_svc`    RBF-kernel SVC (one-vs-one) fitted on a documented subsample (`max_windows`, default
               20,000): kernel SVMs scale quadratically or worse with the number of windows.
* `knn`        nearest neighbours over windows in the spirit of NNSSP (Salamov & Solovyev 1995):
               the k stored windows with the most identical residues vote.

Logits are log-probabilities where the estimator has them (gnb, tree, knn) and decision values
otherwise (linear_svm, rbf_svc); classes never seen in training get a large negative logit.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .base import SSModel
from .registry import register_model

N_RES = 21
NEG = -1e4


def residue_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """B x L x F one-hot -> B x L x (W * 21) windows (zeros beyond the chain ends)."""
    h = window // 2
    oh = F.pad(x[..., :N_RES].transpose(1, 2), (h, h))        # B x 21 x (L + 2h)
    win = oh.unfold(2, window, 1)                            # B x 21 x L x W
    return win.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[1], window * N_RES)


class WindowClassifier(SSModel):
    """Shared plumbing: windows in, 8 logits out; buffers sized by the fitted estimator."""

    classical = True
    chunk = 8192  # windows scored at once

    def __init__(self, in_features: int, window: int = 15, max_windows: int = 200_000, **params):
        super().__init__()
        if window % 2 == 0:
            raise UserError(f"model '{self.model_name}': model.kwargs.window={window} must be odd")
        self.window, self.max_windows, self.params = window, max_windows, params
        self.register_buffer("classes", torch.zeros(0, dtype=torch.long))

    def receptive_field(self) -> int:
        return self.window

    def n_parameters(self) -> int:
        return sum(b.numel() for b in self.buffers())

    def put(self, **tensors) -> None:
        """(Re)register fitted arrays as buffers, so they are part of the state_dict."""
        for name, value in tensors.items():
            self.register_buffer(name, torch.as_tensor(value))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self.put(**{k: v.clone() for k, v in state_dict.items()})  # buffers take the fitted shapes
        return torch.nn.modules.module._IncompatibleKeys([], [])

    def export(self, est) -> None:
        raise NotImplementedError

    def estimator(self):
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray) -> "WindowClassifier":
        """X: N x (W * 21) windows, y: N 8-state labels."""
        est = self.estimator().fit(X, y)
        self.put(classes=torch.as_tensor(est.classes_, dtype=torch.long))
        self.export(est)
        return self

    def scores(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[:2]
        w = residue_windows(x.float(), self.window).reshape(b * n, -1)
        out = torch.full((b * n, self.n_states), NEG, dtype=torch.float32, device=x.device)
        for s in range(0, b * n, self.chunk):  # bounded memory for any length
            out[s:s + self.chunk, self.classes] = self.scores(w[s:s + self.chunk]).float()
        return out.reshape(b, n, self.n_states)


@register_model("gnb")
class GaussianNB(WindowClassifier):
    def estimator(self):
        from sklearn.naive_bayes import GaussianNB as Est
        return Est(**self.params)

    def export(self, est) -> None:
        self.put(theta=torch.as_tensor(est.theta_, dtype=torch.float32))
        self.put(var=torch.as_tensor(est.var_, dtype=torch.float32))
        self.put(log_prior=torch.as_tensor(np.log(est.class_prior_), dtype=torch.float32))

    def scores(self, w):
        ll = -0.5 * (torch.log(2 * torch.pi * self.var).sum(1)
                     + ((w[:, None, :] - self.theta[None]) ** 2 / self.var[None]).sum(-1))
        return torch.log_softmax(ll + self.log_prior, dim=-1)


@register_model("tree")
class DecisionTree(WindowClassifier):
    def estimator(self):
        from sklearn.tree import DecisionTreeClassifier
        return DecisionTreeClassifier(random_state=0, **self.params)

    def export(self, est) -> None:
        t = est.tree_
        self.put(left=torch.as_tensor(t.children_left, dtype=torch.long))
        self.put(right=torch.as_tensor(t.children_right, dtype=torch.long))
        self.put(feature=torch.as_tensor(np.maximum(t.feature, 0), dtype=torch.long))
        self.put(threshold=torch.as_tensor(t.threshold, dtype=torch.float32))
        v = t.value[:, 0, :]
        self.put(leaf_logp=torch.as_tensor(np.log(np.clip(v / v.sum(1, keepdims=True), 1e-4, 1)), dtype=torch.float32))

    def scores(self, w):
        node = torch.zeros(w.shape[0], dtype=torch.long, device=w.device)
        for _ in range(len(self.left)):
            inner = self.left[node] >= 0
            if not inner.any():
                break
            go_left = w.gather(1, self.feature[node][:, None])[:, 0] <= self.threshold[node]
            node = torch.where(inner, torch.where(go_left, self.left[node], self.right[node]), node)
        return self.leaf_logp[node]


@register_model("linear_svm")
class LinearSVM(WindowClassifier):
    def estimator(self):
        from sklearn.svm import LinearSVC
        return LinearSVC(random_state=0, **self.params)

    def export(self, est) -> None:
        self.put(coef=torch.as_tensor(est.coef_, dtype=torch.float32))
        self.put(intercept=torch.as_tensor(est.intercept_, dtype=torch.float32))

    def scores(self, w):
        return w @ self.coef.T + self.intercept


@register_model("rbf_svc")
class RBFSVC(WindowClassifier):
    def __init__(self, in_features: int, window: int = 15, max_windows: int = 20_000, **params):
        super().__init__(in_features, window, max_windows, **params)

    def estimator(self):
        from sklearn.svm import SVC
        return SVC(kernel="rbf", **self.params)

    def export(self, est) -> None:
        self.put(sv=torch.as_tensor(est.support_vectors_, dtype=torch.float32))
        self.put(dual=torch.as_tensor(est.dual_coef_, dtype=torch.float32))
        self.put(intercept=torch.as_tensor(est.intercept_, dtype=torch.float32))
        self.put(n_support=torch.as_tensor(est.n_support_, dtype=torch.long))
        self.put(gamma=torch.tensor(float(est._gamma)))

    def scores(self, w):
        """libsvm one-vs-one votes (plus a small share of the decision values to break ties)."""
        k = torch.exp(-self.gamma * torch.cdist(w, self.sv) ** 2)
        starts = torch.cat([self.n_support.new_zeros(1), self.n_support.cumsum(0)])
        c = len(self.n_support)
        votes = w.new_zeros(w.shape[0], c)
        p = 0
        for i in range(c):
            for j in range(i + 1, c):
                si, sj = slice(int(starts[i]), int(starts[i + 1])), slice(int(starts[j]), int(starts[j + 1]))
                d = k[:, si] @ self.dual[j - 1, si] + k[:, sj] @ self.dual[i, sj] + self.intercept[p]
                votes[:, i] += (d > 0).float() + 1e-3 * d
                votes[:, j] += (d <= 0).float() - 1e-3 * d
                p += 1
        return votes


@register_model("knn")
class NearestNeighbours(WindowClassifier):
    """Votes of the k stored windows sharing the most residues (NNSSP-like), Laplace-smoothed."""

    chunk = 256

    def __init__(self, in_features: int, window: int = 15, max_windows: int = 50_000, k: int = 25):
        super().__init__(in_features, window, max_windows)
        self.k = k

    def fit(self, X, y):
        self.put(classes=torch.arange(self.n_states))
        self.put(memory=torch.as_tensor(X, dtype=torch.bfloat16))  # one-hot windows: exact in bf16
        self.put(labels=torch.as_tensor(y, dtype=torch.long))
        return self

    def scores(self, w):
        same = w @ self.memory.float().T  # identical residues shared with each stored window
        top = same.float().topk(min(self.k, self.memory.shape[0]), dim=1).indices
        counts = F.one_hot(self.labels[top], self.n_states).sum(1).float()
        return torch.log((counts + 0.5) / (counts.sum(1, keepdim=True) + 0.5 * self.n_states))
