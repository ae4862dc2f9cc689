"""Pure NumPy/Python twins of the Numba kernels: the test oracle and the benchmark baseline."""
