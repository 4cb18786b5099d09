"""The provincial repository's reads and writes, one module per resource: the only package that
queries the tables (`server.models`).

    devices    the registered appliances, their last heartbeat, the fleet at a glance
    commands   commands queued for a device, claimed, published, answered
    records    verified results, merged once, and their long-term-validation copies
    versions   a document's versions, Nghị định 30's duplicate warning, officers' corrections
    staging    chunked results in transit: `protocol.receiver`'s store
    verifications  results taken for verification or refused by it (answers to their copies)
    accounts   the API's accounts: added, listed, disabled, signed in to (with the lock-out)
    audit      the hash-chained audit log of personal data, and its verification
    disclosures  the API's only loads of records' personal data, each writing its audit entry
    common     what they share: the page cap, committing a unit of work, NFC text

Rules of this package:
- Route handlers and workers call these functions; they never build SQL themselves.
- A function of `devices`, `commands` or `records` that writes commits its own unit of work (like
  the FastAPI template's `crud.py`): when it returns, what it wrote is durable, so the caller may
  ack it. `staging` never commits: the ingest worker owns each of its transactions.
- Merging is idempotent by `result_id` (the SHA-256 of the signed PDF): a second delivery, even
  one racing the first from another worker or process, finds the first record and writes nothing.
  Another result of the same document (issuer, số ký hiệu, date) is a new version or waits for
  review (`versions`); no stored record is overwritten.
"""
