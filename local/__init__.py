"""The one-machine stack: the composition root that runs the pipeline without AWS."""
