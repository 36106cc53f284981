"""Exercise checks, one module per chapter (see :mod:`utils.exercises`)."""
