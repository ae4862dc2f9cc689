"""Private Numba kernels: arrays in, arrays out, no validation, no Python objects.

Every kernel here has a pure NumPy twin of the same name in :mod:`fastl2._reference`.
"""
