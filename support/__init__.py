"""Plumbing that the appliance, the server and provisioning share: crash-safe file writes,
settings loading, and the one MQTT adapter (`support.mqtt`, the only module that imports paho;
what it takes and gives, `support.mqtt_types`).
It holds no domain logic and imports nothing of ours but itself."""
