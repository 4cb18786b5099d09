"""The kiosk's own widgets, each with its bindings, CSS and messages."""
