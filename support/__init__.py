"""Plumbing that the appliance, the server and provisioning share: crash-safe file writes,
settings loading, and the one MQTT adapter (`support.mqtt`, the only module that imports paho).
It holds no domain logic and imports nothing of ours but itself."""
