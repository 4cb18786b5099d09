"""Tests of edge/capture: page sources (files, scanner, camera), auto-capture, page detection,
rectification, orientation, quality gates and `sohoa edge detect`."""
