"""The kiosk's screens, one per task."""
