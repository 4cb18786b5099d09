"""The appliance: capture (`capture/`), OCR (`ocr/`), field extraction (`fields/`), PDF/A
assembly (`pdf/`), signing on the token (`signing/`), the outbox and the sync agent (`sync/`),
and the appliance's config and enrollment. Never imports `server`."""
