"""The gradient search passes the shipped conformance suite with each relaxation."""

from hwnas.testing.gradient_conformance import GradientConformance


class TestBinary(GradientConformance):
    relaxation = "binary"


class TestSoftmax(GradientConformance):
    relaxation = "softmax"


class TestGumbel(GradientConformance):
    relaxation = "gumbel"
