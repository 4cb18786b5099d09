"""Tests of `edge.pdf`."""
