"""Carrying the outbox to the provincial server over MQTT: the appliance's side of the sync.

- `agent`: the sync loop (`SyncAgent`): offers the outbox's results to the protocol's sender,
  publishes what it says, applies the server's acks, answers commands.
- `connection`: the agent's link to the broker (`BrokerLink`), on the shared MQTT adapter
  `support.mqtt`: connect and subscribe with errors that say what to fix, re-connection back-off,
  paho's callbacks turned into events for the loop.
- `heartbeat`: when a heartbeat is due and what it says (`HeartbeatPolicy`).
- `outbox`: the durable queue of signed results waiting for the server's answer (`Outbox`).
- `commands`: the answers to the server's commands (`answer`).
- `ratelimit`: the bytes-per-second cap on a thin field link (`ByteRateLimiter`).

Only `support.mqtt` imports paho; what to send and when is decided by `protocol.sender`.
"""
