"""Training, beside the user API and never under it: the run's options (``config``), the
training pairs (``data``) and the loop with its checkpoints and weights (``trainer``)."""
