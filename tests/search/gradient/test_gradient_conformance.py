"""The gradient search passes the shipped conformance suite with each relaxation."""

import pytest

from hwnas.testing.gradient_conformance import GradientConformance

# each class trains a tiny supernet a few times (~10 s): outside the unit tier
pytestmark = pytest.mark.integration


class TestBinary(GradientConformance):
    relaxation = "binary"


class TestSoftmax(GradientConformance):
    relaxation = "softmax"


class TestGumbel(GradientConformance):
    relaxation = "gumbel"
