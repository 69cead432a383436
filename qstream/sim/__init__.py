"""A discrete-event simulator of qstream's fleet, running the live pipeline's policy code.

Pure Python and numpy: no Kafka, no Faust, no backend SDK, no circuit simulation.
The :class:`~qstream.core.scheduler.Scheduler`, the policies
(:mod:`qstream.core.policies`), the online :class:`~qstream.core.predictor.Predictor`
and the cost function are the very objects a live worker uses; only the backends
are replaced by their ground-truth models (:mod:`qstream.sim.world`).
"""
