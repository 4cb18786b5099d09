"""A generator of typeset Vietnamese result documents with exact ground truth (issue 17).

`python -m bench.corpus --out DIR --split dev|holdout --docs N` typesets result documents of many
types (civil status, residence, social protection, land and construction, business, attestation),
captures them in the five conditions of `shared/corpus-dev/` and writes the same sidecars and
manifest, so that `shared/corpus-dev/score.py DIR PRED_DIR` scores them unchanged.
"""
