"""dlnotes: numpy implementations of the common deep-learning functions.

The code of the dlnotes book. One module per chapter (``activations`` is chapter 1),
plus ``gradcheck`` (finite-difference checks) and ``plotting`` (figure helpers).
"""

__version__ = "0.1.0"
