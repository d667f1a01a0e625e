"""Q8, Q3, per-class precision/recall/F1/MCC, confusion matrices, SOV'99 and per-protein accuracy.

Only scored residues count (label >= 0): padding, unresolved and out-of-segment residues never do.
SOV'99 follows the reference implementations (Zemla's sov.c; SOV_refine.pl's SOV'99 with X left out):
unscored residues split observed segments and add nothing to N, while predicted segments are runs of
the prediction over the whole chain, unscored residues included.
"""
from __future__ import annotations

import numpy as np

from ..core.alphabet import EXPOSED_AT, SS3, SS8, max_asa, ss8_to_ss3


def confusion(true: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """n x n counts, rows = true state, columns = predicted; entries with true < 0 are skipped."""
    true, pred = np.asarray(true).ravel(), np.asarray(pred).ravel()
    ok = true >= 0
    return np.bincount(true[ok] * n + pred[ok], minlength=n * n).reshape(n, n)


def per_class(cm: np.ndarray, states: str) -> dict:
    """Precision, recall, F1 and Matthews correlation of each state (one-vs-rest) from a confusion matrix."""
    total = cm.sum()
    out = {}
    for i, s in enumerate(states):
        tp = float(cm[i, i])
        fp = float(cm[:, i].sum() - tp)
        fn = float(cm[i, :].sum() - tp)
        tn = float(total - tp - fp - fn)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = (tp * tn - fp * fn) / den if den else 0.0
        out[s] = {"precision": prec, "recall": rec, "f1": f1, "mcc": float(mcc), "support": int(cm[i].sum())}
    return out


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def _segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(state, start, end_exclusive) runs; negative labels form no segment."""
    segs, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start] >= 0:
                segs.append((int(labels[start]), start, i))
            start = i
    return segs


def sov99_parts(true: np.ndarray, pred: np.ndarray, n_states: int = 3) -> tuple[float, int]:
    """SOV'99 (Zemla et al. 1999) numerator and normaliser N for one chain, as the reference computes it.

    Observed segments are runs of one state in `true`; residues with true < 0 (unscored) belong to no
    observed segment, so they split runs and never count in N. Predicted segments are runs in `pred`
    over the whole chain: a prediction is not cut where the truth is unscored (true HHHXHHH against
    predicted HHHHHHH scores 57.1, as in sov.c: each observed HHH is compared with the 7-residue
    predicted helix). For each observed segment s1 and each overlapping predicted segment s2 of the same
    state: (minov + delta) / maxov * len(s1), delta = min(maxov - minov, minov, len(s1) // 2,
    len(s2) // 2); N adds len(s1) once per such pair, and once for a segment without any.
    """
    true = np.asarray(true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    obs, prd = _segments(true), _segments(pred)
    score, norm = 0.0, 0
    for s in range(n_states):
        p_s = [(a, b) for st, a, b in prd if st == s]
        for st, a1, b1 in obs:
            if st != s:
                continue
            len1 = b1 - a1
            pairs = [(a2, b2) for a2, b2 in p_s if a2 < b1 and a1 < b2]
            if not pairs:
                norm += len1
                continue
            for a2, b2 in pairs:
                len2 = b2 - a2
                minov = min(b1, b2) - max(a1, a2)
                maxov = max(b1, b2) - min(a1, a2)
                delta = min(maxov - minov, minov, len1 // 2, len2 // 2)
                score += (minov + delta) / maxov * len1
                norm += len1
    return score, norm


def sov99(true: np.ndarray, pred: np.ndarray, n_states: int = 3) -> float:
    score, norm = sov99_parts(true, pred, n_states)
    return 100.0 * score / norm if norm else float("nan")


def evaluate_predictions(items: list[tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """Score a data set.

    items: per protein (true8 or None, true3, pred8, pred3) as int arrays of the protein's length,
    true labels -1 where unscored; predictions cover every residue (SOV's predicted segments run through
    unscored residues). 3-state-only proteins (true8 None) count for Q3 and SOV only.
    Keys: proteins, residues_scored(_8state), q3, q8 (percent, pooled over residues), sov3 (3-state
    SOV'99 as the reference computes it, mean over proteins, the number papers report), sov3_pooled
    (one SOV over all segments of the set), per_class3/8, confusion3/8, states3/8, per_protein_q3
    (mean, median, p10, p90), per_protein_q8_mean.
    """
    cm8 = np.zeros((8, 8), dtype=np.int64)
    cm3 = np.zeros((3, 3), dtype=np.int64)
    sov_score = sov_norm = 0.0
    sov_each, q3_each, q8_each = [], [], []
    for true8, true3, pred8, pred3 in items:
        c3 = confusion(true3, pred3, 3)
        if c3.sum() == 0:
            continue
        cm3 += c3
        q3_each.append(accuracy(c3))
        s, n = sov99_parts(true3, pred3)
        sov_score, sov_norm = sov_score + s, sov_norm + n
        sov_each.append(100.0 * s / n)
        if true8 is not None:
            c8 = confusion(true8, pred8, 8)
            if c8.sum():
                cm8 += c8
                q8_each.append(accuracy(c8))
    q3_each = np.asarray(q3_each)
    return {
        "proteins": int(len(q3_each)),
        "residues_scored": int(cm3.sum()),
        "residues_scored_8state": int(cm8.sum()),
        "q3": 100 * accuracy(cm3),
        "q8": 100 * accuracy(cm8) if cm8.sum() else float("nan"),
        "sov3": float(np.mean(sov_each)) if sov_each else float("nan"),
        "sov3_pooled": 100 * sov_score / sov_norm if sov_norm else float("nan"),
        "per_class3": per_class(cm3, SS3),
        "per_class8": per_class(cm8, SS8),
        "confusion3": cm3.tolist(),
        "confusion8": cm8.tolist(),
        "states3": SS3,
        "states8": SS8,
        "per_protein_q3": {key: float(100 * f(q3_each)) if len(q3_each) else float("nan") for key, f in (
            ("mean", np.mean), ("median", np.median), ("p10", lambda a: np.percentile(a, 10)),
            ("p90", lambda a: np.percentile(a, 90)))},
        "per_protein_q8_mean": float(100 * np.mean(q8_each)) if q8_each else float("nan"),
    }


def score_proteins(proteins, pred8: list[np.ndarray], pred3: list[np.ndarray] | None = None) -> dict:
    """Score predictions (one int array per protein) against the proteins' labels.

    pred3 defaults to the 8 -> 3 reduction of pred8; models pass the argmax of their 3-state marginals.
    """
    items = []
    for i, (p, y8) in enumerate(zip(proteins, pred8)):
        if p.ss3 is None:
            continue
        items.append((p.ss8, p.ss3, y8, ss8_to_ss3(y8) if pred3 is None else pred3[i]))
    return evaluate_predictions(items)


ECE_BINS = 15


def reliability(conf: np.ndarray, correct: np.ndarray, n_bins: int = ECE_BINS) -> dict:
    """Expected calibration error and the reliability diagram of top-probability confidences.

    `conf`: the top probability of each scored residue; `correct`: whether its argmax is the label.
    Bins are equal-width on [0, 1] (bin b holds b/n < conf <= (b+1)/n; a confidence of exactly 0 joins
    the first); ECE = sum over bins of (residues in bin / residues) * |accuracy - mean confidence|.
    Keys: ece, residues, bins: [{lo, hi, residues, confidence, accuracy}] (empty bins: residues 0, nan means).
    """
    conf, correct = np.asarray(conf, dtype=np.float64).ravel(), np.asarray(correct, dtype=np.float64).ravel()
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    sum_conf = np.bincount(b, weights=conf, minlength=n_bins)
    sum_ok = np.bincount(b, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, acc = sum_conf / count, sum_ok / count
    n = int(count.sum())
    ece = float(np.abs(sum_ok - sum_conf).sum() / n) if n else float("nan")
    bins = [{"lo": i / n_bins, "hi": (i + 1) / n_bins, "residues": int(count[i]),
             "confidence": float(mean_conf[i]), "accuracy": float(acc[i])} for i in range(n_bins)]
    return {"ece": ece, "residues": n, "bins": bins}


def calibration(proteins, probs8: list[np.ndarray], probs3: list[np.ndarray]) -> dict:
    """ECE and reliability bins of the 8- and 3-state probabilities over the labelled residues, plus the
    mean negative log-likelihood of the labels (nll8, nll3)."""
    parts = {"8": ([], [], []), "3": ([], [], [])}
    for p, q8, q3 in zip(proteins, probs8, probs3):
        for key, labels, q in (("8", p.ss8, q8), ("3", p.ss3, q3)):
            if labels is None:
                continue
            ok = labels >= 0
            q, y = q[ok], labels[ok].astype(np.int64)
            parts[key][0].append(q.max(1))
            parts[key][1].append(q.argmax(1) == y)
            parts[key][2].append(np.log(np.clip(q[np.arange(len(y)), y], 1e-12, 1)))
    out = {}
    for key, (conf, correct, logp) in parts.items():
        rel = reliability(np.concatenate(conf), np.concatenate(correct)) if conf else None
        out[f"ece{key}"] = rel["ece"] if rel else float("nan")
        out[f"nll{key}"] = float(-np.concatenate(logp).mean()) if conf else float("nan")
        out[f"reliability{key}"] = rel
    return out


def angle_error(true_deg: np.ndarray, pred_deg: np.ndarray) -> np.ndarray:
    """Absolute difference of two angles on the circle, in degrees (0..180)."""
    d = np.abs(np.asarray(pred_deg, dtype=np.float64) - np.asarray(true_deg, dtype=np.float64)) % 360.0
    return np.minimum(d, 360.0 - d)


def task_metrics(proteins, values: list[dict]) -> dict:
    """The other tasks' scores over the residues that carry each label (a metric whose labels the set lacks, or
    whose task the model lacks, is left out):
    rsa_pcc (Pearson, predicted vs DSSP RSA), asa_mae (square angstroms, ASA = RSA x the residue's maximum),
    exposure_acc (2-state at 25% RSA, from RSA labels and from 2-state labels alike), phi_mae / psi_mae (degrees,
    on the circle), disorder_mcc (at probability 0.5) and disorder_auc (ROC), each with its number of residues.
    values: per protein {"rsa", "phi", "psi", "disorder"} as `inference.engine.task_values` gives them."""
    from sklearn.metrics import matthews_corrcoef, roc_auc_score

    pooled: dict[str, list] = {}

    def add(key, *arrays):
        pooled.setdefault(key, []).append(arrays)

    for p, v in zip(proteins, values):
        if "rsa" in v and p.rsa is not None:
            ok = ~np.isnan(p.rsa)
            add("rsa", p.rsa[ok], v["rsa"][ok], max_asa(p.sequence)[ok])
        if "rsa" in v:
            true2 = np.full(len(p), -1, dtype=np.int8)
            if p.exposed is not None:
                true2 = p.exposed.copy()
            if p.rsa is not None:
                ok = ~np.isnan(p.rsa)
                true2[ok] = p.rsa[ok] >= EXPOSED_AT
            ok = true2 >= 0
            add("exposure", true2[ok], v["rsa"][ok] >= EXPOSED_AT)
        for ang in ("phi", "psi"):
            if ang in v and getattr(p, ang) is not None:
                ok = ~np.isnan(getattr(p, ang))
                add(ang, getattr(p, ang)[ok], v[ang][ok])
        if "disorder" in v and p.disorder is not None:
            ok = p.disorder >= 0
            add("disorder", p.disorder[ok], v["disorder"][ok])
    out: dict = {}

    def cat(key, i):
        return np.concatenate([a[i] for a in pooled[key]])

    if pooled.get("rsa") and len(rt := cat("rsa", 0)) > 1:
        rp, top = cat("rsa", 1), cat("rsa", 2)
        known = ~np.isnan(top)
        out["rsa_pcc"] = float(np.corrcoef(rt, rp)[0, 1])
        out["asa_mae"] = float(np.mean(np.abs(rt[known] - rp[known]) * top[known]))
        out["rsa_residues"] = int(len(rt))
    if pooled.get("exposure") and len(et := cat("exposure", 0)):
        out["exposure_acc"] = float(100.0 * np.mean(et == cat("exposure", 1)))
        out["exposure_residues"] = int(len(et))
    for ang in ("phi", "psi"):
        if pooled.get(ang) and len(at := cat(ang, 0)):
            out[f"{ang}_mae"] = float(np.mean(angle_error(at, cat(ang, 1))))
            out[f"{ang}_residues"] = int(len(at))
    if pooled.get("disorder") and len(dt := cat("disorder", 0)):
        dp = cat("disorder", 1)
        out["disorder_mcc"] = float(matthews_corrcoef(dt, dp >= 0.5))
        out["disorder_auc"] = float(roc_auc_score(dt, dp)) if 0 < dt.sum() < len(dt) else float("nan")
        out["disorder_residues"], out["disordered_residues"] = int(len(dt)), int(dt.sum())
    return out
