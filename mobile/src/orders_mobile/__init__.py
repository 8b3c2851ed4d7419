"""The order app: a Toga client of the Order API (``briefcase dev`` in ``mobile/``)."""
