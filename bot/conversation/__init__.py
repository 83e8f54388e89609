"""The conversation engine: an inbound message read as one Turn through ordered policies."""
from bot.conversation.engine import CHANNEL_BYTE_LIMITS, Engine
from bot.conversation.model import Inbound, Reply

__all__ = ["CHANNEL_BYTE_LIMITS", "Engine", "Inbound", "Reply"]
