"""Tests of edge/pipeline: its stages (capture, reading upright, the archive image) and their run
(documents in parallel on the OCR pool, outcomes in order)."""
