"""`rnagen reconstruct` sub-commands (placeholder until its issue lands)."""


def register(sub) -> None:  # noqa: D103
    return None
