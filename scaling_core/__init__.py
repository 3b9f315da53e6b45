"""scaling_core: the library behind the executable book on predictable deep-learning scaling.

The book reproduces Hestness et al. (2017), *Deep Learning Scaling is Predictable,
Empirically*: generalization error falls as a power law in training-set size,
``eps(m) = alpha * m**beta_g (+ gamma)``, and the best-fit model size grows as
``s(m) ~ m**beta_p``. Chapters load, fit and plot through this package.
"""

__version__ = "0.1.0"
