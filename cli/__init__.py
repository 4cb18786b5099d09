"""The `sohoa` command: composes the `edge`, `server` and `provision` command groups and `demo`.

The only place where edge and server code meet (the demo runs both on one machine)."""
