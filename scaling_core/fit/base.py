"""The fit object every learning-curve form shares.

A form supplies its log-prediction and Jacobian in an unconstrained internal
parametrisation ``theta`` (log scales, raw exponents, sizes centred on their mean log);
:class:`CurveFit` supplies the rest: a robust loss on log error, multi-start L-BFGS-B,
asymptotic standard errors, prediction, reports and table rows. Bootstrap intervals are
in :mod:`scaling_core.fit.uncertainty`.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from scaling_core.fit._data import CurveData, check_curve


def huber_loss_and_grad(theta, log_model, x, y, weights, delta):
    r"""Summed Huber loss on log error and its gradient.

    .. math::
        L(\theta) = \sum_i w_i\, h_\delta\!\left(\log\varepsilon_i - \log\hat\varepsilon_i(\theta)\right),
        \quad h_\delta(r) = \begin{cases} r^2/2 & |r|\le\delta \\ \delta(|r|-\delta/2) & \text{else}\end{cases}
    """
    log_pred, jac = log_model(theta, x)  # (n,), (n, p)
    residual = y - log_pred
    inside = np.abs(residual) <= delta
    loss = np.where(inside, 0.5 * residual**2, delta * (np.abs(residual) - 0.5 * delta))
    psi = np.clip(residual, -delta, delta)
    return float(weights @ loss), -(weights * psi) @ jac


def minimize_from(theta0, log_model, x, y, weights, delta, bounds):
    """One L-BFGS-B run; returns (theta, loss)."""
    result = optimize.minimize(
        huber_loss_and_grad, theta0, args=(log_model, x, y, weights, delta),
        jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500, "gtol": 1e-10, "ftol": 1e-13},
    )
    return result.x, float(result.fun)


def refine_from(theta0, log_model, x, y, weights, delta, bounds, max_iter=100):
    """Levenberg-Marquardt on the Huber loss (IRLS weights), for restarts near an optimum.

    Used by the bootstrap, where every resample starts at the full-data optimum and a
    handful of damped Gauss-Newton steps converge far faster than a fresh L-BFGS-B run.
    Returns ``(theta, loss)``; falls back to L-BFGS-B when the steps stall early.
    """
    lows = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    highs = np.array([np.inf if hi is None else hi for _, hi in bounds])
    theta = np.clip(np.asarray(theta0, dtype=float), lows, highs)
    loss, damping = huber_loss_and_grad(theta, log_model, x, y, weights, delta)[0], 1e-3
    for _ in range(max_iter):
        log_pred, jac = log_model(theta, x)
        residual = y - log_pred
        irls = weights * np.minimum(1.0, delta / np.maximum(np.abs(residual), 1e-300))
        gradient = -(weights * np.clip(residual, -delta, delta)) @ jac
        normal = jac.T @ (irls[:, None] * jac)
        step = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), -gradient)
        candidate = np.clip(theta + step, lows, highs)
        new_loss = huber_loss_and_grad(candidate, log_model, x, y, weights, delta)[0]
        if new_loss <= loss:
            converged = loss - new_loss <= 1e-12 * max(loss, 1e-300) + 1e-15
            theta, loss, damping = candidate, new_loss, max(damping / 10, 1e-9)
            if converged:
                return theta, loss
        else:
            damping *= 10
            if damping > 1e8:
                break
    return minimize_from(theta, log_model, x, y, weights, delta, bounds)


class CurveFit:
    """Base class: robust multi-start fit of one learning-curve form.

    Parameters
    ----------
    huber_delta : float
        Huber threshold on the log error (0.05 = 5 %): residuals beyond it count
        linearly, so one bad run cannot drag the curve. Epoch AI's Chinchilla
        replication uses ``1e-3``.
    max_starts : int
        Cap on the multi-start grid (starts come from log-log lines, see ``_starts``).
    """

    param_names: tuple[str, ...] = ()
    derived_names: tuple[str, ...] = ()
    log_scale_names: tuple[str, ...] = ()
    size_names: tuple[str, ...] = ("m",)

    def __init__(self, huber_delta: float = 0.05, max_starts: int = 24):
        if not (np.isfinite(huber_delta) and huber_delta > 0):
            raise ValueError(f"huber_delta must be a finite number > 0; got {huber_delta!r}")
        if int(max_starts) < 1:
            raise ValueError(f"max_starts must be >= 1; got {max_starts!r}")
        self.huber_delta = float(huber_delta)
        self.max_starts = int(max_starts)

    # --- hooks a form implements -------------------------------------------------
    def _log_model(self, theta, x):
        """Return ``(log_pred (n,), d log_pred / d theta (n, p))`` at centred log sizes ``x``."""
        raise AttributeError(f"{type(self).__name__} defines no model")

    def _starts(self, x, y) -> np.ndarray:
        """Starting values, shape (k, p)."""
        raise AttributeError(f"{type(self).__name__} defines no starts")

    def _bounds(self, x, y) -> list:
        """L-BFGS-B bounds on ``theta``."""
        return [(None, None)] * len(self.param_names)

    def _natural(self, theta) -> dict:
        """Named natural parameters (and derived quantities) from ``theta``."""
        raise AttributeError(f"{type(self).__name__} defines no parameters")

    # --- fitting ---------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def _check(self, sizes: dict, eps, weights, repeats) -> CurveData:
        return check_curve(sizes, eps, weights, repeats, n_params=self.n_params)

    def _fit_data(self, data: CurveData):
        """Fit checked data; sets every fitted attribute and returns ``self``."""
        log_sizes = np.log(data.sizes)
        self.x_ref_ = log_sizes.mean(axis=0)
        self.data_ = data
        self.x_ = log_sizes - self.x_ref_
        self.y_ = np.log(data.eps)
        self.bounds_ = self._bounds(self.x_, self.y_)
        starts = self._clip_starts(self._starts(self.x_, self.y_))[: self.max_starts]
        runs = [minimize_from(s, self._log_model, self.x_, self.y_, data.weights, self.huber_delta, self.bounds_)
                for s in starts]
        losses = np.array([loss for _, loss in runs])
        best = int(np.nanargmin(losses))
        tolerance = 1e-4 * abs(losses[best]) + 1e-10
        self.n_starts_ = len(runs)
        self.start_success_fraction_ = float(np.mean(losses <= losses[best] + tolerance))
        self._set_optimum(runs[best][0], losses[best])
        return self

    def _clip_starts(self, starts):
        starts = np.atleast_2d(np.asarray(starts, dtype=float))
        lows = np.array([-np.inf if lo is None else lo for lo, _ in self.bounds_])
        highs = np.array([np.inf if hi is None else hi for _, hi in self.bounds_])
        return np.clip(starts, lows, highs)

    def _set_optimum(self, theta, loss):
        if not np.all(np.isfinite(theta)) or not np.isfinite(loss):
            raise ValueError(f"{type(self).__name__}: the optimiser found no finite optimum")
        self.theta_, self.loss_ = np.asarray(theta, dtype=float), float(loss)
        self.cov_theta_ = self._theta_covariance(self.theta_, self.x_, self.y_, self.data_.weights)
        values, ses = self._quantities_with_se(self.theta_, self.cov_theta_)
        for name in values:
            setattr(self, f"{name}_", values[name])
            setattr(self, f"{name}_se_", ses[name])
        self.rel_rmse_ = self._relative_rmse()
        self._set_asymptotic_intervals(values, ses)

    def _theta_covariance(self, theta, x, y, weights):
        """Huber's M-estimator covariance, ``scale^2 (J^T W J)^{-1}`` (least squares inside delta)."""
        log_pred, jac = self._log_model(theta, x)
        residual = y - log_pred
        psi = np.clip(residual, -self.huber_delta, self.huber_delta)
        inside = np.abs(residual) <= self.huber_delta
        dof = max(len(y) - self.n_params, 1)
        inside_fraction = max(weights @ inside / weights.sum(), 1.0 / len(y))
        scale2 = (weights @ psi**2) / dof / inside_fraction**2 * (len(y) / weights.sum())
        return scale2 * np.linalg.pinv(jac.T @ (weights[:, None] * jac))

    def _quantities_with_se(self, theta, cov):
        """Natural quantities and their delta-method standard errors (log-scale ones via their log)."""
        values = self._natural(theta)
        names = list(values)
        base = np.array([self._to_working_scale(n, values[n]) for n in names])
        step = 1e-6 * np.maximum(1.0, np.abs(theta))
        jac = np.empty((len(names), len(theta)))
        for j in range(len(theta)):
            shifted = theta.copy()
            shifted[j] += step[j]
            moved = self._natural(shifted)
            jac[:, j] = ([self._to_working_scale(n, moved[n]) for n in names] - base) / step[j]
        with np.errstate(invalid="ignore"):
            working_se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, cov, jac), 0, None))
        ses = {n: float(working_se[i] * abs(values[n]) if n in self.log_scale_names else working_se[i])
               for i, n in enumerate(names)}
        return values, ses

    def _to_working_scale(self, name, value):
        if name in self.log_scale_names:
            return np.log(value) if value > 0 else -np.inf
        return value

    def _set_asymptotic_intervals(self, values, ses, level=0.95):
        """``{name}_ci_`` from the t distribution (overwritten by :meth:`bootstrap`)."""
        dof = max(self.data_.n_points - self.n_params, 1)
        t = stats.t.ppf(0.5 + level / 2, dof)
        self.ci_method_ = "asymptotic"
        for name, value in values.items():
            if name in self.log_scale_names and value > 0:
                half = min(t * ses[name] / value, 700.0)
                interval = (value * np.exp(-half), value * np.exp(half))
            else:
                interval = (value - t * ses[name], value + t * ses[name])
            setattr(self, f"{name}_ci_", tuple(float(v) for v in interval))

    def _relative_rmse(self) -> float:
        """Root-mean-square of (fit - mean error) / mean error over the distinct sizes."""
        sizes, mean_eps = self.data_.shard_means()
        log_pred, _ = self._log_model(self.theta_, np.log(sizes) - self.x_ref_)
        return float(np.sqrt(np.mean((np.exp(log_pred) / mean_eps - 1.0) ** 2)))

    def _predict_sizes(self, sizes: dict) -> np.ndarray:
        if not hasattr(self, "theta_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call .fit() first")
        columns = [np.asarray(values, dtype=float) for values in sizes.values()]
        shape = np.broadcast(*columns).shape
        columns = [np.broadcast_to(c, shape).reshape(-1) for c in columns]
        if any(np.any(~np.isfinite(c) | (c <= 0)) for c in columns):
            raise ValueError(f"sizes to predict must be finite and > 0 ({', '.join(sizes)})")
        x = np.log(np.column_stack(columns)) - self.x_ref_
        return np.exp(self._log_model(self.theta_, x)[0]).reshape(shape)

    # --- reporting ---------------------------------------------------------------
    def quantity_names(self) -> list[str]:
        return list(self.param_names) + list(self.derived_names)

    def report(self) -> str:
        """Human-readable summary: each quantity ``estimate +- se [interval]`` and fit quality."""
        if not hasattr(self, "theta_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call .fit() first")
        lines = [f"{type(self).__name__}: {self.data_.n_points} points, Huber delta {self.huber_delta:g} on log error"]
        for name in self.quantity_names():
            low, high = getattr(self, f"{name}_ci_")
            lines.append(f"  {name:>18} = {getattr(self, name + '_'):.6g} +- {getattr(self, name + '_se_'):.3g}"
                         f"  [{low:.6g}, {high:.6g}] ({self.ci_method_} 95%)")
        lines.append(f"  relative RMSE {100 * self.rel_rmse_:.3f} %; "
                     f"{100 * self.start_success_fraction_:.0f} % of {self.n_starts_} starts reached the optimum")
        return "\n".join(lines)

    def to_row(self) -> dict:
        """One flat table row: ``{name, name_se, name_ci_low, name_ci_high, ...}``."""
        row = {"form": type(self).__name__, "n_points": self.data_.n_points}
        for name in self.quantity_names():
            low, high = getattr(self, f"{name}_ci_")
            row.update({name: getattr(self, name + "_"), f"{name}_se": getattr(self, name + "_se_"),
                        f"{name}_ci_low": low, f"{name}_ci_high": high})
        row.update({"ci_method": self.ci_method_, "rel_rmse": self.rel_rmse_, "loss": self.loss_,
                    "start_success_fraction": self.start_success_fraction_, "n_starts": self.n_starts_})
        return row

    def bootstrap(self, n: int = 1000, seed: int = 0, level: float = 0.95, method: str = "studentized",
                  resample: str = "auto"):
        """Bootstrap intervals for every quantity; see :func:`scaling_core.fit.uncertainty.bootstrap`."""
        from scaling_core.fit.uncertainty import bootstrap

        return bootstrap(self, n=n, seed=seed, level=level, method=method, resample=resample)
