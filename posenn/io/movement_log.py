"""movement logs through loguru to the console, errors it raises included; posenn reports errors
itself, so the handlers are removed once before movement is used."""

import logging

_state = {"quiet": False}


def quiet_movement() -> None:
    """Keep movement's log messages off the console (idempotent)."""
    if _state["quiet"]:
        return
    logging.getLogger("movement").setLevel(logging.ERROR)
    try:
        from loguru import logger
    except ImportError:  # movement versions that log through the standard library
        return
    logger.remove()
    _state["quiet"] = True
