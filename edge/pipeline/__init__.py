"""The page-to-PDF path on the appliance, as OCRmyPDF splits it (`_pipeline.py`, `_pipelines/`).

- `stages`: each stage a plain function — capture a page, read it upright and encode its image,
  read its fields, assemble the PDF, write the outputs — and `--keep-stages`' stage images.
- `run`: the orchestration — pages and documents in flight on threads and the OCR pool, the
  time per stage, signing, and what became of each document (`DocumentOutcome`).
"""
