"""Tests of `edge.signing`."""
