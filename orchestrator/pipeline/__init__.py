"""The delivery pipeline: load recipients, decide, render, record, send, retry, sweep."""
from orchestrator.pipeline.deliver import deliver_batch
from orchestrator.pipeline.job import DeliveryJob
from orchestrator.pipeline.send import send_messages

__all__ = ["DeliveryJob", "deliver_batch", "send_messages"]
