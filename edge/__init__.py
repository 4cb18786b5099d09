"""The appliance: OCR, PDF assembly, field extraction, signing on the token, the outbox, the sync
agent, and the appliance's config and enrollment. Never imports `server`."""
