"""Every message of the bus and the operator configuration: the only code services share besides `runtime`."""

from . import subjects
from .catalogue import CATALOGUE, Entry
from .codec import MalformedMessage, decode, encode
from .configuration import OperatorConfiguration
from .envelope import Command, Message

__all__ = [
    "CATALOGUE",
    "Command",
    "Entry",
    "MalformedMessage",
    "Message",
    "OperatorConfiguration",
    "decode",
    "encode",
    "subjects",
]
