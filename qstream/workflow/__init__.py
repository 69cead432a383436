"""Problem workflows (issue 10): the logic of a problem task, free of Kafka and Faust.

- :mod:`~qstream.workflow.state`: :class:`WorkflowState`, the durable JSON state of one
  problem task (what the ``workflows`` changelog table holds).
- :mod:`~qstream.workflow.loop`: the hybrid loop's steps: the circuits of an iteration
  (QAOA, VQE), the objective of an iteration's result, the optimiser step, the final
  sampling run.
- :mod:`~qstream.workflow.answer`: the ``solution`` object of the task's result.

The stream edge (:mod:`qstream.stream.workflows`, :mod:`qstream.agents.workflow`) turns
these into events on ``qstream.workflow-events`` and ordinary sub-tasks.
"""
