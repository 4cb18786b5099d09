"""The result as a PDF/A-2b file.

- `assemble`: page images and their OCR text into one searchable PDF/A-2b (`assemble_pdf`).
- `xmp`: its metadata: the XMP packet of the result's fields (Nghị định 30/2020 Phụ lục VI
  names), the conversion mark (`Provenance`), the sRGB output profile.
- `pdfa_check`: a structural PDF/A-2b checker (`check_pdfa`) for the tests and the benchmarks.
  It lives here, beside what it checks, but nothing on the appliance's processing path imports
  it: reading a whole PDF back is time a scan does not have, and no validator runs on the
  appliance.
"""
