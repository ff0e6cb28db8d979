"""perflab: the Go performance guide's five case studies, made real in Python.

Nothing heavy is imported here: `perflab search` start-up time is a measured
product feature, so every subpackage pays its own import cost only when used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
