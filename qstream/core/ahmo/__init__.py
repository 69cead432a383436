"""AHMO: adaptive hyper-scoring with meta-optimisation (issue 13, section 5).

- :mod:`~qstream.core.ahmo.hyperscore`: the HyperScore formula and the fusion of components;
- :mod:`~qstream.core.ahmo.components`: the per-(sub-task, backend) components and
  the static sandbox check;
- :mod:`~qstream.core.ahmo.bandit`: the discounted-UCB bandit that tunes the fusion weights;
- :mod:`~qstream.core.ahmo.policy`: the ``ahmo`` placement policy.
"""

from qstream.core.ahmo.components import SandboxReport, static_check
from qstream.core.ahmo.hyperscore import fuse, hyperscore
from qstream.core.ahmo.policy import AhmoPolicy, Outcome

__all__ = ["AhmoPolicy", "Outcome", "SandboxReport", "fuse", "hyperscore", "static_check"]
