"""Tests of `edge.sync`."""
