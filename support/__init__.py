"""Plumbing that the appliance, the server and provisioning share: crash-safe file writes and
settings loading. It holds no domain logic and imports nothing of ours but itself."""
