"""Signing on the PKCS#11 token: the token, the PAdES signer, the visible signature box.

- `token`: the token adapter (`Token`), the only module that touches a PKCS#11 session
  (python-pkcs11): keys, certificates, CSRs and raw signatures, its errors turned into
  `TokenError`.
- `pades`: the PAdES B-B signature of an assembled PDF with pyHanko (`DocumentSigner`), signing
  through `Token.sign`.
- `box`: the visible signature box of Nghị định 30/2020 (`SignatureBox`, drawn with pyHanko and
  fontTools); `box_text`: its text, font and template rules, light enough for the settings to
  check a template without loading those libraries.
"""
