"""What the timing and memory scripts wrap: ``resolve("pkg.mod", "Class.method")`` -> (owner, attribute name,
callable), so that ``setattr(owner, name, wrapper)`` replaces it where every caller looks it up."""
import importlib
from typing import Any


def resolve(modname: str, qual: str) -> tuple[Any, str, Any]:
    """The object holding ``qual`` (a module's function, or ``Class.method``), its attribute name and its value."""
    owner: Any = importlib.import_module(modname)
    name = qual
    if "." in qual:
        cls, name = qual.split(".")
        owner = getattr(owner, cls)
    return owner, name, getattr(owner, name)
