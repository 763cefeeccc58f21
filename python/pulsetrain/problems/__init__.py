"""Problems the algorithms are trained on: the scalar/matrix quadratic and least squares."""

from pulsetrain.problems.least_squares import Instance, LeastSquares, Problem, Quadratic

__all__ = ["Instance", "LeastSquares", "Problem", "Quadratic"]
