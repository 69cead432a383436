"""qstream: an event-driven orchestrator for quantum-classical workflows on Kafka."""

from qstream.errors import QStreamError

__version__ = "0.1.0"
__all__ = ["QStreamError", "__version__"]
